"""The command line of the real-store eval: `python -m evals.quality.real_stores [--quick]
[--store NAME ...] [--data DIR] [--subprocess] [--json F]` prints the report
(`evals.quality.real_stores.report`) and exits 1 when an invariant fails on any store.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from evals.quality import real_stores
from evals.quality.real_stores.report import jsonable, render
from evals.quality.real_stores.store_eval import run_stores


def main(argv: list[str] | None = None) -> int:
    """Run the stores asked for, print the report; 1 when any store fails an invariant."""
    ap = argparse.ArgumentParser(
        prog="python -m evals.quality.real_stores",
        description=(real_stores.__doc__ or "").split("\n\n")[0],
    )
    ap.add_argument("--quick", action="store_true", help="the fast part (make test)")
    ap.add_argument(
        "--store",
        action="append",
        default=None,
        metavar="NAME",
        help="only this store (repeatable)",
    )
    ap.add_argument("--data", default=None, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--subprocess", action="store_true", help="each CLI step in a fresh process")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = run_stores(
        args.store,
        quick=args.quick,
        data=args.data,
        subprocess_mode=args.subprocess,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(render(results, quick=args.quick))
    print(f"\n{time.perf_counter() - t0:.1f} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(jsonable(results), indent=2, default=str))
    return 1 if any(r.failures() for r in results) or not results else 0


if __name__ == "__main__":
    sys.exit(main())
