"""Benchmark: the project's scores against vanilla lifetimes on real stores.

    python -m evals.quality.scores [--stores cdnow,cdnow_master,online_retail,apparel_usd,...] [--json F]

One holdout per store, fixed by the store's own span (not tuned): the CDNOW sample and
master at the published split (calibration to 1997-09-30, 273 days); Online Retail (the whole UCI file)
with the last 90 days held out, and at the held-out split of the first real-store study
(2011-06-30, 162 days); every Shopify
store in ../shared/data/shopify/ with more than a year of orders: the first year at least is
calibration, the rest (up to a year) holdout. Each store goes through the
loader and `tools.scoring.backtest.run_backtest` (the project's default model, `--model auto`).
Printed per store: CLV Spearman, top-10% revenue capture, churn AUC, MAE of orders, total
orders error, 90% interval coverage and median relative width, project vs lifetimes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SHOPIFY_MAX_HOLDOUT_DAYS = 365
OR_SPLITS = (
    ("2011-09-10", 90),
    ("2011-06-30", 162),
)  # the last 90 days; the held-out split of the first real-store study
MIN_HISTORY_DAYS = 365
ROWS = (
    "spearman_clv",
    "top10_revenue_share",
    "auc_no_purchase",
    "mae_orders",
    "total_orders_error_pct",
    "coverage_90",
    "median_rel_width_90",
)


def stores(names=None):
    """(name, orders, as_of, horizon_days) per benchmark store."""
    from evals.quality.cdnow import CALIBRATION_END, HOLDOUT_DAYS, write_store
    from evals.quality.real_stores.stores import find_data_dir
    from tools.ingest.load import load_orders, load_store

    want = set(names) if names else None
    tmp = Path(tempfile.mkdtemp(prefix="scores-bench-"))
    if want is None or "cdnow" in want:
        orders, _ = load_orders(write_store(tmp / "cdnow"), rejects_dir=tmp)
        yield "cdnow_sample", orders, pd.Timestamp(CALIBRATION_END), HOLDOUT_DAYS
    if want is None or "cdnow_master" in want:
        orders, _ = load_orders(write_store(tmp / "cdnow_master", master=True), rejects_dir=tmp)
        yield "cdnow_master", orders, pd.Timestamp(CALIBRATION_END), HOLDOUT_DAYS
    shared = find_data_dir()
    if shared is None:
        print("# ../shared/data not found (set RETENTION_SHARED_DATA): only CDNOW is benchmarked")
        return
    path = shared / "online_retail_lines.parquet"
    if (want is None or "online_retail" in want) and path.exists():
        orders, _ = load_orders(path, rejects_dir=tmp)
        for as_of, days in OR_SPLITS:
            yield f"online_retail_{days}d", orders, pd.Timestamp(as_of), days
    for folder in sorted((shared / "shopify").glob("*")):
        if want is not None and folder.name not in want:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                orders = load_store(folder).orders
        except Exception as exc:  # a store the loader refuses is reported, not benchmarked
            print(f"# {folder.name}: not loadable ({str(exc)[:80]})")
            continue
        end = orders["order_date"].max().normalize()
        span = int((end - orders["order_date"].min().normalize()).days)
        holdout = min(SHOPIFY_MAX_HOLDOUT_DAYS, span - MIN_HISTORY_DAYS)
        if holdout < 30:
            print(f"# {folder.name}: {span} days of orders, not a year plus a holdout, skipped")
            continue
        yield folder.name, orders, end - pd.Timedelta(days=holdout), holdout


def bench(names=None) -> dict:
    from tools.scoring.backtest import run_backtest

    results = {}
    for name, orders, as_of, horizon in stores(names):
        t0 = time.perf_counter()
        table = run_backtest(orders, as_of=as_of, horizon_days=horizon)
        r = {
            "as_of": str(as_of.date()),
            "horizon_days": horizon,
            "customers": table.attrs["customers"],
            "seconds": round(time.perf_counter() - t0, 1),
            "model_choice": table.attrs.get("model_choice"),
            "project": {k: _f(table.loc[k, "project"]) for k in ROWS if k in table.index},
            "lifetimes": {k: _f(table.loc[k, "lifetimes"]) for k in ROWS if k in table.index},
            "pymc_marketing": (
                {k: _f(table.loc[k, "pymc_marketing"]) for k in ROWS if k in table.index}
                if "pymc_marketing" in table
                else table.attrs.get("peers", {}).get("pymc_marketing")
            ),
            "score_checks": table.attrs.get("score_checks", {}),
            "lifetimes_fit": {
                "penalizer": table.attrs.get("vanilla_penalizer"),
                "nonfinite": table.attrs.get("vanilla_nonfinite", 0),
            },
        }
        results[name] = r
        print(render(name, r), flush=True)
    return results


def _f(v) -> float:
    return float(v) if v is not None and np.isfinite(v) else float("nan")


def render(name: str, r: dict) -> str:
    head = (
        f"## {name}: {r['customers']:,} customers, as-of {r['as_of']}, {r['horizon_days']} days "
        f"({r['seconds']} s; choice {r['model_choice']})"
    )
    peer = r.get("pymc_marketing")
    has_peer = isinstance(peer, dict)
    lines = [
        head,
        "| metric | project | lifetimes | diff |" + (" pymc-marketing |" if has_peer else ""),
        "|---|---|---|---|" + ("---|" if has_peer else ""),
    ]
    for k in ROWS:
        p, v = r["project"].get(k, float("nan")), r["lifetimes"].get(k, float("nan"))
        extra = f" {peer.get(k, float('nan')):.3f} |" if isinstance(peer, dict) else ""
        lines.append(f"| {k} | {p:.3f} | {v:.3f} | {p - v:+.3f} |{extra}")
    if peer and not has_peer:
        lines.append(f"(second peer: {peer})")
    from tools.scoring.backtest import peer_fit_notes

    fit = r.get("lifetimes_fit") or {}
    lines += peer_fit_notes(fit.get("penalizer"), fit.get("nonfinite", 0))
    c = r.get("score_checks", {})
    if c:
        lines.append(
            f"checks: NaN cells {c['nan_cells']}; P(no purchase) < 5% with clv_low 0: "
            f"{c['sure_buyers_with_zero_low']} of {c['sure_buyers']}; most common churn "
            f"probability held by {c['churn_most_common_share']:.1%}; {c['model_counts']}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", default="")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    res = bench([s for s in a.stores.split(",") if s] or None)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
