"""Scores out: every customer of a store scored, and the scores judged on a holdout.

`score.score_store` is the front door (DESIGN.md, "Scores out"); `backtest.run_backtest` is
`retention backtest`, judged by the metrics of `metrics`; `engine` is where the
data-proportional work runs (embedded, or Apache Spark). Change here when the scores table, the
model choice or the backtest changes.
"""

from __future__ import annotations

import importlib

_FRONT = {
    "score_store": "tools.scoring.score",
    "run_backtest": "tools.scoring.backtest",
}
__all__ = sorted(_FRONT)


def __getattr__(name: str):
    """The front door's names, imported on first use (the package stays cheap to import)."""
    if name in _FRONT:
        return getattr(importlib.import_module(_FRONT[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
