"""Every benchmark in one table: load, score, brief, tool latency, retrieval latency, each with
its peak memory, for each store size.

    python -m evals.bench.all --customers 100000 1000000 --runs 3 [--dir DIR]

For each size the demo store is generated once (`tools.demo.store.generate_store`, Parquet, seed 7;
outside every timing). Each step then runs `--runs` times, every run in a fresh process, and
the table gives the median of the runs and the largest peak memory of any run, measured as
the summed RSS of the step's whole process tree (`evals.bench.proctree`: loading a large store
starts a helper process).

- load: `tools.ingest.load.load_store` on the store (the time of the call, inside the process);
- score: `retention score` end to end, wall time of the process (as `evals.bench.score`);
- brief from raw data, and with scores cached: `retention brief` on an empty workspace, then
  again on the snapshots it cached (as `evals.bench.brief`);
- tool latency: every assistant tool on a session whose scores are cached, the median over
  tools of each tool's median and the slowest tool's median (as `evals.bench.agent`; the
  session is scored once beforehand, outside the timings);
- playbook search: p50 and p95 latency of the 75 merchant questions after warm-up (as
  `evals.quality.retrieval`, on the session's index of the playbooks).

Targets: score <= 60 s and 4 GB at 1,000,000 customers; brief <= 30 s raw and
<= 5 s cached at 100,000; each tool <= 1 s; search p95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evals.bench.brief import brief_pair
from evals.bench.proctree import Measured, run_measured
from evals.bench.score import demo_store, machine, score_command

RESULT = "BENCH_RESULT "
STEPS = ("load", "score", "brief_raw", "brief_cached", "tools", "retrieval")
LABELS = {
    "load": "load (`load_store`)",
    "score": "score (`retention score`, load + score + write)",
    "brief_raw": "weekly brief from raw data",
    "brief_cached": "weekly brief, scores cached",
    "tools": "assistant tools, scores cached (median tool / slowest tool)",
    "retrieval": "playbook search (p50 / p95)",
}


def child_env() -> dict:
    """Offline, no telemetry: nothing a benchmark runs reaches the network."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


# --- the steps that run inside a child process ------------------------------------------------


def step_load(store: str) -> dict:
    from tools.ingest.load import load_store

    t = time.perf_counter()
    loaded = load_store(store)
    return {"s": time.perf_counter() - t, "order_lines": len(loaded.orders)}


def _warm_session(store: str, ws: str):
    """The assistant's session on `store`, its embedding model loaded (once per session)."""
    from agent.assistant.session import StoreSession
    from agent.workspace import Workspace

    session = StoreSession(store, Workspace.at(ws))
    session.kb.search("warm up", k=1)
    return session


def step_prepare(store: str, ws: str) -> dict:
    """Score the store into the session's cache and index the playbooks (not timed)."""
    return {"customers": len(_warm_session(store, ws).scores)}


def step_tools(store: str, ws: str, repeat: int) -> dict:
    from agent.assistant.chat import Assistant
    from evals.bench.agent import focus_customer, time_tools, tool_calls, tool_summary

    session = _warm_session(store, ws)
    assistant = Assistant(session)
    tools = time_tools(assistant.runner, tool_calls(focus_customer(session)), repeat=repeat)
    return {**tool_summary(tools), "failed": [k for k, v in tools.items() if not v["ok"]]}


def step_retrieval(chroma: str, runs: int) -> dict:
    from evals.quality.retrieval import run_retrieval_eval
    from knowledge import KnowledgeBase

    res = run_retrieval_eval(KnowledgeBase(Path(chroma)), runs=runs)
    return {"p50_ms": res["latency_ms_p50"], "p95_ms": res["latency_ms_p95"]}


CHILD_STEPS: dict[str, Callable[..., dict]] = {
    "load": step_load,
    "prepare": step_prepare,
    "tools": step_tools,
    "retrieval": step_retrieval,
}


def run_step(name: str, *args) -> tuple[dict, Measured]:
    """Run CHILD_STEPS[name](*args) in a fresh process; its result and its measurement."""
    cmd = [sys.executable, "-m", "evals.bench.all", "--step", name, json.dumps(list(args))]
    m = run_measured(cmd, env=child_env(), capture=True)
    line = next(x for x in reversed(m.stdout.splitlines()) if x.startswith(RESULT))
    return json.loads(line[len(RESULT) :]), m


# --- one store size ------------------------------------------------------------------------------


@dataclass
class StepRuns:
    figures: list[dict] = field(default_factory=list)  # per run: the step's numbers
    peaks: list[int] = field(default_factory=list)  # per run: peak bytes of the tree

    def median(self, key: str) -> float:
        return statistics.median(f[key] for f in self.figures)

    @property
    def peak_gib(self) -> float:
        return max(self.peaks) / 2**30


def bench_size(
    customers: int, root: Path, *, runs: int, tool_repeat: int = 5, progress=print
) -> dict[str, StepRuns]:
    root.mkdir(parents=True, exist_ok=True)
    store = demo_store(root / f"demo_{customers}", customers=customers, progress=progress)
    env = child_env()
    out = {name: StepRuns() for name in STEPS}

    def add(name: str, figures: dict, m: Measured) -> None:
        out[name].figures.append(figures)
        out[name].peaks.append(m.peak_bytes)
        progress(
            f"{customers:,} customers: {name} run {len(out[name].figures)}: "
            f"{json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()})}, "
            f"peak {m.peak_gib:.2f} GiB, process {m.wall_s:.1f} s"
        )

    for _ in range(runs):
        figures, m = run_step("load", str(store))
        add("load", figures, m)
    for _ in range(runs):
        m = run_measured(score_command(store, root / "score"), env=env)
        add("score", {"s": m.wall_s}, m)
    for _ in range(runs):
        raw, cached = brief_pair(store, root / "brief_ws", env=env)
        add("brief_raw", {"s": raw.wall_s}, raw)
        add("brief_cached", {"s": cached.wall_s}, cached)
    _, m = run_step("prepare", str(store), str(root / "session_ws"))
    progress(f"{customers:,} customers: session scored and playbooks indexed in {m.wall_s:.1f} s")
    for _ in range(runs):
        figures, m = run_step("tools", str(store), str(root / "session_ws"), tool_repeat)
        add("tools", figures, m)
    for _ in range(runs):
        figures, m = run_step("retrieval", str(root / "session_ws" / "chroma"), 1)
        add("retrieval", figures, m)
    return out


# --- the table ---------------------------------------------------------------------------------


def cell(name: str, r: StepRuns) -> str:
    peak = f"peak {r.peak_gib:.2f} GiB"
    if name == "tools":
        return f"{r.median('median_tool_s'):.3f} s / {r.median('max_tool_median_s'):.3f} s; {peak}"
    if name == "retrieval":
        return f"{r.median('p50_ms'):.1f} ms / {r.median('p95_ms'):.1f} ms; {peak}"
    return f"{r.median('s'):.2f} s; {peak}"


def table(results: dict[int, dict[str, StepRuns]], *, runs: int) -> str:
    sizes = list(results)
    lines = [
        f"Machine: {machine()}. Medians of {runs} run(s), each in a fresh process; peak "
        "memory: the largest summed RSS of the step's process tree over the runs.",
        "",
        "| step | " + " | ".join(f"{n:,} customers" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name in STEPS:
        lines.append(
            f"| {LABELS[name]} | " + " | ".join(cell(name, results[n][name]) for n in sizes) + " |"
        )
    failed = {
        f"{n:,}": sorted({t for f in results[n]["tools"].figures for t in f["failed"]})
        for n in sizes
    }
    if any(failed.values()):
        lines += [
            "",
            "Tools that returned an error: "
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in failed.items() if v),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--tool-repeat", type=int, default=5, help="calls of each tool per run, after a cold one"
    )
    ap.add_argument("--dir", type=Path, default=None, help="keep the stores and workspaces here")
    ap.add_argument("--step", default=None, help=argparse.SUPPRESS)  # internal: one child step
    ap.add_argument("step_args", nargs="?", default="[]", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.step:
        print(RESULT + json.dumps(CHILD_STEPS[args.step](*json.loads(args.step_args))), flush=True)
        return ""
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_all_"))
    progress = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    progress(f"machine: {machine()}; stores and workspaces in {root}")
    results = {
        n: bench_size(
            n, root / f"c{n}", runs=args.runs, tool_repeat=args.tool_repeat, progress=progress
        )
        for n in args.customers
    }
    text = table(results, runs=args.runs)
    print(text)
    return text


if __name__ == "__main__":
    main()
