"""Benchmark: `retention score` end to end on a large demo store.

    python -m evals.bench.score [--customers 1000000] [--runs 3] [--format parquet]

Generates the store once (outside the timing), then runs the real CLI in a fresh process
per run (load + score + write), measuring wall time and peak memory (the summed RSS of the
process tree, sampled: `evals.bench.proctree`, since loading may start a helper process), with the
1-minute load average after each run (the machines are shared: a run at load 6 on 2 cores
gets about a third of them). Prints the median of the runs and the machine's size. With
`--stages`, one more run in a fresh process times each stage as the progress line names it
(wall and CPU seconds of the process, its threads included; `stage_breakdown`). Targets
<= 60 s wall and <= 4 GB peak for 1,000,000 customers on 2 cores;
25 s and 3 GiB. `evals.bench.all` and `evals.bench.brief` reuse `demo_store`,
`score_command` and `machine`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evals.bench.proctree import run_measured


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {sys.version.split()[0]}"


def demo_store(store: Path, *, customers: int, fmt: str = "parquet", progress=print) -> Path:
    """The benchmarks' demo store (seed 7) at `store`, generated unless it is there already."""
    from tools.demo.store import generate_store

    if not (store / "manifest.json").exists():
        t0 = time.perf_counter()
        info = generate_store(store, customers=customers, seed=7, fmt=fmt)
        progress(f"generated {info} in {time.perf_counter() - t0:.1f} s")
    return store


def retention_cli() -> str:
    """The `retention` console script of this interpreter's environment."""
    return str(Path(sys.executable).with_name("retention"))


def score_command(store: Path, root: Path, *, model: str = "auto") -> list[str]:
    """`retention score` on `store`, writing the scores and the workspace under `root`."""
    return [
        retention_cli(),
        "score",
        "--store",
        str(store),
        "--horizon-days",
        "365",
        "--model",
        model,
        "--out",
        str(root / "scores.parquet"),
        "--workspace",
        str(root / "ws"),
    ]


def stage_breakdown(store: Path, root: Path, *, model: str = "auto") -> list[dict]:
    """Wall and CPU seconds of each stage of load + score + write, in a fresh process."""
    code = (
        "import json, sys; from evals.bench.score import _timed_stages; "
        "print(json.dumps(_timed_stages(*sys.argv[1:])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(store), str(root / "ws_stages"), model],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _timed_stages(store: str, workspace: str, model: str = "auto") -> list[dict]:
    """What `retention score --store STORE` does (agent.cli.scoring.score), timed per stage: the
    store loaded, each step of `tools.scoring.score.score_store` by its progress message, the
    snapshot written."""
    from agent.cli.scoring import load_for_scoring
    from agent.reports.snapshots import save_scores
    from agent.workspace import Workspace

    rows: list[dict] = []
    last: dict[str, Any] = {
        "stage": "loading the store",
        "wall": time.perf_counter(),
        "cpu": time.process_time(),
    }

    def mark(stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        rows.append(
            {
                "stage": last["stage"],
                "wall_s": round(wall - last["wall"], 2),
                "cpu_s": round(cpu - last["cpu"], 2),
            }
        )
        last.update(stage=stage, wall=wall, cpu=cpu)

    ws = Workspace.at(Path(workspace))
    loaded = load_for_scoring(ws, None, None, Path(store), False, {})
    from tools.scoring.score import score_store  # (its imports are part of the scoring)

    when = loaded.orders["order_date"].max().normalize()
    mark("scoring: starting")
    result = score_store(
        loaded.orders,
        as_of=when,
        horizon_days=365,
        model=model,
        events=loaded.events,
        tickets=loaded.tickets,
        products=loaded.products,
        progress=mark,
    )
    mark("writing the scores")
    save_scores(ws, result, as_of=when)
    mark("done")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    ap.add_argument("--model", default="auto")
    ap.add_argument("--dir", default=None, help="reuse/keep the store here")
    ap.add_argument("--stages", action="store_true", help="one more run, timed per stage")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench_score_"))
    store = demo_store(
        root / f"demo_{args.customers}_{args.format}", customers=args.customers, fmt=args.format
    )
    cmd = score_command(store, root, model=args.model)
    walls, peaks = [], []
    for i in range(args.runs):
        m = run_measured(cmd)
        walls.append(m.wall_s)
        peaks.append(m.peak_gib)
        print(
            f"run {i + 1}: {m.wall_s:.1f} s wall, peak {m.peak_gib:.2f} GiB, load average "
            f"{os.getloadavg()[0]:.1f}"
        )
    if walls:
        print("\n| customers | model | median wall (s) | max peak memory (GiB) | runs | machine |")
        print("|---|---|---|---|---|---|")
        print(
            f"| {args.customers:,} | {args.model} | {statistics.median(walls):.1f} | "
            f"{max(peaks):.2f} | {args.runs} | {machine()} |"
        )
    if args.stages:
        rows = stage_breakdown(store, root, model=args.model)
        print(f"\nstages (one run, load average {os.getloadavg()[0]:.1f} after it):\n")
        print("| stage | wall (s) | CPU (s) |\n|---|---|---|")
        for r in rows:
            print(f"| {r['stage']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} |")
        wall, cpu = sum(r["wall_s"] for r in rows), sum(r["cpu_s"] for r in rows)
        print(f"| total | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
