"""Benchmark: the weekly brief on a large demo store, from raw data and with scores cached.

    python -m evals.bench_brief [--customers 100000] [--runs 3]

"Raw" starts from an empty workspace (both weeks are scored); "cached" reuses the snapshots.
Each run is a fresh `retention brief` process; the median of the runs and the machine's size
are printed. Targets (issue 6): <= 30 s raw, <= 5 s cached, for 100,000 customers.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evals.bench_score import machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    from tools.demo import generate_store

    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_brief_"))
    store = root / f"demo_{args.customers}"
    if not (store / "manifest.json").exists():
        generate_store(store, customers=args.customers, seed=7, fmt="parquet")
    retention = str(Path(sys.executable).with_name("retention"))
    raw, cached = [], []
    for _ in range(args.runs):
        ws = root / "ws"
        shutil.rmtree(ws, ignore_errors=True)
        for bucket in (raw, cached):
            t0 = time.perf_counter()
            subprocess.run([retention, "brief", "--store", str(store), "--workspace", str(ws)],
                           check=True, stdout=subprocess.DEVNULL)
            bucket.append(time.perf_counter() - t0)
    print("| customers | from raw data (s) | scores cached (s) | runs | machine |")
    print("|---|---|---|---|---|")
    print(f"| {args.customers:,} | {statistics.median(raw):.1f} | {statistics.median(cached):.1f} | "
          f"{args.runs} | {machine()} |")


if __name__ == "__main__":
    main()
