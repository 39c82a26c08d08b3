"""Retrieval eval: recall@3, hit@3 and MRR of the playbook search on merchant questions, plus a
latency benchmark (p50/p95 ms per query after warm-up).

    python -m evals.retrieval_eval [--workspace DIR] [--runs 3] [--k 3]

The cases are data (evals/data/retrieval_cases.yaml): a question and the playbook id(s) that
answer it. `run_retrieval_eval(kb)` is what `retention eval` calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

K = 3
MRR_DEPTH = 10


def load_cases(cases_path: str | Path | None = None) -> list[dict[str, Any]]:
    if cases_path is None:
        text = resources.files("evals").joinpath("data/retrieval_cases.yaml").read_text("utf-8")
    else:
        text = Path(cases_path).read_text("utf-8")
    data = yaml.safe_load(text) or {}
    cases = data.get("cases", data) if isinstance(data, dict) else data
    out = []
    for i, c in enumerate(cases):
        if not isinstance(c, dict) or not c.get("q") or not c.get("relevant"):
            raise ValueError(f"retrieval case {i + 1} needs 'q' and a non-empty 'relevant' list")
        rel = c["relevant"] if isinstance(c["relevant"], list) else [c["relevant"]]
        out.append({"q": str(c["q"]), "relevant": [str(r) for r in rel],
                    "filters": dict(c.get("filters") or {})})
    return out


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * pct / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run_retrieval_eval(kb, cases_path: str | Path | None = None, *, k: int = K, runs: int = 3,
                       warmup: int = 5) -> dict[str, Any]:
    """Score `kb.search` on the cases. Returns recall@k (share of each case's relevant ids in the
    top k, averaged), hit@k (a relevant id in the top k), MRR (first relevant within the top 10),
    latency p50/p95 in ms over `runs` passes after `warmup` queries, and the misses."""
    cases = load_cases(cases_path)
    if kb.count() == 0:
        kb.index()
    for c in cases[:warmup]:
        kb.search(c["q"], k=MRR_DEPTH, **c["filters"])
    recall, hits, rr, misses = [], [], [], []
    for c in cases:
        ranked = [h.playbook_id for h in kb.search(c["q"], k=MRR_DEPTH, **c["filters"])]
        rel = set(c["relevant"])
        top = set(ranked[:k])
        recall.append(len(rel & top) / len(rel))
        hits.append(1.0 if rel & top else 0.0)
        first = next((i for i, pid in enumerate(ranked) if pid in rel), None)
        rr.append(0.0 if first is None else 1.0 / (first + 1))
        if not rel & top:
            misses.append({"q": c["q"], "relevant": c["relevant"], "got": ranked[:k]})
    latencies: list[float] = []
    for _ in range(max(runs, 1)):
        for c in cases:
            t0 = time.perf_counter()
            kb.search(c["q"], k=k, **c["filters"])
            latencies.append((time.perf_counter() - t0) * 1000)
    n = len(cases)
    return {
        "cases": n, "k": k,
        f"recall@{k}": sum(recall) / n, f"hit@{k}": sum(hits) / n, "mrr": sum(rr) / n,
        "latency_ms_p50": _percentile(latencies, 50), "latency_ms_p95": _percentile(latencies, 95),
        "latency_ms_mean": statistics.fmean(latencies), "queries_timed": len(latencies),
        "misses": misses,
    }


def markdown(result: dict[str, Any]) -> str:
    k = result["k"]
    lines = [
        (f"Retrieval eval: {result['cases']} merchant questions, "
         f"{result['queries_timed']} timed queries"),
        "",
        "| metric | value | target |",
        "|---|---|---|",
        f"| recall@{k} | {result[f'recall@{k}']:.3f} | >= 0.90 |",
        f"| hit@{k} | {result[f'hit@{k}']:.3f} | |",
        f"| MRR | {result['mrr']:.3f} | |",
        f"| latency p50 (ms) | {result['latency_ms_p50']:.1f} | |",
        f"| latency p95 (ms) | {result['latency_ms_p95']:.1f} | <= 100 |",
    ]
    if result["misses"]:
        lines += ["", f"Misses (no relevant playbook in the top {k}):", ""]
        lines += [f"- {m['q']!r}: wanted {', '.join(m['relevant'])}; got {', '.join(m['got'])}"
                  for m in result["misses"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from knowledge import KnowledgeBase

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", type=Path, default=None,
                   help="index into <workspace>/chroma and log the run there (default: a temp dir)")
    p.add_argument("--cases", type=Path, default=None)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--k", type=int, default=K)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        chroma = (args.workspace / "chroma") if args.workspace else Path(tmp) / "chroma"
        kb = KnowledgeBase(chroma)
        report = kb.index()
        print(report, file=sys.stderr)
        result = run_retrieval_eval(kb, args.cases, k=args.k, runs=args.runs)
    print(markdown(result))
    if args.workspace:
        log = args.workspace / "evals" / "retrieval_runs.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(json.dumps({"at": datetime.now(UTC).isoformat(), **result}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
