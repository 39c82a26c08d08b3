"""Benchmark: `retention score` end to end on a large demo store.

    python -m evals.bench_score [--customers 1000000] [--runs 3] [--format parquet]

Generates the store once (outside the timing), then runs the real CLI in a fresh process
per run (load + score + write), measuring wall time and peak memory (the summed RSS of the
process tree, sampled: `evals.proctree`, since loading may start a helper process). Prints the
median of the runs and the machine's size. Targets (issue 3): <= 60 s wall and <= 4 GB peak
for 1,000,000 customers on 2 cores. `evals.bench_all` and `evals.bench_brief` reuse
`demo_store`, `score_command` and `machine`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from evals.proctree import run_measured


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {sys.version.split()[0]}"


def demo_store(store: Path, *, customers: int, fmt: str = "parquet", progress=print) -> Path:
    """The benchmarks' demo store (seed 7) at `store`, generated unless it is there already."""
    from tools.demo import generate_store

    if not (store / "manifest.json").exists():
        t0 = time.perf_counter()
        info = generate_store(store, customers=customers, seed=7, fmt=fmt)
        progress(f"generated {info} in {time.perf_counter() - t0:.1f} s")
    return store


def retention_cli() -> str:
    """The `retention` console script of this interpreter's environment."""
    return str(Path(sys.executable).with_name("retention"))


def score_command(store: Path, root: Path, *, model: str = "auto") -> list[str]:
    """`retention score` on `store`, writing the scores and the workspace under `root`."""
    return [retention_cli(), "score", "--store", str(store), "--horizon-days", "365", "--model", model,
            "--out", str(root / "scores.parquet"), "--workspace", str(root / "ws")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    ap.add_argument("--model", default="auto")
    ap.add_argument("--dir", default=None, help="reuse/keep the store here")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_score_"))
    store = demo_store(root / f"demo_{args.customers}_{args.format}", customers=args.customers,
                       fmt=args.format)
    cmd = score_command(store, root, model=args.model)
    walls, peaks = [], []
    for i in range(args.runs):
        m = run_measured(cmd)
        walls.append(m.wall_s)
        peaks.append(m.peak_gib)
        print(f"run {i + 1}: {m.wall_s:.1f} s wall, peak {m.peak_gib:.2f} GiB")
    print("\n| customers | model | median wall (s) | max peak memory (GiB) | runs | machine |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.customers:,} | {args.model} | {statistics.median(walls):.1f} | {max(peaks):.2f} | "
          f"{args.runs} | {machine()} |")


if __name__ == "__main__":
    main()
