"""Benchmarks: wall time and peak memory of the product's steps, median of several runs.

One module per step (`score`, `fit`, `brief`, `agent`, `demo`, `first_answer`, `spark`),
each run as `python -m evals.bench.<step>`; `all` puts every one in a table; `proctree`
measures a command and every process it starts.
"""
