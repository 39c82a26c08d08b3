"""Prioritisation: the EV formula by hand, play choice, budget, caps, consent, control group."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agent.outreach.prioritise import prioritise
from agent.outreach.value import expected_value
from agent.settings import Settings
from knowledge import builtin_playbook_dir, load_playbooks

WEEK = "2026-11-02"


@pytest.fixture(autouse=True)
def _local_database(monkeypatch):
    """The queue is the workspace's SQLite file, whatever DATABASE_URL says outside."""
    monkeypatch.delenv("DATABASE_URL", raising=False)


def settings(**kw) -> Settings:
    base = dict(
        discount_cap=0.15, weekly_contact_budget=100, contact_cap_days=14, control_share=0.0, seed=7
    )
    return Settings(**{**base, **kw})


def scores(n: int, **cols) -> pd.DataFrame:
    base = {
        "customer_id": [f"C{i:04d}" for i in range(n)],
        "churn_probability": 0.5,
        "predicted_clv": 200.0,
        "orders_to_date": 4,
        "revenue_to_date": 200.0,
        "churn_reason": "price_sensitivity",
        "segment": "At risk",
        "clv_tier": "medium",
        "next_best_product": "",
    }
    return pd.DataFrame({**base, **cols})


def customers(ids, *, email=True, sms=False) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": list(ids),
            "accepts_email": email,
            "accepts_sms": sms,
            "first_name": "Ann",
            "email": [f"{i}@example.com" for i in ids],
        }
    )


DISCOUNT_PLAY = {
    "id": "price-save",
    "title": "Price save",
    "prior_uplift": 0.08,
    "channels": ["email", "sms"],
    "offer_type": "discount",
    "churn_reasons": ["price_sensitivity"],
    "segments": ["At risk"],
    "clv_tiers": ["medium", "low"],
}


@pytest.fixture(scope="module")
def builtin():
    return list(load_playbooks([builtin_playbook_dir()]).playbooks)


def test_expected_value_by_hand():
    s = scores(1)
    plan = prioritise(
        s,
        customers(s["customer_id"]),
        [DISCOUNT_PLAY],
        settings=settings(),
        week_of=WEEK,
        campaign_id="c1",
    )
    [row] = plan.chosen
    # discount 10% (under the 15% cap) of an average order of 200/4 = 50 -> 5.00;
    # redemption = 1 - 0.5 * (1 - 0.08) = 0.54; email costs 0.01
    assert row["offer_percent"] == pytest.approx(0.10)
    assert row["offer_value"] == pytest.approx(5.0)
    assert row["redemption"] == pytest.approx(0.54)
    assert row["offer_cost"] == pytest.approx(2.70)
    assert row["expected_value"] == pytest.approx(0.5 * 200 * 0.08 - (5.0 * 0.54 + 0.01))
    assert row["expected_value"] == pytest.approx(5.29)
    assert expected_value(
        churn_probability=0.5,
        clv=200,
        save_rate=0.08,
        offer_value=5,
        redemption=0.54,
        channel_cost=0.01,
    ) == pytest.approx(5.29)
    assert "5.29" in row["reason"] and "price sensitivity" in row["reason"]


def test_high_clv_at_risk_gets_personal_outreach_not_a_discount(builtin):
    s = scores(
        2,
        clv_tier="high",
        predicted_clv=2000.0,
        churn_probability=0.6,
        churn_reason=["fading_engagement", "price_sensitivity"],
        segment="At risk",
    )
    plan = prioritise(
        s, customers(s["customer_id"]), builtin, settings=settings(), week_of=WEEK, campaign_id="c1"
    )
    rows = {r["customer_id"]: r for r in plan.chosen}
    vip = rows["C0000"]
    assert vip["playbook_id"] == "vip-personal-outreach"
    assert vip["channel"] == "personal_email" and vip["offer_percent"] == 0
    assert "no discount" in vip["reason"]
    for r in plan.chosen:
        assert r["offer_type"] != "discount"
    # a medium-CLV price-sensitive customer may get the discount play
    m = prioritise(
        scores(1),
        customers(["C0000"]),
        builtin,
        settings=settings(),
        week_of=WEEK,
        campaign_id="c1",
    )
    assert m.chosen[0]["clv_tier"] == "medium"


def test_weekly_budget_counts_contacts_already_made_this_week():
    s = scores(30, predicted_clv=np.arange(30) * 10.0 + 100)
    plan = prioritise(
        s,
        customers(s["customer_id"]),
        [DISCOUNT_PLAY],
        settings=settings(weekly_contact_budget=10),
        week_of=WEEK,
        campaign_id="c1",
    )
    assert len(plan.chosen) == 10
    assert {r["customer_id"] for r in plan.chosen} == {
        f"C{i:04d}" for i in range(20, 30)
    }  # highest EV
    assert sum("weekly contact budget" in k.why for k in plan.skipped) == 20
    log = pd.DataFrame(
        {"customer_id": ["X1", "X2", "X3", "X4"], "contacted_on": pd.Timestamp("2026-11-03")}
    )
    plan = prioritise(
        s,
        customers(s["customer_id"]),
        [DISCOUNT_PLAY],
        settings=settings(weekly_contact_budget=10),
        week_of=WEEK,
        campaign_id="c2",
        contact_log=log,
    )
    assert len(plan.chosen) == 6


def test_frequency_cap_from_the_contact_log():
    s = scores(3)
    log = pd.DataFrame(
        {
            "customer_id": ["C0000", "C0001"],
            "contacted_on": [
                pd.Timestamp(WEEK) - pd.Timedelta(days=5),
                pd.Timestamp(WEEK) - pd.Timedelta(days=20),
            ],
        }
    )
    plan = prioritise(
        s,
        customers(s["customer_id"]),
        [DISCOUNT_PLAY],
        settings=settings(),
        week_of=WEEK,
        campaign_id="c1",
        contact_log=log,
    )
    assert {r["customer_id"] for r in plan.chosen} == {"C0001", "C0002"}
    [skip] = [k for k in plan.skipped if k.customer_id == "C0000"]
    assert skip.why.startswith("frequency cap")


def test_consent_decides_the_channel_or_skips():
    s = scores(3)
    c = customers(s["customer_id"])
    c["accepts_email"] = [True, False, False]
    c["accepts_sms"] = [False, True, False]
    plan = prioritise(s, c, [DISCOUNT_PLAY], settings=settings(), week_of=WEEK, campaign_id="c1")
    chan = {r["customer_id"]: r["channel"] for r in plan.chosen}
    assert chan == {"C0000": "email", "C0001": "sms"}
    assert [k.why.split(":")[0] for k in plan.skipped] == ["no consent"]
    nobody = prioritise(
        s, None, [DISCOUNT_PLAY], settings=settings(), week_of=WEEK, campaign_id="c1"
    )
    assert nobody.chosen == [] and len(nobody.skipped) == 3


def test_discount_cap_holds():
    s = scores(5)
    plan = prioritise(
        s,
        customers(s["customer_id"]),
        [DISCOUNT_PLAY],
        settings=settings(discount_cap=0.05),
        week_of=WEEK,
        campaign_id="c1",
    )
    assert plan.chosen and all(r["offer_percent"] <= 0.05 for r in plan.chosen)
    none = prioritise(
        s,
        customers(s["customer_id"]),
        [DISCOUNT_PLAY],
        settings=settings(discount_cap=0.0),
        week_of=WEEK,
        campaign_id="c1",
    )
    assert none.chosen == []
    assert all("discount cap is 0" in k.why for k in none.skipped)


def test_control_group_is_seeded_recorded_and_never_contacted(tmp_path):
    from agent.approvals.queue import open_queue
    from agent.reports.campaigns import list_campaigns

    s = scores(2000, predicted_clv=np.linspace(100, 300, 2000))
    c = customers(s["customer_id"])
    st = settings(control_share=0.10, weekly_contact_budget=500)
    a = prioritise(s, c, [DISCOUNT_PLAY], settings=st, week_of=WEEK, campaign_id="wk45")
    b = prioritise(
        s.sample(frac=1, random_state=1),
        c,
        [DISCOUNT_PLAY],
        settings=st,
        week_of=WEEK,
        campaign_id="wk45",
    )
    other = prioritise(s, c, [DISCOUNT_PLAY], settings=st, week_of=WEEK, campaign_id="wk46")
    assert sorted(a.held_out_ids) == sorted(b.held_out_ids)  # same seed + campaign, any row order
    assert set(a.held_out_ids) != set(other.held_out_ids)
    assert 0.07 < len(a.held_out_ids) / 2000 < 0.13
    assert not set(a.treated_ids) & set(a.held_out_ids)
    assert set(a.control_ids) <= set(a.held_out_ids) and a.control_ids
    floor = min(r["expected_value"] for r in a.chosen)
    assert all(r["expected_value"] >= floor for r in a.chosen)
    assert len(a.chosen) == 500
    assert all(
        k.why.startswith("control group") for k in a.skipped if k.customer_id in a.held_out_ids
    )
    q = open_queue(tmp_path / "ws")
    q.add_campaign(a, [])
    [rec] = list_campaigns(q)
    assert rec.control_ids == a.control_ids and rec.held_out_ids == a.held_out_ids
    assert rec.settings["control_share"] == 0.10 and rec.settings["seed"] == 7


def test_plan_is_json_and_has_skips_with_reasons(builtin):
    s = scores(4, churn_reason=["price_sensitivity", "none", "cycle_overdue", "quality_returns"])
    plan = prioritise(
        s, customers(s["customer_id"]), builtin, settings=settings(), week_of=WEEK, campaign_id="c1"
    )
    data = json.loads(plan.to_json())
    assert data["campaign_id"] == "c1" and data["week_of"] == WEEK
    assert {k["customer_id"] for k in data["skipped"]} | {
        r["customer_id"] for r in data["chosen"]
    } == set(s["customer_id"])
    assert any(k["why"] == "no churn reason to act on" for k in data["skipped"])
    assert set(plan.chosen_frame().columns) >= {
        "customer_id",
        "playbook_id",
        "channel",
        "offer",
        "expected_value",
        "reason",
    }
