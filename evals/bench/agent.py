"""Benchmark the assistant: median latency of each tool and of an offline chat turn on a
generated demo store (default 100,000 customers), with the scores cached.

    python -m evals.bench.agent [--customers 100000] [--dir /tmp/retention-bench] [--repeat 5]

Targets (not a timed test): each tool <= 1 s with scores cached; an offline turn <= 2 s.
The first (cold) call of a tool is reported apart: it builds per-session indexes once.
weekly_brief is only timed with --with-brief (it scores the previous week on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

TURNS = [
    "who should I contact this week?",
    "why is customer {cid} at risk?",
    "tell me about {cid}",
    "CLV by segment",
    "how many champions do I have and how did that change?",
    "what should I cross-sell to {cid}?",
    "what is my LTV:CAC at $40 CAC?",
    "which playbook for price-sensitive churners?",
    "show me high value customers at risk",
    "how is my store doing?",
]


def focus_customer(session) -> str:
    """The most valuable customer more likely than not to churn: the one the per-customer
    tools are timed on."""
    s = session.scores
    risky = s.loc[s["churn_probability"] > 0.5]
    return str((risky if len(risky) else s).nlargest(1, "predicted_clv")["customer_id"].iloc[0])


def tool_calls(cid: str, *, with_brief: bool = False) -> list[tuple[str, dict]]:
    """Every tool of the assistant once (two filters of at_risk_customers), as the model calls them."""
    calls: list[tuple[str, dict]] = [
        ("store_overview", {}),
        ("at_risk_customers", {"limit": 10}),
        ("at_risk_customers", {"segment": "Champions", "clv_tier": "high"}),
        ("explain_customer", {"customer_id": cid}),
        ("segment_summary", {}),
        ("segment_migration", {}),
        ("clv_ltv_cac", {"cac": 40}),
        ("next_best_product", {"customer_id": cid}),
        ("search_playbooks", {"query": "price sensitive churners", "reason": "price_sensitivity"}),
        ("prioritise_interventions", {"limit": 10}),
        ("draft_message", {"customer_id": cid}),
    ]
    if with_brief:
        calls.append(("weekly_brief", {}))
    return calls


def time_tools(runner, calls: list[tuple[str, dict]], *, repeat: int) -> dict[str, dict]:
    """Each call run `repeat` + 1 times through the assistant's tool runner: the first (cold)
    call apart, the median of the others (weekly_brief: once)."""
    tools = {}
    for name, a in calls:
        times = []
        for _ in range(1 if name == "weekly_brief" else repeat + 1):
            t = time.perf_counter()
            res = runner.call(name, a)
            times.append(time.perf_counter() - t)
        key = name + (
            ""
            if not a or name in ("explain_customer", "next_best_product", "draft_message")
            else "(" + ",".join(f"{k}={v}" for k, v in a.items()) + ")"
        )
        tools[key] = {
            "cold_s": round(times[0], 3),
            "median_s": round(statistics.median(times[1:] or times), 3),
            "ok": not isinstance(res, str),
        }
    return tools


def tool_summary(tools: dict[str, dict]) -> dict:
    """The median over tools of their median latency, and the slowest tool's median."""
    slowest = max(tools, key=lambda k: tools[k]["median_s"])
    return {
        "median_tool_s": round(statistics.median(v["median_s"] for v in tools.values()), 3),
        "max_tool_median_s": tools[slowest]["median_s"],
        "slowest_tool": slowest,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dir", type=Path, default=Path("/tmp/retention-bench"))
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--with-brief", action="store_true")
    args = p.parse_args(argv)

    from agent.assistant.chat import Assistant
    from agent.assistant.session import StoreSession
    from agent.workspace import Workspace
    from tools.demo.store import generate_store

    store = args.dir / f"store-{args.customers}-{args.seed}"
    ws = Workspace.at(args.dir / f"ws-{args.customers}-{args.seed}")
    report: dict = {"customers": args.customers, "seed": args.seed}
    if not (store / "orders.csv").exists():
        t = time.perf_counter()
        generate_store(store, customers=args.customers, seed=args.seed)
        report["generate_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    StoreSession(store, ws, progress=lambda m: print(f"  {m}", flush=True))
    report["first_session_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    session = StoreSession(store, ws)
    report["cached_session_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    session.kb.search("warm up", k=1)
    report["kb_ready_s"] = round(time.perf_counter() - t, 2)

    assistant = Assistant(session)
    cid = focus_customer(session)
    tools = time_tools(
        assistant.runner, tool_calls(cid, with_brief=args.with_brief), repeat=args.repeat
    )
    report["tools"] = tools
    assistant.ask("hello")  # loads the intent examples' embeddings once
    turns: dict[str, dict[str, Any]] = {}
    for q in TURNS:
        q = q.format(cid=cid)
        t = time.perf_counter()
        ans = assistant.ask(q)
        turns[q] = {"s": round(time.perf_counter() - t, 3), "tools": [x.tool for x in ans.trace]}
    report["offline_turns"] = turns
    report.update(tool_summary(tools))
    report["median_turn_s"] = round(statistics.median(v["s"] for v in turns.values()), 3)
    report["max_turn_s"] = max(v["s"] for v in turns.values())
    out = ws.root / "bench_agent.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
