"""`retention score` and `retention backtest`: scores every customer of a store, and checks the
scores against what customers did after an earlier date (DESIGN.md, "Command line").

`agent.cli.main` registers both commands; the scoring itself is `tools.scoring`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli.common import (
    DEFAULT_WS,
    AsOfOpt,
    CurrencyOpt,
    DemoOpt,
    HorizonOpt,
    MapOpt,
    ModelOpt,
    OrdersOpt,
    StoreOpt,
    UserError,
    WorkspaceOpt,
    check_model,
    out,
    parse_as_of,
    parse_map,
    resolve_store,
    run_settings,
)
from agent.workspace import Workspace
from tools.files import atomic_write_text
from tools.models.choices import DEFAULT_MODEL
from tools.scoring.engine import DEFAULT_ENGINE, ENGINE_HELP, ENGINES


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
    from tools.scoring.score import score_store

    check_model(model)
    ws = Workspace.at(workspace)
    settings = run_settings(ws, currency)
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
        when = parse_as_of(as_of, loaded.orders)
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
    cur = store_currency(loaded.currency, settings)
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
    from tools.schema import REASON_LABEL

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
        when = (
            parse_as_of(as_of, loaded.orders) if as_of else last - pd.Timedelta(days=horizon_days)
        )
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
    from tools.scoring.backtest import peer_fit_notes

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
    notes = peer_fit_notes(
        table.attrs.get("vanilla_penalizer"), table.attrs.get("vanilla_nonfinite", 0)
    )
    lines += ["", *notes] if notes else []
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
