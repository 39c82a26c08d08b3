"""The approval queue: nothing leaves without a person's yes.

`queue.open_queue` opens the queue of a workspace (SQLite, or PostgreSQL with DATABASE_URL:
`database`): drafts waiting, approved, rejected, exported, and the audit log of who did what;
`people` says who may decide, `confirmations` records the merchant's consent confirmations,
`exporting` claims and writes the approved drafts (surviving a kill: `recovery`), and `export`
builds the rows and files an export writes. `errors.ApprovalError` is every refusal.
"""

from __future__ import annotations

import importlib

_FRONT = {
    "open_queue": "agent.approvals.queue",
    "ApprovalError": "agent.approvals.errors",
}
__all__ = sorted(_FRONT)


def __getattr__(name: str):
    """The front door's names, imported on first use (the package stays cheap to import)."""
    if name in _FRONT:
        return getattr(importlib.import_module(_FRONT[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
