"""What every `retention` command shares: the consoles, the options, the store it works on.

`UserError` is a mistake in how a command was called (printed as one line, exit code 2);
`run_settings` is a command's one settings object, handed to everything it calls;
`resolve_store` picks --store or the demo store; `load_and_print` loads a store and prints its
summary and load report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from agent.workspace import Workspace
from tools.errors import RetentionError
from tools.models.choices import MODEL_HELP, MODELS

if TYPE_CHECKING:
    from agent.settings import Settings

out = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        envvar="RETENTION_WORKSPACE",
        help="Folder the app writes to.",
        show_default=True,
    ),
]
StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="Store folder (orders.csv and friends).")
]
DemoOpt = Annotated[
    bool, typer.Option("--demo", help="Use the demo store (generated on first use).")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="Column override, canonical=Header, e.g. --map amount='Net Total'."),
]
CurrencyOpt = Annotated[
    str | None,
    typer.Option(
        "--currency",
        help="The store's currency when its files do not say (e.g. GBP); the file's wins.",
    ),
]
DEFAULT_WS = Path(".retention")


class UserError(RetentionError):
    """A mistake in how the command was called; printed as one line."""


def parse_map(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(
                f"--map expects canonical=Header, got {item!r} (e.g. --map amount=Total)"
            )
        key, value = item.split("=", 1)
        mapping[key.strip()] = value.strip()
    return mapping


def run_settings(ws: Workspace, currency: str | None = None) -> Settings:
    """This command's one settings object, passed to everything it calls: --currency
    (checked) over the environment (RETENTION_*, .env) over the store settings saved in the
    workspace (the app's Settings tab) over the defaults."""
    from agent.settings import Settings, with_workspace
    from tools.schema import currency_code

    if currency is None:
        return with_workspace(Settings(), ws.root)
    try:
        code = currency_code(currency) or None
    except ValueError as exc:
        raise UserError(f"--currency: {exc}") from None
    return with_workspace(Settings(currency=code), ws.root)


def workspace_queue(ws: Workspace, settings: Settings | None = None):
    """The workspace's approval queue, on the database `settings` name (`database_url`,
    DATABASE_URL; default: this command's run_settings), else the workspace's SQLite file."""
    from agent.approvals.queue import open_queue

    settings = settings if settings is not None else run_settings(ws)
    return open_queue(ws.root, url=settings.database_url)


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
        from tools.demo.store import generate_store

        with out.status(f"Generating the demo store in {path} ..."):
            generate_store(path, customers=5_000, seed=7)
    return path


# --- loading a store ---------------------------------------------------------------------------


def load_and_print(
    path: Path, ws: Workspace, settings: Settings, *, column_map: dict | None = None
):
    """The loaded store, after printing its summary and load report (its currency: the
    files', else the `currency` of `settings`)."""
    from tools.ingest.load import load_store, store_summary

    with out.status(f"Loading {path} ..."):
        loaded = load_store(path, column_map=column_map, rejects_dir=ws.rejects)
    print_summary(store_summary(loaded), loaded, settings)
    return loaded


def print_summary(s: dict, loaded, settings: Settings) -> None:
    from rich.table import Table

    from agent.display import money, store_currency

    cur = store_currency(s["currency"], settings)
    out.print(f"[bold]Store[/bold] {s['store']}")
    out.print(
        f"  {s['customers']:,} customers, {s['orders']:,} orders, revenue {money(s['revenue'], cur)}"
        + ("" if cur else " (currency not stated in the files: give --currency)")
    )
    out.print(f"  orders from {s['first_order']} to {s['last_order']}")
    table = Table(title="Load report", show_lines=False)
    for col in ("file", "rows read", "accepted", "rejected", "reasons"):
        table.add_column(col)
    for r in loaded.reports:
        reasons = "; ".join(f"{k}: {v}" for k, v in r.reasons.items()) or "-"
        table.add_row(
            r.file, f"{r.rows_read:,}", f"{r.rows_accepted:,}", f"{r.rows_rejected:,}", reasons
        )
    out.print(table)
    rejected = [r for r in loaded.reports if r.rejects_path]
    for r in rejected:
        out.print(f"  rejected rows of {r.file} kept in {r.rejects_path}")


# --- options of the scoring commands (score, backtest, chat, brief) ---------------------

OrdersOpt = Annotated[Path | None, typer.Option("--orders", help="An orders file (CSV/Parquet).")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Score as of this date (default: last order date).")
]
HorizonOpt = Annotated[
    int, typer.Option("--horizon-days", min=7, max=3650, help="Prediction window in days.")
]
ModelOpt = Annotated[str, typer.Option("--model", help=MODEL_HELP)]


def check_model(model: str) -> str:
    """--model (score, backtest, chat, brief): one of tools.models.choices.MODELS."""
    if model not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    return model


def parse_as_of(value: str | None, orders):
    """--as-of / --week-ending: the day given, or the last order date when none is."""
    import pandas as pd

    if value is None:
        return orders["order_date"].max().normalize()
    try:
        return pd.Timestamp(value).normalize()
    except ValueError:
        raise UserError(f"--as-of {value!r} is not a date (use YYYY-MM-DD)") from None
