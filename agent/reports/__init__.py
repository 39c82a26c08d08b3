"""What the merchant reads about their store: the weekly brief and what it is built from.

`brief.weekly_brief` is the front door; `render` writes the brief's Markdown and HTML from its
facts; `narrator` lets a language model write the opening, restating facts only; `snapshots`
keeps one score snapshot per as-of date; `campaigns` measures campaigns (treated against
held-out control); `learning` turns them into each play's save rate; `grading` grades last
week's forecast; `charts` draws the figures.
"""

from __future__ import annotations

import importlib

_FRONT = {
    "weekly_brief": "agent.reports.brief",
    "save_scores": "agent.reports.snapshots",
    "load_scores": "agent.reports.snapshots",
    "campaign_results": "agent.reports.campaigns",
}
__all__ = sorted(_FRONT)


def __getattr__(name: str):
    """The front door's names, imported on first use (the package stays cheap to import)."""
    if name in _FRONT:
        return getattr(importlib.import_module(_FRONT[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
