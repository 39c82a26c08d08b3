"""Issue 18: the loop that grades itself, on a small demo store over two simulated weeks.

A brief written a week after another grades the earlier forecast (against orders counted
here independently) and the campaigns (against `campaign_results` recomputed here), and the
plan's save rates move from the playbooks' priors once a campaign has matured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from agent.workspace import Workspace


@pytest.fixture(autouse=True)
def _local_database(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    from agent.cli.demo_loop import run_loop
    from tools.demo.store import generate_store

    root = tmp_path_factory.mktemp("loop")
    generate_store(root / "store", customers=1500, seed=4, end_date="2026-06-30")
    ws = Workspace.at(root / "ws")
    result = run_loop(root / "store", ws, weeks=2, window_days=7, briefs=True)
    return root, ws, result


def _brief_facts(path: str) -> dict:
    return json.loads(open(path.replace("brief.md", "brief.json")).read())


def test_the_loop_plans_approves_exports_and_the_orders_arrive(loop):
    from tools.ingest.load import load_store

    root, ws, result = loop
    assert [w["as_of"] for w in result.weeks] == ["2026-06-30", "2026-07-07"]
    first = result.weeks[0]
    assert first["treated"] > 100 and first["control"] > 30
    assert first["approved"] == first["treated"] and first["exported"] > 0
    st = load_store(root / "store")
    assert st.orders["order_date"].max() >= pd.Timestamp("2026-07-13")  # two weeks arrived
    assert (ws.scores / "forecast_2026-07-07.parquet").exists()  # the snapshot kept its forecast
    truth = pd.read_csv(root / "store" / "loop_truth.csv")
    assert set(truth["arm"]) == {"treated", "control"}
    assert not truth.loc[
        truth["arm"] == "control", "responder"
    ].any()  # the control is never treated


def test_a_brief_a_week_later_grades_the_forecast(loop):
    from tools.ingest.load import load_store
    from tools.insights.forecast import occasions

    root, ws, result = loop
    md = Path(result.briefs[-1]).read_text()
    assert "## Last week's forecast against what happened" in md
    f = _brief_facts(result.briefs[-1])["forecast_check"]
    g = f["graded"][0]
    assert (g["as_of"], g["through"], g["days"]) == ("2026-07-07", "2026-07-14", 7)
    # the actual orders, counted here: purchase occasions of the snapshot's customers in the week
    st = load_store(root / "store")
    scored = set(
        pd.read_parquet(ws.scores / "scores_2026-07-07.parquet")["customer_id"].astype(str)
    )
    occ = occasions(st.orders, "2026-07-07", "2026-07-14")
    assert g["orders_actual"] == occ.loc[occ.index.isin(scored), "bought"].sum() > 0
    assert g["orders_low"] <= g["orders_forecast"] <= g["orders_high"]
    assert f"they placed {g['orders_actual']:,.0f} orders" in md
    assert ("**Alarm:**" in md) == (not (g["orders_ok"] and g["revenue_ok"]))
    assert "called at risk" in md and "called safe" in md
    assert f["calibration"]["windows"] >= 1 and "Calibration of the churn probabilities" in md


def test_a_brief_a_week_later_reads_the_campaigns(loop):
    from agent.approvals.queue import open_queue
    from agent.reports.campaigns import campaign_results, list_campaigns
    from tools.ingest.load import load_store

    root, ws, result = loop
    md = Path(result.briefs[-1]).read_text()
    rows = {r["campaign_id"]: r for r in _brief_facts(result.briefs[-1])["campaigns"]}
    first = rows["week-2026-07-01"]
    assert first["complete"] and first["status"] != "too early"
    camp = next(c for c in list_campaigns(open_queue(ws.root)) if c.id == "week-2026-07-01")
    st = load_store(root / "store")
    again = campaign_results(
        st.orders.loc[st.orders["order_date"] < pd.Timestamp("2026-07-15")], camp
    ).iloc[0]
    assert (
        first["treated_buyers"] == again.treated_buyers
        and first["control_buyers"] == again.control_buyers
    )
    assert first["kept_share"] == pytest.approx(again.uplift / (1 - again.control_rate))
    line = next(ln for ln in md.splitlines() if ln.startswith("| week-2026-07-01 |"))
    assert first["status"] in line and "%" in line
    assert "## What the campaigns taught the plan" in md


def test_every_number_in_the_loop_brief_is_a_fact(loop):
    from agent.reports.narrator import stray_numbers

    _, _, result = loop
    md = Path(result.briefs[-1]).read_text()
    facts = _brief_facts(result.briefs[-1])
    text = re.sub(r"\bC\d{6}\b", " ", md)
    assert not stray_numbers(text, facts), stray_numbers(text, facts)[:10]


def test_the_plan_uses_the_learnt_save_rates(loop):
    from agent.approvals.queue import open_queue
    from agent.reports.campaigns import list_campaigns

    root, ws, result = loop
    learning = _brief_facts(result.briefs[-1])["learning"]
    assert learning["plays"], "a matured campaign teaches every play it ran"
    q = open_queue(ws.root)
    second = next(c for c in list_campaigns(q) if c.id == "week-2026-07-08")
    learnt = {
        p["playbook_id"]: p["posterior_mean"]
        for p in _brief_facts(result.briefs[0])["learning"]["plays"]
    }
    used = second.settings["save_rates"]
    moved = [pid for pid in used if pid in learnt]
    assert moved and all(used[pid] == pytest.approx(learnt[pid], abs=0.02) for pid in moved)


def test_the_app_brief_tab_shows_the_graded_forecast_and_campaigns(loop):
    """The Brief tab (`ui.handlers.make_brief`) of the store a week after the last brief shows
    the grading sections, as the merchant sees them."""
    from agent.settings import Settings
    from ui.handlers import AppContext, make_brief

    root, ws, _ = loop
    ctx = AppContext(
        root / "store", ws.root, settings=Settings().model_copy(update={"model": None})
    )
    out = make_brief(ctx, "", None)
    assert out[0].startswith("Brief for the week ending"), out[0]
    shown = out[6]
    assert "Last week's forecast against what happened" in shown
    assert re.search(
        r"(?i)campaign", shown.split("Last week's forecast against what happened", 1)[1]
    )
