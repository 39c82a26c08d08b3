"""Benchmark: the weekly brief on a large demo store, from raw data and with scores cached.

    python -m evals.bench.brief [--customers 100000] [--runs 3]

"Raw" starts from an empty workspace (both weeks are scored); "cached" reuses the snapshots.
Each run is a fresh `retention brief` process, measured with its peak memory (summed RSS of
the process tree, `evals.bench.proctree`); the median of the runs and the machine's size are
printed. Targets: <= 30 s raw, <= 5 s cached, for 100,000 customers.
`evals.bench.all` reuses `brief_pair`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from evals.bench.proctree import Measured, run_measured
from evals.bench.score import demo_store, machine, retention_cli


def brief_command(store: Path, ws: Path) -> list[str]:
    return [retention_cli(), "brief", "--store", str(store), "--workspace", str(ws)]


def brief_pair(store: Path, ws: Path, *, env: dict | None = None) -> tuple[Measured, Measured]:
    """One brief from raw data (the workspace `ws` emptied first), then one with the scores
    it cached; each a fresh process."""
    shutil.rmtree(ws, ignore_errors=True)
    raw = run_measured(brief_command(store, ws), env=env)
    cached = run_measured(brief_command(store, ws), env=env)
    return raw, cached


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_brief_"))
    store = demo_store(root / f"demo_{args.customers}", customers=args.customers)
    pairs = [brief_pair(store, root / "ws") for _ in range(args.runs)]
    for i, (raw, cached) in enumerate(pairs):
        print(
            f"run {i + 1}: raw {raw.wall_s:.1f} s (peak {raw.peak_gib:.2f} GiB), "
            f"cached {cached.wall_s:.1f} s (peak {cached.peak_gib:.2f} GiB)"
        )
    raw_s = statistics.median(r.wall_s for r, _ in pairs)
    cached_s = statistics.median(c.wall_s for _, c in pairs)
    print("| customers | from raw data (s) | scores cached (s) | runs | machine |")
    print("|---|---|---|---|---|")
    print(f"| {args.customers:,} | {raw_s:.1f} | {cached_s:.1f} | {args.runs} | {machine()} |")


if __name__ == "__main__":
    main()
