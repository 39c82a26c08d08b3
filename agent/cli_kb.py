"""`retention kb ...`: the playbook knowledge base (filled in by issue 4)."""

from __future__ import annotations

import typer

kb_app = typer.Typer(no_args_is_help=True)
