"""`retention eval`: every evaluation from the command line (registered by the
`retention.commands` entry point, so `agent.cli` names no `evals` module)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import DEFAULT_WS, WorkspaceOpt, out
from agent.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add the `eval` command to `app`."""

    @app.command("eval")
    def eval_(
        quick: Annotated[bool, typer.Option("--quick", help="The subset make test runs.")] = False,
        workspace: WorkspaceOpt = DEFAULT_WS,
    ) -> None:
        """Run every evaluation and print one Markdown report (also written to the workspace)."""
        from evals.run import run_eval

        ws = Workspace.at(workspace)
        with out.status("Evaluating ...") as status:
            report = run_eval(quick=quick, workspace=ws.root, progress=lambda m: status.update(m))
        out.print(
            report.markdown(), markup=False, highlight=False, soft_wrap=True
        )  # tables unbroken
        if not all(report.checks.values()):
            raise typer.Exit(1)
