"""`retention`: the command line (DESIGN.md, "Command line").

Every command takes `--workspace DIR`. Errors a person can act on go to stderr as one line
with a non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli.approvals import approvals_app, campaigns_app
from agent.cli.common import (
    DEFAULT_WS,
    CurrencyOpt,
    DemoOpt,
    MapOpt,
    ModelOpt,
    StoreOpt,
    UserError,
    WorkspaceOpt,
    check_model,
    err,
    load_and_print,
    out,
    parse_as_of,
    parse_map,
    resolve_store,
    run_settings,
)
from agent.cli.consent import consent_app
from agent.cli.kb import kb_app
from agent.cli.scoring import backtest, score
from agent.workspace import Workspace
from tools.models.choices import DEFAULT_MODEL

app = typer.Typer(
    help="A merchant's retention analyst: scores customers, finds retention plays, drafts "
    "outreach that a person approves. Nothing is ever sent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kb_app, name="kb", help="The retention playbook knowledge base.")
app.add_typer(
    approvals_app,
    name="approvals",
    help="The approval queue: nothing leaves without a person's yes.",
)
app.add_typer(campaigns_app, name="campaigns", help="Campaigns and their measured results.")
app.add_typer(
    consent_app,
    name="consent",
    help="Consent to contact: what the files say, and your confirmation for a channel.",
)


@app.callback()
def _global(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", help="Folder the app writes to (also accepted after the command)."
        ),
    ] = None,
) -> None:
    """Global options: `retention --workspace DIR COMMAND` equals `retention COMMAND --workspace DIR`."""
    if workspace is not None:
        os.environ["RETENTION_WORKSPACE"] = str(workspace)


# --- data -------------------------------------------------------------------------------------


@app.command("demo-data")
def demo_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the store into.")],
    customers: Annotated[
        int, typer.Option("--customers", min=10, help="Number of customers.")
    ] = 5_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same store).")] = 7,
    fmt: Annotated[
        str, typer.Option("--format", help="csv or parquet for the large tables.")
    ] = "csv",
    weeks: Annotated[
        int,
        typer.Option(
            "--weeks",
            min=0,
            max=52,
            help="Then simulate N weeks of plan, approval, "
            "export and the customers' responses (briefs in the workspace).",
        ),
    ] = 0,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Write a realistic synthetic store, with planted churn causes in ground_truth.csv."""
    from tools.demo.store import generate_store

    if fmt not in ("csv", "parquet"):
        raise UserError(f"--format must be csv or parquet, got {fmt!r}")
    if weeks and fmt != "csv":
        raise UserError("--weeks simulates on a csv store: leave out --format parquet")
    end = None
    if weeks:  # the simulated weeks must end by today: the loader refuses orders in the future
        import pandas as pd

        end = str(
            min(
                pd.Timestamp("2026-10-31"),
                pd.Timestamp.now().normalize() - pd.Timedelta(days=7 * weeks + 1),
            ).date()
        )
    with out.status(f"Generating {customers:,} customers into {out_dir} ..."):
        dates: dict[str, Any] = {"end_date": end} if end else {}
        info = generate_store(out_dir, customers=customers, seed=seed, fmt=fmt, **dates)
    out.print(f"Wrote demo store to {out_dir}: " + ", ".join(f"{k} {v:,}" for k, v in info.items()))
    if weeks:
        from agent.cli.demo_loop import run_loop

        ws = Workspace.at(workspace)
        with out.status("Simulating ...") as status:
            res = run_loop(
                out_dir,
                ws,
                weeks=weeks,
                seed=seed,
                briefs=True,
                progress=lambda m: status.update(f"Simulating {m} ..."),
            )
        for w in res.weeks:
            out.print(
                f"Week {w['week']} ({w['campaign_id']}): {w['treated']:,} treated, {w['control']:,} control, "
                f"{w['exported']:,} drafts approved and exported (nothing sent), {w['orders']:,} order lines "
                f"arrived",
                markup=False,
                highlight=False,
            )
        out.print(f"Briefs written to {', '.join(res.briefs)}", markup=False, highlight=False)


@app.command("summary")
def summary(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    column_map: MapOpt = None,
    currency: CurrencyOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Load a store and print its summary and the load report (rows read / accepted / rejected)."""
    ws = Workspace.at(workspace)
    load_and_print(
        resolve_store(ws, store, demo),
        ws,
        run_settings(ws, currency),
        column_map=parse_map(column_map),
    )


@app.command("quickstart", hidden=True)
def quickstart(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """What `make run` does: the demo store, loaded, summarised and scored."""
    summary(store=None, demo=True, column_map=None, workspace=workspace)
    score(
        orders=None,
        customers=None,
        store=None,
        demo=True,
        as_of=None,
        horizon_days=365,
        out_file=None,
        params_out=None,
        model="auto",
        margin=1.0,
        discount_rate=0.0,
        column_map=None,
        workspace=workspace,
    )


app.command("score")(score)
app.command("backtest")(backtest)


# --- assistant --------------------------------------------------------------------------------


@app.command("chat")
def chat(
    message: Annotated[
        str | None, typer.Argument(help="One-shot message; omit for interactive.")
    ] = None,
    store: StoreOpt = None,
    demo: DemoOpt = False,
    show_tools: Annotated[
        bool, typer.Option("--show-tools", help="Print the tools called and their results.")
    ] = False,
    currency: CurrencyOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Ask the retention assistant (offline planner unless a model is configured)."""
    from agent.cli.chat import chat_command

    settings = run_settings(Workspace.at(workspace), currency)
    chat_command(
        message, store, demo, workspace, show_tools, model=check_model(model), settings=settings
    )


@app.command("brief")
def brief(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    week_ending: Annotated[
        str | None,
        typer.Option("--week-ending", help="Last day of the week (default: last order date)."),
    ] = None,
    cac: Annotated[
        float | None,
        typer.Option("--cac", min=0.01, help="Customer acquisition cost, for LTV:CAC."),
    ] = None,
    column_map: MapOpt = None,
    currency: CurrencyOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Write the weekly retention brief (Markdown, HTML and charts) to the workspace."""
    from agent.reports.brief import weekly_brief
    from tools.ingest.load import load_store

    check_model(model)
    ws = Workspace.at(workspace)
    settings = run_settings(ws, currency)
    path = resolve_store(ws, store, demo)
    narrator = None
    if settings.model:  # LLM mode: the model writes the opening from the facts
        from agent.assistant.llm import ModelConfigError, chat_model_from_settings
        from agent.reports.narrator import llm_narrator

        try:
            narrator = llm_narrator(chat_model_from_settings(settings), model_name=settings.model)
        except ModelConfigError as exc:
            raise UserError(str(exc)) from None
    with out.status("Loading the store ...") as status:
        loaded = load_store(path, column_map=parse_map(column_map), rejects_dir=ws.rejects)
        when = parse_as_of(week_ending, loaded.orders) if week_ending else None
        horizon = 365
        _brief_scores(
            loaded,
            ws,
            when,
            horizon_days=horizon,
            model=model,
            progress=lambda m: status.update(f"Brief: {m} ..."),
        )
        result = weekly_brief(
            loaded,
            workspace=ws,
            week_ending=when,
            cac=cac,
            settings=settings,
            narrator=narrator,
            horizon_days=horizon,
            progress=lambda m: status.update(f"Brief: {m} ..."),
        )
    out.print(result.markdown.split("\n## ")[0], markup=False, highlight=False)
    out.print(
        f"Brief written to {result.paths['md']} and {result.paths['html']} (charts beside them)."
    )
    if result.prompt_tokens:
        out.print(
            f"  {result.prompt_tokens:,} tokens were sent to {settings.model} (facts only, no personal data)."
        )


def _brief_scores(
    loaded, ws: Workspace, week_ending, *, horizon_days: int, model: str, progress
) -> None:
    """The two snapshots the brief reads (the week's end and a week before), scored with
    --model unless the workspace has them for this store, horizon and model."""
    import pandas as pd

    from agent.reports.snapshots import scores_for

    end = week_ending if week_ending is not None else loaded.orders["order_date"].max().normalize()
    for day in (end, end - pd.Timedelta(days=7)):
        if (loaded.orders["order_date"] < day + pd.Timedelta(days=1)).any():
            scores_for(loaded, ws, day, horizon_days=horizon_days, model=model, progress=progress)


def add_commands() -> None:
    """The commands other folders add (`ui`, `eval`), found by their entry points: the command
    line names them without importing them, so the import table keeps `agent` below `ui`."""
    from importlib.metadata import entry_points

    have = {c.name for c in app.registered_commands}
    for ep in entry_points(group="retention.commands"):
        if ep.name not in have:
            ep.load()(app)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors, non-zero exit codes."""
    from tools.errors import RetentionError

    add_commands()
    try:
        app(args=argv, standalone_mode=False)
    except RetentionError as exc:
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
    except Exception as exc:  # usage errors (typer vendors its own click: match by shape)
        if hasattr(exc, "exit_code") and hasattr(exc, "show"):
            exc.show(file=sys.stderr)
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            return 1
        where = _log_internal_error(argv)
        err.print(
            f"error: something went wrong inside the retention analyst ({type(exc).__name__}); "
            f"your store files are unchanged. The details for a bug report are in {where}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


def _log_internal_error(argv: list[str] | None) -> str:
    """The traceback of a bug, kept in the workspace's logs folder (never shown as the
    merchant's error); returns where."""
    import traceback
    from datetime import datetime

    args = list(sys.argv[1:] if argv is None else argv)
    from agent.settings import Settings

    try:
        root = str(Settings().workspace)
    except Exception:  # a bad setting must not hide the bug being logged
        root = ".retention"
    for i, a in enumerate(args):
        if a == "--workspace" and i + 1 < len(args):
            root = args[i + 1]
        elif a.startswith("--workspace="):
            root = a.split("=", 1)[1]
    try:
        folder = Path(root) / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{datetime.now():%Y%m%d-%H%M%S}.log"
        path.write_text("retention " + " ".join(args) + "\n\n" + traceback.format_exc())
        return str(path)
    except OSError:
        return "(the log could not be written: " + traceback.format_exc(limit=1).strip() + ")"


if __name__ == "__main__":
    sys.exit(main())
