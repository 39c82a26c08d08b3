"""Benchmark the demo-store generator: wall time, peak memory and file sizes.

python -m evals.bench.demo [--customers 1000000] [--format csv] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from tools.demo.store import generate_store


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--format", default="csv", choices=("csv", "parquet"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--out", type=Path, default=None, help="folder to keep (default: a temp folder)"
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "store"
        t0 = time.perf_counter()
        counts = generate_store(out, customers=args.customers, seed=args.seed, fmt=args.format)
        wall = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    result = {
        "customers": args.customers,
        "format": args.format,
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(peak_kib / 1024),
        "rows": counts,
        "file_mib": {k: round(v / 2**20, 1) for k, v in sizes.items()},
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return result


if __name__ == "__main__":
    main()
