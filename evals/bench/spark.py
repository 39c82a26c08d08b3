"""Benchmark: `retention score` on both engines (embedded, and Spark in local mode).

    python -m evals.bench.spark [--customers 200000] [--runs 3] [--master local[2]] [--model auto]
    python -m evals.bench.spark --customers 1000000 --shards 10 --engines spark --runs 1

Generates a demo store once (Parquet, seed 7, outside the timing), then runs the real CLI in
a fresh process per run and engine (load + score + write), measuring wall time and peak
memory of the process tree (the JVM and Python workers included, `evals.bench.proctree`). Prints the
median of the runs per engine, how alike the two engines' scores are (same customers, CLV
Spearman, segment agreement), and the machine's size.

`--shards N` builds a store of N times `--customers` customers from N demo stores (seeds 7,
8, ...; customer, order and ticket ids prefixed by the shard) written as folders of Parquet
files, one shard at a time, so that a store larger than the generator can hold in memory
(10 million customers) is made on one machine. Only the Spark engine reads such folders.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
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


def sharded_store(store: Path, *, customers: int, shards: int) -> Path:
    """`shards` demo stores of `customers` each, as one store of Parquet folders (docstring)."""
    import shutil

    import pandas as pd

    from tools.demo.store import generate_store

    if (store / "manifest.json").exists():
        return store
    tmp = store.with_name(store.name + "_shard")
    for k in range(shards):
        t0 = time.perf_counter()
        shutil.rmtree(tmp, ignore_errors=True)
        generate_store(tmp, customers=customers, seed=7 + k, fmt="parquet")
        tables = {
            "orders": pd.read_parquet(tmp / "orders.parquet"),
            "events": pd.read_parquet(tmp / "events.parquet"),
            "tickets": pd.read_csv(tmp / "tickets.csv", dtype=str),
        }
        for kind, df in tables.items():
            for col in ("customer_id", "order_id", "ticket_id"):
                if col in df:
                    df[col] = f"S{k}-" + df[col].astype(str)
            (store / kind).mkdir(parents=True, exist_ok=True)
            df.to_parquet(store / kind / f"part-{k:04d}.parquet", index=False)
        if k == 0:
            shutil.copy(tmp / "products.csv", store / "products.csv")
        print(
            f"shard {k + 1}/{shards}: {customers:,} customers in {time.perf_counter() - t0:.0f} s"
        )
    shutil.rmtree(tmp, ignore_errors=True)
    manifest = {"customers": customers * shards, "shards": shards, "seeds": "7+"}
    (store / "manifest.json").write_text(json.dumps(manifest) + "\n")
    return store


def agreement(root: Path) -> dict:
    import pandas as pd
    from scipy.stats import spearmanr
    from sklearn.metrics import adjusted_rand_score

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
        # label-free: 1.0 when the two engines group customers alike whatever the numbering
        "cluster_adjusted_rand": float(adjusted_rand_score(a["cluster"], b["cluster"])),
        "clusters": (int(a["cluster"].nunique()), int(b["cluster"].nunique())),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--model", default="bgnbd")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--dir", default=None, help="reuse/keep the store here")
    ap.add_argument("--shards", type=int, default=1, help="a store of N demo stores (docstring)")
    ap.add_argument("--engines", default="embedded,spark", help="comma-separated")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_spark_"))
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.shards > 1:
        if engines != ["spark"]:
            ap.error("--shards needs --engines spark (the embedded engine reads no folders)")
        store = sharded_store(
            root / f"demo_{args.shards}x{args.customers}",
            customers=args.customers,
            shards=args.shards,
        )
    else:
        store = demo_store(root / f"demo_{args.customers}_parquet", customers=args.customers)
    total = args.customers * args.shards
    rows = []
    for engine, cmd in commands(store, root, model=args.model, master=args.master).items():
        if engine not in engines:
            continue
        walls, peaks = [], []
        for i in range(args.runs):
            m = run_measured(cmd)
            walls.append(m.wall_s)
            peaks.append(m.peak_gib)
            print(f"{engine} run {i + 1}: {m.wall_s:.1f} s wall, peak {m.peak_gib:.2f} GiB")
        rows.append((engine, statistics.median(walls), max(peaks)))
    same = agreement(root) if len(engines) == 2 else "one engine run"
    print(
        "\n| customers | engine | model | median wall (s) | max peak memory (GiB) | runs | machine |"
    )
    print("|---|---|---|---|---|---|---|")
    for engine, wall, peak in rows:
        master = f" ({args.master})" if engine == "spark" else ""
        print(
            f"| {total:,} | {engine}{master} | {args.model} | {wall:.1f} | {peak:.2f} | "
            f"{args.runs} | {machine()} |"
        )
    print(f"\nagreement: {same}")


if __name__ == "__main__":
    main()
