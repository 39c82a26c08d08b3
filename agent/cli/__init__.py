"""`retention`: the command line (DESIGN.md, "Command line").

`main` holds the typer app and the scoring commands; the command groups live beside it:
`approvals` (approvals and campaigns), `chat`, `consent`, `kb` (the playbook knowledge base)
and `demo_loop` (`retention demo-data --weeks N`).
"""

from __future__ import annotations

import importlib

_FRONT = {
    "main": "agent.cli.main",
    "app": "agent.cli.main",
}
__all__ = sorted(_FRONT)


def __getattr__(name: str):
    """The front door's names, imported on first use (the package stays cheap to import)."""
    if name in _FRONT:
        return getattr(importlib.import_module(_FRONT[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
