"""The weekly brief: written offline to the workspace, and every number in it is a tool
result (the KPIs recomputed independently, the rest read back from the facts)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from agent.display import fmt
from agent.reports.brief import weekly_brief
from agent.settings import Settings
from agent.workspace import Workspace
from tools.demo.store import generate_store
from tools.ingest.load import load_store
from tools.insights.kpis import week_kpis


@pytest.fixture(scope="module")
def brief(tmp_path_factory):
    root = tmp_path_factory.mktemp("brief")
    generate_store(root / "store", customers=1500, seed=4)
    st = load_store(root / "store")
    ws = Workspace.at(root / "ws")
    return st, weekly_brief(st, workspace=ws, cac=40.0, settings=Settings(_env_file=None))


def test_files_written(brief):
    _, b = brief
    for key in ("md", "html", "json", "clv_distribution", "churn_by_segment", "segment_migration"):
        assert pd.io.common.file_exists(b.paths[key]), key
    assert "<table>" in b.html and "<img" in b.html
    assert "No language model wrote this" in b.markdown


def test_kpis_equal_an_independent_computation(brief):
    st, b = brief
    end = pd.Timestamp(b.week_ending)
    k = week_kpis(st.orders, None, as_of=end)
    assert f"| Active customers (90 days) | {fmt(k['active_customers'])} |" in b.markdown
    assert f"| Revenue this week | {fmt(k['revenue_week'], 'money')} |" in b.markdown
    assert f"| Repeat-purchase rate | {fmt(k['repeat_rate'], 'pct')} |" in b.markdown
    ltv = b.facts["kpi"]["avg_clv"] / 40.0
    assert fmt(ltv, "ratio") in b.markdown


def _fact_numbers(obj) -> list[float]:
    """Every number among the facts (nested dicts and lists), as it is stored."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _fact_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _fact_numbers(v)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [float(obj)]
    if isinstance(obj, str) and re.fullmatch(r"\d+", obj):
        return [float(obj)]  # a numeric id, written as it is
    return []


def _is_a_fact(token: str, facts: list[float]) -> bool:
    """Whether a number written in the brief is a fact rounded as written: 1,234 is a fact in
    [1233.5, 1234.5); 12.5% or +1.2 pts is a share (12.5 / 100) within half its last digit."""
    text = token.replace(",", "")
    pct = text.endswith(("%", " pts"))
    text = text.removesuffix("%").removesuffix(" pts").lstrip("+")
    written = float(text)
    half = 0.5 * 10 ** -(len(text.split(".")[1]) if "." in text else 0) + 1e-9
    scale = 100.0 if pct else 1.0
    return any(abs(abs(v) * scale - abs(written)) <= half for v in facts)


def test_every_number_in_the_brief_is_a_fact(brief):
    """Checked apart from the brief's own formatting: each number of the Markdown must be one of
    the facts' numbers, rounded as it is written (dates, customer ids, chart names and the rules
    of thumb 3, 12, 90 aside)."""
    _, b = brief
    facts = _fact_numbers(b.facts) + [0.0, 3.0, 12.0, 90.0]
    text = re.sub(r"\d{4}-\d{2}-\d{2}", " ", b.markdown)  # dates
    text = re.sub(r"\bC\d{6}\b", " ", text)  # customer ids
    text = re.sub(r"\([a-z_]+\.png\)", " ", text)  # chart files
    tokens = re.findall(r"[+-]?\d+(?:,\d{3})*(?:\.\d+)?(?:%| pts)?", text)
    assert tokens
    stray = [t for t in tokens if not _is_a_fact(t, facts)]
    assert not stray, stray[:10]


class _Recorder:
    """A chat model stand-in: returns a canned reply and records what it was sent."""

    def __init__(self, reply: str):
        self.reply, self.sent = reply, []

    def invoke(self, messages):
        from langchain_core.messages import AIMessage

        self.sent.append(messages)
        return AIMessage(content=self.reply)


def test_llm_narrator_restates_facts_only(brief):
    from agent.reports.narrator import display_facts, llm_narrator, stray_numbers
    from agent.reports.render import template_opening

    st, b = brief
    shown = display_facts(b.facts)
    good = (
        f"This week brought in {shown['revenue_week']} from {shown['orders_week']} orders; "
        f"{shown['churned_this_week']} customers slipped out of the active window."
    )
    model = _Recorder(good)
    narrate = llm_narrator(model, model_name="test-model")
    text = narrate(b.facts)
    assert text.startswith("This week brought in") and "test-model" in text
    assert not stray_numbers(text, b.facts)
    # the prompt is the facts only: no personal data, and within the token budget
    sent = " ".join(m.content for m in model.sent[0])
    for email in st.customers["email"].head(200):
        assert email not in sent
    assert 0 < narrate.prompt_tokens <= 8000
    # a reply with an invented number is set aside for the template
    liar = llm_narrator(_Recorder("Revenue grew by 12,345,678 this week."), model_name="test-model")
    text = liar(b.facts)
    assert text.startswith(template_opening(b.facts)) and "set aside" in text
    assert "12,345,678" not in text and liar.set_aside == ["12,345,678"]


def test_model_health_carries_the_scoring_warnings(brief):
    """A short history's warning reaches the brief's model-health section, its numbers as facts."""
    from agent.reports.narrator import stray_numbers
    from agent.reports.render import render_markdown

    _, b = brief
    assert b.facts["model"]["warnings"] == []  # two years of history, a 365-day horizon
    warning = (
        "The order history covers 40 days (2026-09-22 to 2026-10-31), less than the "
        "365-day horizon: the predictions extrapolate beyond what the data shows."
    )
    facts = {**b.facts, "model": {**b.facts["model"], "warnings": [warning]}}
    md = render_markdown(facts, pd.Timestamp(b.week_ending), "Opening.")
    assert "Note: The order history covers 40 days" in md
    assert "40" not in stray_numbers(md, facts)


def test_html_is_self_contained_and_prints(brief):
    """brief.html opens anywhere: its charts are embedded (data: URIs), it links no other file,
    and it carries print rules; the PNGs are still written next to the Markdown, which links them."""
    _, b = brief
    srcs = re.findall(r'src="([^"]*)"', b.html)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(?:src|href)="(?!data:)', b.html)
    assert "@media print" in b.html and "<thead>" in b.html and "<title>" in b.html
    assert set(b.images) == {"clv_distribution", "churn_by_segment", "segment_migration"}
    assert "(clv_distribution.png)" in b.markdown
    with open(b.paths["html"]) as fh:
        assert fh.read() == b.html


def test_titles_follow_the_horizon_and_money_the_currency(tmp_path):
    """A 180-day window is named as such in the KPI table and the charts; amounts carry the
    store's currency (here the setting, since the demo files do not say)."""
    from agent.reports import charts
    from agent.reports.narrator import display_facts
    from agent.settings import Settings

    generate_store(tmp_path / "store", customers=300, seed=5)
    st = load_store(tmp_path / "store")
    b = weekly_brief(
        st,
        workspace=Workspace.at(tmp_path / "ws"),
        horizon_days=180,
        settings=Settings(currency="GBP", _env_file=None),
    )
    assert "| Predicted value of the base (next 6 months) |" in b.markdown
    assert "12-month" not in b.markdown and "12 months" not in b.markdown
    assert re.search(r"\| Revenue this week \| [\d,]+ GBP \|", b.markdown)
    assert display_facts(b.facts)["prediction_window"] == "the next 6 months"
    assert charts.horizon_words(365) == "12 months" and charts.horizon_words(90) == "3 months"
    assert charts.horizon_words(45) == "45 days"
    fig = charts.clv_distribution(
        st.orders.assign(predicted_clv=1.0).head(5), horizon_days=180, currency="GBP"
    )
    assert fig.axes[0].get_title() == "Predicted customer value (next 6 months)"
    assert "GBP" in fig.axes[0].get_xlabel()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_model_health_names_the_chosen_models_and_their_evidence(tmp_path):
    """CDNOW sample at its published split: the brief's model health says, in words, which
    model the rolling-origin backtests chose per target and by how much it won."""
    from agent.reports.brief import model_health
    from agent.reports.render import chosen_words
    from evals.quality.cdnow import CALIBRATION_END, HOLDOUT_DAYS, write_store
    from tools.ingest.load import load_orders
    from tools.scoring.score import score_store

    orders, _ = load_orders(write_store(tmp_path / "cdnow"), rejects_dir=tmp_path)
    params = score_store(orders, as_of=CALIBRATION_END, horizon_days=HOLDOUT_DAYS).params
    m = model_health(params)
    value = chosen_words(m, "value")
    ev = params["model_selection"]["evidence"]["value:paretonbd"]
    assert value.startswith("Pareto/NBD (CLV Spearman +") and f"over {ev['cutoffs']} " in value
    assert f"{ev['mean_gain']:+.3f}" in value
    assert "paretonbd" not in value
    # a target left to the purchase model has no evidence line
    assert (
        chosen_words({"choice": {"churn": "bgnbd"}, "selection": {}}, "churn")
        == "the fitted purchase model"
    )
