"""`retention`: the command line (DESIGN.md, "Command line").

Every command takes `--workspace DIR`. Errors a person can act on go to stderr as one line
with a non-zero exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.approvals import approvals_app, campaigns_app
from agent.cli.common import (
    DEFAULT_WS,
    CurrencyOpt,
    DemoOpt,
    MapOpt,
    StoreOpt,
    UserError,
    WorkspaceOpt,
    err,
    load_and_print,
    out,
    parse_map,
    resolve_store,
    use_currency,
)
from agent.cli.consent import consent_app
from agent.cli.kb import kb_app
from agent.workspace import Workspace
from tools.files import atomic_write_text
from tools.models.choices import DEFAULT_MODEL, MODEL_HELP, MODELS
from tools.scoring.engine import DEFAULT_ENGINE, ENGINE_HELP, ENGINES

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
        info = generate_store(
            out_dir, customers=customers, seed=seed, fmt=fmt, **({"end_date": end} if end else {})
        )
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
    use_currency(currency)
    ws = Workspace.at(workspace)
    load_and_print(resolve_store(ws, store, demo), ws, column_map=parse_map(column_map))


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


# --- scoring ----------------------------------------------------------------------------------


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


def load_for_scoring(
    ws: Workspace,
    orders: Path | None,
    customers: Path | None,
    store: Path | None,
    demo: bool,
    column_map: dict[str, str],
):
    """A Store from --orders [--customers] or from a store folder (--store / --demo)."""
    from tools.ingest.load import Store, load_orders, load_store, load_table

    if orders is not None:
        if store is not None or demo:
            raise UserError("give --orders FILE or a store (--store DIR / --demo), not both")
        o, rep = load_orders(orders, column_map=column_map, rejects_dir=ws.rejects)
        reports, cust = [rep], None
        if customers is not None:
            cust, crep = load_table(
                "customers", customers, column_map=column_map, rejects_dir=ws.rejects
            )
            reports.append(crep)
        return Store(orders, o, cust, reports=tuple(reports), currency=o.attrs.get("currency"))
    path = resolve_store(ws, store, demo)
    # scoring reads orders, events, tickets and products; the customers file (contact
    # details, consent) is for the commands that write to customers
    return load_store(path, column_map=column_map, rejects_dir=ws.rejects, skip=("customers",))


def _as_of(value: str | None, orders):
    import pandas as pd

    if value is None:
        return orders["order_date"].max().normalize()
    try:
        return pd.Timestamp(value).normalize()
    except ValueError:
        raise UserError(f"--as-of {value!r} is not a date (use YYYY-MM-DD)") from None


@app.command("score")
def score(
    orders: OrdersOpt = None,
    customers: Annotated[Path | None, typer.Option("--customers", help="A customers file.")] = None,
    store: StoreOpt = None,
    demo: DemoOpt = False,
    as_of: AsOfOpt = None,
    horizon_days: HorizonOpt = 365,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Scores file (.csv or .parquet).")
    ] = None,
    params_out: Annotated[
        Path | None, typer.Option("--params-out", help="Fitted parameters (JSON).")
    ] = None,
    model: ModelOpt = DEFAULT_MODEL,
    margin: Annotated[
        float, typer.Option("--margin", min=0.0, max=1.0, help="Contribution margin.")
    ] = 1.0,
    discount_rate: Annotated[
        float, typer.Option("--discount-rate", min=0.0, max=1.0, help="Annual discount rate.")
    ] = 0.0,
    column_map: MapOpt = None,
    currency: CurrencyOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    engine: Annotated[str, typer.Option("--engine", help=ENGINE_HELP)] = DEFAULT_ENGINE,
    master: Annotated[
        str | None,
        typer.Option(
            "--master",
            help="Spark master for --engine spark (local[4], spark://host:7077, yarn, "
            "k8s://...); default: spark-submit's, else local mode.",
        ),
    ] = None,
) -> None:
    """Score every customer: CLV with a 90% interval, churn probability and reasons, segment."""
    import json

    from agent.display import money, product_names, store_currency
    from tools.insights.kpis import at_risk_mask

    use_currency(currency)
    from tools.scoring.score import score_store

    check_model(model)
    ws = Workspace.at(workspace)
    if engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "spark":
        return _score_spark(
            ws,
            orders=orders,
            store=store,
            demo=demo,
            as_of=as_of,
            horizon_days=horizon_days,
            out_file=out_file,
            params_out=params_out,
            model=model,
            margin=margin,
            discount_rate=discount_rate,
            master=master,
        )
    if master is not None:
        raise UserError("--master is for --engine spark")
    with out.status("Loading the store ...") as status:
        loaded = load_for_scoring(ws, orders, customers, store, demo, parse_map(column_map))
        when = _as_of(as_of, loaded.orders)
        result = score_store(
            loaded.orders,
            as_of=when,
            horizon_days=horizon_days,
            model=model,
            margin=margin,
            discount_rate=discount_rate,
            events=loaded.events,
            tickets=loaded.tickets,
            products=loaded.products,
            progress=lambda m: status.update(f"Scoring: {m} ..."),
        )
    from agent.reports.snapshots import save_scores

    snap = save_scores(ws, result, as_of=when)
    if out_file is not None:
        write_table(result.scores, out_file, same_as=snap)
    if params_out is not None:
        atomic_write_text(params_out, json.dumps(result.params, indent=2, default=str))
    s = result.scores
    cur = store_currency(loaded.currency)
    out.print(
        f"Scored {len(s):,} customers as of {when.date()} over {horizon_days} days "
        f"(model {result.params['model_choice']})."
    )
    out.print(
        f"  predicted value {money(s['predicted_clv'].sum(), cur, decimals=0)}; "
        f"mean churn probability {s['churn_probability'].mean():.2f}; "
        f"{int(at_risk_mask(s).sum()):,} customers more likely to lapse than buy (at risk)"
    )
    out.print(f"  scores: {out_file or snap}")
    for warning in result.params.get("warnings", []):
        out.print(f"[yellow]Note:[/yellow] {warning}")
    _print_top_at_risk(s, currency=cur, names=product_names(loaded.orders, loaded.products))


def _uri(path: Path) -> str:
    """A path as Spark reads it: "s3a://bucket/key" survives typer's Path (which folds "//")."""
    import re

    text = str(path)
    m = re.match(r"^([A-Za-z][\w+.-]*):/(?!/)(.*)$", text)
    return f"{m[1]}://{m[2]}" if m and m[1].lower() != "file" else text


def _score_spark(
    ws: Workspace,
    *,
    orders,
    store,
    demo,
    as_of,
    horizon_days,
    out_file,
    params_out,
    model,
    margin,
    discount_rate,
    master,
) -> None:
    """`score --engine spark`: Spark reads the store (any path it reads) and writes the scores
    as a Parquet folder (--out); this machine holds only the small results (tools.scoring.engine.spark)."""
    import json

    import pandas as pd

    from tools.scoring.engine import spark as on_spark

    if out_file is None:
        raise UserError("--engine spark writes the scores as a Parquet folder: give --out DIR")
    if orders is not None and (store is not None or demo):
        raise UserError("give --orders PATH or a store (--store DIR / --demo), not both")
    try:
        when = None if as_of is None else pd.Timestamp(as_of).normalize()
    except ValueError:
        raise UserError(f"--as-of {as_of!r} is not a date (use YYYY-MM-DD)") from None
    spark = on_spark.session(master)
    try:
        with out.status("Scoring on Spark ...") as status:
            paths = (
                {"orders": _uri(orders)}
                if orders is not None
                else on_spark.store_paths(spark, _uri(resolve_store(ws, store, demo)))
            )
            result = on_spark.score_spark(
                spark,
                paths,
                out=_uri(out_file),
                as_of=when,
                horizon_days=horizon_days,
                model=model,
                margin=margin,
                discount_rate=discount_rate,
                progress=lambda m: status.update(f"Scoring on Spark: {m} ..."),
            )
    finally:
        spark.stop()
    if params_out is not None:
        atomic_write_text(params_out, json.dumps(result.params, indent=2, default=str))
    s = result.summary
    out.print(
        f"Scored {s['customers']:,} customers on Spark ({result.params['spark_master']}) "
        f"as of {result.params['as_of']} over {horizon_days} days "
        f"(model {result.params['model_choice']})."
    )
    out.print(
        f"  predicted value {s['predicted_clv']:,.0f}; mean churn probability "
        f"{s['mean_churn']:.2f}; {s['likely_to_lapse']:,} customers more likely to lapse "
        "than buy (at risk)"
    )
    out.print(f"  scores: {result.out} (Parquet)")
    for warning in result.params.get("warnings", []):
        out.print(f"[yellow]Note:[/yellow] {warning}")
    if len(result.top_at_risk):
        _print_top_at_risk(result.top_at_risk, n=len(result.top_at_risk))


def _print_top_at_risk(
    s, n: int = 5, *, currency: str | None = None, names: dict | None = None
) -> None:
    from rich.table import Table

    from agent.display import money, product_label
    from tools.insights.kpis import value_at_stake
    from tools.models.features import REASON_LABEL

    top = s.assign(at_stake=value_at_stake(s)).nlargest(n, "at_stake")
    table = Table(title=f"Top {n} customers by value at stake (churn risk x predicted value)")
    for col in (
        "customer",
        "predicted value (90% interval)",
        "churn risk",
        "reason",
        "segment",
        "next best product",
    ):
        table.add_column(col)
    for r in top.itertuples():
        table.add_row(
            r.customer_id,
            f"{money(r.predicted_clv, currency, decimals=0)} ({r.clv_low:,.0f}-{r.clv_high:,.0f})",
            f"{r.churn_probability:.0%}",
            REASON_LABEL.get(r.churn_reason, "no clear driver"),
            r.segment,
            product_label(getattr(r, "next_best_product", ""), names),
        )
    out.print(table)


@app.command("backtest")
def backtest(
    orders: OrdersOpt = None,
    store: StoreOpt = None,
    demo: DemoOpt = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="End of calibration (default: last date - horizon)."),
    ] = None,
    horizon_days: HorizonOpt = 180,
    model: ModelOpt = DEFAULT_MODEL,
    column_map: MapOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Backtest the project's model against vanilla lifetimes and a naive rate model."""
    import pandas as pd

    from tools.scoring.backtest import METRIC_LABELS, project_wins, run_backtest

    check_model(model)
    ws = Workspace.at(workspace)
    with out.status("Loading the store ...") as status:
        loaded = load_for_scoring(ws, orders, None, store, demo, parse_map(column_map))
        last = loaded.orders["order_date"].max().normalize()
        when = _as_of(as_of, loaded.orders) if as_of else last - pd.Timedelta(days=horizon_days)
        if when >= last:
            raise UserError(
                f"--as-of {when.date()} leaves no holdout: the last order is {last.date()}"
            )
        status.update("Backtesting the project's model and two baselines ...")
        table = run_backtest(
            loaded.orders,
            as_of=when,
            horizon_days=horizon_days,
            model=model,
            events=loaded.events,
            tickets=loaded.tickets,
            products=loaded.products,
        )
    print_backtest(table, METRIC_LABELS, project_wins(table), when, horizon_days)
    from agent.reports import charts

    folder = ws.sub("backtests")
    stem = f"backtest_{when.date()}_{horizon_days}d"
    path = folder / f"{stem}.md"
    atomic_write_text(
        path, backtest_markdown(table, METRIC_LABELS, project_wins(table), when, horizon_days)
    )
    charts.save(charts.tracking_plot(table.attrs["tracking"]), folder / f"{stem}_tracking.png")
    charts.save(
        charts.conditional_expectation_plot(table.attrs["conditional"]),
        folder / f"{stem}_conditional.png",
    )
    out.print(f"  written to {path}, with {stem}_tracking.png and {stem}_conditional.png")


def backtest_markdown(table, labels, wins, when, horizon_days) -> str:
    cols = [c for c in ("project", "lifetimes", "naive", "pymc_marketing") if c in table.columns]
    lines = [
        f"Backtest: calibration to {when.date()}, holdout {horizon_days} days, "
        f"{table.attrs.get('customers', 0):,} customers, model choice {table.attrs.get('model_choice')}",
        "",
        "| metric | " + " | ".join(cols) + " | project at least as good |",
        "|---|" + "---|" * len(cols) + "---|",
    ]
    for key, label in labels.items():
        if key not in table.index:
            continue
        row = table.loc[key]
        mark = "" if key not in wins else ("yes" if wins[key] else "NO")
        lines.append(f"| {label} | " + " | ".join(_fmt(row[c]) for c in cols) + f" | {mark} |")
    peer = table.attrs.get("peers", {}).get("pymc_marketing")
    if peer and peer != "used":
        lines += ["", f"Second peer: {peer}."]
    return "\n".join(lines) + "\n"


def print_backtest(table, labels, wins, when, horizon_days) -> None:
    out.print(
        backtest_markdown(table, labels, wins, when, horizon_days), markup=False, highlight=False
    )


def _fmt(v) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"


def write_table(df, path: Path, *, same_as: Path | None = None) -> None:
    """CSV or Parquet by extension, written atomically. `same_as`: a Parquet file already
    holding `df` (the snapshot), copied rather than encoded again."""
    import shutil

    from tools.files import atomic_write

    if path.suffix.lower() not in (".parquet", ".pq"):
        from tools.csvout import write_csv

        write_csv(df, path)  # inert in a spreadsheet, atomic
    elif same_as is not None:
        atomic_write(path, lambda tmp: shutil.copyfile(same_as, tmp))
    else:
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


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

    use_currency(currency)
    chat_command(message, store, demo, workspace, show_tools, model=check_model(model))


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
    from agent.settings import Settings, with_workspace
    from tools.ingest.load import load_store

    use_currency(currency)
    check_model(model)
    ws = Workspace.at(workspace)
    path = resolve_store(ws, store, demo)
    settings = with_workspace(Settings(), ws.root)  # the store settings saved in the app
    narrator = None
    if settings.model:  # LLM mode: the model writes the opening from the facts
        from agent.assistant.llm import ModelConfigError, chat_model_from_settings
        from agent.reports.brief import llm_narrator

        try:
            narrator = llm_narrator(chat_model_from_settings(settings), model_name=settings.model)
        except ModelConfigError as exc:
            raise UserError(str(exc)) from None
    with out.status("Loading the store ...") as status:
        loaded = load_store(path, column_map=parse_map(column_map), rejects_dir=ws.rejects)
        when = _as_of(week_ending, loaded.orders) if week_ending else None
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
