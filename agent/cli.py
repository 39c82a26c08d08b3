"""`retention`: the command line (DESIGN.md, "Command line").

Every command takes `--workspace DIR`. Errors a person can act on go to stderr as one line
with a non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from agent.cli_kb import kb_app
from agent.workspace import Workspace

app = typer.Typer(
    help="A merchant's retention analyst: scores customers, finds retention plays, drafts "
    "outreach that a person approves. Nothing is ever sent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kb_app, name="kb", help="The retention playbook knowledge base.")
approvals_app = typer.Typer(help="The approval queue: nothing leaves without a person's yes.")
campaigns_app = typer.Typer(help="Campaigns and their measured results.")
app.add_typer(approvals_app, name="approvals")
app.add_typer(campaigns_app, name="campaigns")

out = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", help="Folder the app writes to.", show_default=True)
]
StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="Store folder (orders.csv and friends).")]
DemoOpt = Annotated[bool, typer.Option("--demo", help="Use the demo store (generated on first use).")]
MapOpt = Annotated[
    Optional[list[str]],
    typer.Option("--map", help="Column override, canonical=Header, e.g. --map amount='Net Total'."),
]
DEFAULT_WS = Path(".retention")


class UserError(Exception):
    """A mistake in how the command was called; printed as one line."""


def parse_map(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--map expects canonical=Header, got {item!r} (e.g. --map amount=Total)")
        key, value = item.split("=", 1)
        mapping[key.strip()] = value.strip()
    return mapping


def resolve_store(ws: Workspace, store: Path | None, demo: bool) -> Path:
    """The store folder to use: --store, or the demo store (generated if missing)."""
    if store is not None and demo:
        raise UserError("give either --store DIR or --demo, not both")
    if store is not None:
        if not store.exists():
            raise UserError(f"{store}: no such store folder")
        return store
    if not demo:
        raise UserError("which store? give --store DIR (a folder with orders.csv) or --demo")
    path = ws.demo_store
    if not (path / "orders.csv").exists() and not (path / "orders.parquet").exists():
        from tools.demo import generate_store

        with out.status(f"Generating the demo store in {path} ..."):
            generate_store(path, customers=5_000, seed=7)
    return path


def _not_yet(what: str, issue: int) -> None:
    raise UserError(f"'{what}' is not built yet (tracked in issue {issue})")


# --- data -------------------------------------------------------------------------------------


@app.command("demo-data")
def demo_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the store into.")],
    customers: Annotated[int, typer.Option("--customers", min=10, help="Number of customers.")] = 5_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same store).")] = 7,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet for the large tables.")] = "csv",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Write a realistic synthetic store, with planted churn causes in ground_truth.csv."""
    from tools.demo import generate_store

    if fmt not in ("csv", "parquet"):
        raise UserError(f"--format must be csv or parquet, got {fmt!r}")
    with out.status(f"Generating {customers:,} customers into {out_dir} ..."):
        info = generate_store(out_dir, customers=customers, seed=seed, fmt=fmt)
    out.print(f"Wrote demo store to {out_dir}: " + ", ".join(f"{k} {v:,}" for k, v in info.items()))


@app.command("summary")
def summary(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    column_map: MapOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Load a store and print its summary and the load report (rows read / accepted / rejected)."""
    from tools.load import load_store, store_summary

    ws = Workspace.at(workspace)
    path = resolve_store(ws, store, demo)
    with out.status(f"Loading {path} ..."):
        loaded = load_store(path, column_map=parse_map(column_map), rejects_dir=ws.rejects)
    _print_summary(store_summary(loaded), loaded)


def _print_summary(s: dict, loaded) -> None:
    from rich.table import Table

    out.print(f"[bold]Store[/bold] {s['store']}")
    out.print(
        f"  {s['customers']:,} customers, {s['orders']:,} orders, revenue {s['revenue']:,.2f}"
        f" {s['currency'] or ''}".rstrip()
    )
    out.print(f"  orders from {s['first_order']} to {s['last_order']}")
    table = Table(title="Load report", show_lines=False)
    for col in ("file", "rows read", "accepted", "rejected", "reasons"):
        table.add_column(col)
    for r in loaded.reports:
        reasons = "; ".join(f"{k}: {v}" for k, v in r.reasons.items()) or "-"
        table.add_row(r.file, f"{r.rows_read:,}", f"{r.rows_accepted:,}", f"{r.rows_rejected:,}", reasons)
    out.print(table)
    rejected = [r for r in loaded.reports if r.rejects_path]
    for r in rejected:
        out.print(f"  rejected rows of {r.file} kept in {r.rejects_path}")


@app.command("quickstart", hidden=True)
def quickstart(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """What `make run` does: the demo store, loaded and summarised."""
    summary(store=None, demo=True, column_map=None, workspace=workspace)


# --- scoring ----------------------------------------------------------------------------------


@app.command("score")
def score(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Score every customer: CLV with a 90% interval, churn probability and reasons, segment."""
    _not_yet("retention score", 3)


@app.command("backtest")
def backtest(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Backtest the project's model against baselines on a calibration/holdout split."""
    _not_yet("retention backtest", 3)


# --- assistant --------------------------------------------------------------------------------


@app.command("chat")
def chat(
    message: Annotated[Optional[str], typer.Argument(help="One-shot message; omit for interactive.")] = None,
    store: StoreOpt = None,
    demo: DemoOpt = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Ask the retention assistant (offline planner unless a model is configured)."""
    _not_yet("retention chat", 5)


@app.command("brief")
def brief(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    week_ending: Annotated[Optional[str], typer.Option("--week-ending")] = None,
    cac: Annotated[Optional[float], typer.Option("--cac", help="Customer acquisition cost.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Write the weekly retention brief (Markdown and HTML) to the workspace."""
    _not_yet("retention brief", 6)


@approvals_app.command("list")
def approvals_list(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """List drafts waiting for a decision."""
    _not_yet("retention approvals list", 6)


@approvals_app.command("show")
def approvals_show(draft_id: str, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Show one draft with its reason and cited playbook."""
    _not_yet("retention approvals show", 6)


@approvals_app.command("approve")
def approvals_approve(draft_id: str, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Approve a draft (only a person can)."""
    _not_yet("retention approvals approve", 6)


@approvals_app.command("reject")
def approvals_reject(draft_id: str, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Reject a draft."""
    _not_yet("retention approvals reject", 6)


@approvals_app.command("edit")
def approvals_edit(draft_id: str, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Edit a draft's subject or body."""
    _not_yet("retention approvals edit", 6)


@approvals_app.command("export")
def approvals_export(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Export approved drafts as CSV for Klaviyo or Shopify Email. Nothing is sent."""
    _not_yet("retention approvals export", 6)


@campaigns_app.command("results")
def campaigns_results(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Treated vs control repurchase and revenue per campaign, with the save rate's interval."""
    _not_yet("retention campaigns results", 6)


@app.command("ui")
def ui(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    port: Annotated[int, typer.Option("--port")] = 7860,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Start the Gradio app on 127.0.0.1."""
    _not_yet("retention ui", 7)


@app.command("eval")
def eval_(
    quick: Annotated[bool, typer.Option("--quick", help="The subset make test runs.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Run every evaluation and print one Markdown report."""
    _not_yet("retention eval", 8)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors, non-zero exit codes."""
    from tools.errors import DataError

    try:
        app(args=argv, standalone_mode=False)
    except (DataError, UserError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except FileNotFoundError as exc:
        err.print(f"error: {exc.filename or exc}: no such file", markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return 130
    except SystemExit as exc:  # typer.Exit / click usage errors
        return int(exc.code or 0)
    except Exception as exc:  # click.exceptions.UsageError and friends
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show(file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
