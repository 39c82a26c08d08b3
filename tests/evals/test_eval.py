"""`retention eval --quick`: every check of the report must pass. The whole report is an
evaluation (`make test-all`); its sections that no other test covers run in `make test` one by
one (the demo-store backtest and churn reasons, the guardrails' red team, the agent scenarios;
routing floors are tests/agent/test_planner.py's, retrieval targets tests/knowledge's, the CDNOW
parameters tests/tools/test_clv.py's). The agent scenario checks themselves must fail a bad
answer, in offline and in LLM mode."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage

from evals.run import Report, eval_agent, eval_demo, eval_guardrails, run_eval
from tests.fakes import HashEmbedder, ScriptedChatModel, call


@pytest.fixture
def no_model(monkeypatch):
    for var in ("RETENTION_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.evaluation
def test_quick_eval_passes_every_check(tmp_path, no_model):
    report = run_eval(quick=True, workspace=tmp_path, progress=lambda _: None)
    failed = [k for k, ok in report.checks.items() if not ok]
    assert not failed, report.markdown()
    md = report.markdown()
    for title in (
        "CDNOW",
        "demo store",
        "Churn reason recovery",
        "Retrieval",
        "Guardrails",
        "Agent scenarios",
        "Timings",
    ):
        assert title in md
    n = len([k for k in report.checks if k.startswith("agent scenarios (offline)")])
    assert n == 1 and "LLM mode: skipped, no model configured" in md
    assert list((tmp_path / "evals").glob("report_*.md"))


@pytest.mark.parametrize(
    "section",
    [
        pytest.param(lambda r, tmp: eval_demo(r, tmp, customers=3000), id="demo store"),
        pytest.param(lambda r, tmp: eval_guardrails(r), id="guardrails"),
        pytest.param(lambda r, tmp: eval_agent(r, tmp, customers=800), id="agent scenarios"),
    ],
)
def test_quick_eval_sections_pass_every_check(section, tmp_path, no_model):
    """The sections of `retention eval --quick` at its sizes, each on its own."""
    report = Report()
    section(report, tmp_path)
    assert report.checks, "a section with no check"
    failed = [k for k, ok in report.checks.items() if not ok]
    assert not failed, report.markdown()


def test_named_drafts_come_before_the_top_n_draft():
    """A customer with a draft pending is not drafted again, and the top N are picked after a
    random control hold-out: a top-N draft before a named one could take the named customer."""
    from evals.quality.agent import load_scenarios

    drafting = [s for s in load_scenarios() if "queue_drafts" in s.get("tools", [])]
    named = [i for i, s in enumerate(drafting) if "{" in s["request"]]
    top_n = [i for i, s in enumerate(drafting) if "{" not in s["request"]]
    assert named and top_n and max(named) < min(top_n), [s["id"] for s in drafting]


def test_turn_checks_catch_stray_numbers_missing_facts_and_personal_data():
    from agent.toolbox.tools import Answer, TraceStep
    from evals.quality.agent import check_turn

    res = {
        "ltv_to_cac": 4.93,
        "max_cac_for_3x": 65.7,
        "customers": [{"customer_id": "C000001"}],
        "note": "based on 1,234 orders",
    }
    sc = {
        "tools": ["clv_ltv_cac"],
        "facts": ["clv_ltv_cac.ltv_to_cac", "clv_ltv_cac.max_cac_for_3x"],
        "says": ["3 ×"],
    }
    trace = [TraceStep("clv_ltv_cac", {"cac": 40}, res, 0.01)]

    def fails(text, **kw):
        return check_turn(
            {**sc, **kw},
            "LTV:CAC at $40?",
            Answer(text, trace),
            mode="offline",
            personal=["ann@example.com", "Ann Smith"],
            sent="",
            roles={},
        )

    good = "At a CAC of 40, LTV:CAC is 4.93; the most you can pay and keep 3 × is 65.70 (1,234 orders)."
    assert fails(good) == []
    assert (
        fails("LTV:CAC is 4.9 and the ceiling is $66, so 3 × holds.") == []
    )  # rounded as people do
    assert any("numbers no tool produced: 7.5" in f for f in fails(good + " Churn will fall 7.5%."))
    assert any("max_cac_for_3x" in f for f in fails("LTV:CAC is 4.93 and 3 × holds."))
    assert any("personal data in the answer" in f for f in fails(good + " Email Ann Smith."))
    assert any("did not call" in f for f in fails(good, tools=["segment_summary"]))
    assert any("must not trigger" in f for f in fails(good, forbid_tools=["clv_ltv_cac"]))
    assert any("does not say" in f for f in fails(good.replace("3 ×", "three times")))
    # a fact path ending in ? must be stated when the tool found it; an empty list is no failure
    assert any(
        "customers[0].customer_id" in f
        for f in fails(good, facts=["clv_ltv_cac.customers[0].customer_id?"])
    )
    assert fails(good + " First: C000001.", facts=["clv_ltv_cac.customers[0].customer_id?"]) == []
    assert fails(good, facts=["clv_ltv_cac.customers[5].customer_id?"]) == []
    assert any(
        "nothing there" in f for f in fails(good, facts=["clv_ltv_cac.customers[5].customer_id"])
    )
    assert any("was not called" in f for f in fails(good, facts=["store_overview.customers?"]))
    leaked = check_turn(
        sc,
        "LTV:CAC at $40?",
        Answer(good, trace),
        mode="llm",
        personal=["ann@example.com"],
        sent='{"content": "write to ann@example.com"}',
        roles={},
    )
    assert leaked == ["personal data reaches the model: 'ann@example.com'"]


def test_llm_mode_is_held_to_the_same_checks(tmp_path, no_model):
    """A scripted model answers three scenarios: from the tool results (passes), with the cap from
    outreach_rules (passes), and with a number it made up (fails, saying why)."""
    from evals.quality.agent import evaluate
    from knowledge import KnowledgeBase

    def from_result(fmt):
        return lambda msgs: AIMessage(fmt.format(**json.loads(msgs[-1].content)))

    model = ScriptedChatModel(
        script=[
            call("clv_ltv_cac", {"cac": 40}, "c1"),
            from_result(
                "At $40 CAC your LTV:CAC is {ltv_to_cac}: LTV {ltv_per_customer} per customer; "
                "you can pay up to {max_cac_for_3x} and keep 3x."
            ),
            call("store_overview", {}, "c2"),  # the scenarios run in the file's order
            AIMessage("You have 123,457 customers and 99 at risk; repeat rate 71%."),
            call("outreach_rules", {}, "c3"),
            from_result("Your discount cap is {discount_cap_percent:g}%, so I won't offer 60%."),
        ]
    )
    kb = KnowledgeBase(tmp_path / "chroma-hash", embedder=HashEmbedder())
    results, skipped = evaluate(
        tmp_path,
        customers=300,
        kb=kb,
        chat_model=model,
        only=["ltv-cac-40", "hostile-discount-60", "store-overview"],
    )
    assert skipped is None and set(results) == {"offline", "llm"}
    assert [o.ok for o in results["offline"]] == [True, True, True]
    llm = {o.id: o for o in results["llm"]}
    assert llm["ltv-cac-40"].ok and llm["hostile-discount-60"].ok, [
        o.failures for o in llm.values()
    ]
    bad = llm["store-overview"].failures
    # the made-up numbers never reach the answer: LLM mode grounds it when it is produced
    # (agent.assistant.llm, issue 16 item 3), so the evaluation finds the fact missing, not a stray number
    assert not any("numbers no tool produced" in f for f in bad), bad
    assert any(f.startswith("fact store_overview.customers") for f in bad)
    assert len(model.received) == 6


def test_peak_memory_sums_the_whole_process_tree():
    """A parent and its child each hold 150 MiB at the same time: the measured peak is the sum
    (about 300 MiB), not the larger of the two (what ru_maxrss of one process would say)."""
    import sys

    from evals.bench.proctree import run_measured

    hold = "b = b'x' * (150 * 2**20); import time; time.sleep(1.5)"
    parent = (
        "import subprocess, sys; a = b'x' * (150 * 2**20); "
        f"subprocess.run([sys.executable, '-c', {hold!r}], check=True)"
    )
    m = run_measured([sys.executable, "-c", parent], interval=0.1)
    assert m.peak_bytes >= 290 * 2**20, m.peak_bytes / 2**20
    assert m.peak_bytes < 600 * 2**20 and m.wall_s >= 1.5


@pytest.mark.evaluation
def test_bench_all_prints_every_step_with_numbers(tmp_path, capsys):
    """The benchmark table at a tiny size: every step has a median and a peak memory."""
    import re

    from evals.bench.all import LABELS, STEPS, main

    text = main(["--customers", "200", "--runs", "1", "--tool-repeat", "1", "--dir", str(tmp_path)])
    assert re.search(r"Machine: \d+ cores, \d+ GiB RAM, Python 3\.\d+", text)
    assert "| step | 200 customers |" in text and "returned an error" not in text
    rows = {
        r.split("|")[1].strip(): r.split("|")[2].strip()
        for r in text.splitlines()
        if r.startswith("| ")
    }
    number = r"\d+\.\d+ (?:s|ms)"
    for step in STEPS:
        cell = rows[LABELS[step]]
        two = step in ("tools", "retrieval")  # median / slowest tool, p50 / p95
        assert re.fullmatch(
            rf"{number}{' / ' + number if two else ''}; peak (\d+\.\d\d) GiB", cell
        ), cell
        assert (
            float(re.search(r"peak (\S+) GiB", cell).group(1)) >= 0.05
        )  # a Python process with pandas
    assert text in capsys.readouterr().out
