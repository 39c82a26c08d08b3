"""Where the data-proportional work of `retention score` runs (DESIGN.md, "Real components").

- ``embedded`` (the default): one machine, pandas/numpy/Arrow (`tools.scoring.score.score_store`).
- ``spark``: Apache Spark (`tools.scoring.engine.spark`), for a store too large for one machine. The
  per-customer aggregation (orders -> purchase occasions -> RFM and features, and the
  compressed sufficient statistics of the purchase models) is the SQL of `tools.scoring.engine.sql`;
  only small results reach the driver (the unique (frequency, recency, T) rows with their
  weights, the spend statistics, a sample of customers to train the ML model on, value
  histograms for the RFM quintiles); the fitted models are broadcast and every customer is
  scored per partition (`tools.scoring.engine.apply`) with the same model code as the embedded engine.

PySpark is an optional extra (`pip install '.[spark]'`); nothing here imports it until the
Spark engine is asked for.
"""

from __future__ import annotations

ENGINES = ("embedded", "spark")
DEFAULT_ENGINE = "embedded"
ENGINE_HELP = (
    "Where the aggregation and scoring run: embedded (this machine, pandas) or "
    "spark (Apache Spark; --orders is then a folder or file of Parquet/CSV that "
    "Spark reads, e.g. s3a://bucket/orders/, and --out a Parquet folder)."
)


def check_engine(engine: str) -> str:
    """`engine` if it is one of ENGINES, else ValueError naming the choices."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine
