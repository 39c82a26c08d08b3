"""Benchmark: `retention score` on both engines (embedded, and Spark in local mode).

    python -m evals.bench.spark [--customers 200000] [--runs 3] [--master local[2]] [--model auto]

Generates a demo store once (Parquet, seed 7, outside the timing), then runs the real CLI in
a fresh process per run and engine (load + score + write), measuring wall time and peak
memory of the process tree (the JVM and Python workers included, `evals.bench.proctree`). Prints the
median of the runs per engine, how alike the two engines' scores are (same customers, CLV
Spearman, segment agreement), and the machine's size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from evals.bench.proctree import run_measured
from evals.bench.score import demo_store, machine, retention_cli


def commands(store: Path, root: Path, *, model: str, master: str) -> dict[str, list[str]]:
    base = [
        retention_cli(),
        "score",
        "--store",
        str(store),
        "--horizon-days",
        "365",
        "--model",
        model,
        "--workspace",
        str(root / "ws"),
    ]
    return {
        "embedded": base + ["--out", str(root / "embedded.parquet")],
        "spark": base
        + ["--engine", "spark", "--master", master, "--out", str(root / "spark_scores")],
    }


def agreement(root: Path) -> dict:
    import pandas as pd
    from scipy.stats import spearmanr

    a = pd.read_parquet(root / "embedded.parquet").set_index("customer_id").sort_index()
    b = pd.read_parquet(root / "spark_scores").set_index("customer_id").sort_index()
    same = a.index.equals(b.index)
    b = b.reindex(a.index)
    return {
        "same_customers": same,
        "customers": len(a),
        "clv_spearman": float(spearmanr(a["predicted_clv"], b["predicted_clv"])[0]),
        "segment_agreement": float((a["segment"] == b["segment"]).mean()),
        "tier_agreement": float((a["clv_tier"] == b["clv_tier"]).mean()),
        "churn_spearman": float(spearmanr(a["churn_probability"], b["churn_probability"])[0]),
        "churn_reason_agreement": float((a["churn_reason"] == b["churn_reason"]).mean()),
        "next_best_product_agreement": float(
            (a["next_best_product"] == b["next_best_product"]).mean()
        ),
        "cluster_agreement": float((a["cluster"] == b["cluster"]).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--model", default="bgnbd")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--dir", default=None, help="reuse/keep the store here")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_spark_"))
    store = demo_store(root / f"demo_{args.customers}_parquet", customers=args.customers)
    rows = []
    for engine, cmd in commands(store, root, model=args.model, master=args.master).items():
        walls, peaks = [], []
        for i in range(args.runs):
            m = run_measured(cmd)
            walls.append(m.wall_s)
            peaks.append(m.peak_gib)
            print(f"{engine} run {i + 1}: {m.wall_s:.1f} s wall, peak {m.peak_gib:.2f} GiB")
        rows.append((engine, statistics.median(walls), max(peaks)))
    same = agreement(root)
    print(
        "\n| customers | engine | model | median wall (s) | max peak memory (GiB) | runs | machine |"
    )
    print("|---|---|---|---|---|---|---|")
    for engine, wall, peak in rows:
        master = f" ({args.master})" if engine == "spark" else ""
        print(
            f"| {args.customers:,} | {engine}{master} | {args.model} | {wall:.1f} | {peak:.2f} | "
            f"{args.runs} | {machine()} |"
        )
    print(f"\nagreement: {same}")


if __name__ == "__main__":
    main()
