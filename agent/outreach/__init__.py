"""Outreach: who to contact, with which play, in which words, and what may be sent.

`prioritise.prioritise` makes the week's plan; `drafts` writes personal drafts for it;
`guardrails` checks every draft before it enters the approval queue; `consent` says, per
channel, whether a customer may be contacted; `policy` is what the assistant will not do;
`textfold` is text as a check sees it.
"""

from __future__ import annotations

import importlib

_FRONT = {
    "prioritise": "agent.outreach.prioritise",
    "draft_messages": "agent.outreach.drafts",
    "check_text": "agent.outreach.guardrails",
}
__all__ = sorted(_FRONT)


def __getattr__(name: str):
    """The front door's names, imported on first use (the package stays cheap to import)."""
    if name in _FRONT:
        return getattr(importlib.import_module(_FRONT[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
