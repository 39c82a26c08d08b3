"""Measured results: the intervals against published values, and uplift recovery on the demo store."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from agent.reports.campaigns import campaign_results, contact_log, split_ids
from tools.insights.experiments import newcombe_difference, welch_difference, wilson_interval


@pytest.fixture(autouse=True)
def _local_database(monkeypatch):
    """The queue is the workspace's SQLite file, whatever DATABASE_URL says outside."""
    monkeypatch.delenv("DATABASE_URL", raising=False)


def test_newcombe_matches_the_paper():
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II example (56/70 vs 48/80),
    # method 10 (hybrid score): 0.0524 to 0.3339.
    d, lo, hi = newcombe_difference(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=5e-4) and hi == pytest.approx(0.3339, abs=5e-4)
    # Wilson (1927) for 81/263: 0.2553 to 0.3662 (Newcombe 1998b, Table I)
    lo, hi = wilson_interval(81, 263)
    assert lo == pytest.approx(0.2553, abs=5e-4) and hi == pytest.approx(0.3662, abs=5e-4)


def test_welch_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, 10.0, 300), rng.gamma(2.0, 8.0, 200)
    d, lo, hi = welch_difference(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_results_count_buyers_and_revenue_in_the_window():
    orders = pd.DataFrame(
        {
            "customer_id": ["T1", "T1", "T2", "K1", "K2", "T3"],
            "order_date": pd.to_datetime(
                ["2026-11-05", "2026-11-06", "2026-10-30", "2026-11-10", "2026-12-31", "2026-11-07"]
            ),
            "amount": [30.0, -10.0, 50.0, 20.0, 99.0, 0.0],
        }
    )
    camp = {
        "id": "c1",
        "week_of": "2026-11-02",
        "treated_ids": ["T1", "T2", "T3"],
        "control_ids": ["K1", "K2"],
    }
    r = campaign_results(orders, camp, window_days=28).iloc[0]
    assert (r.treated, r.control, r.treated_buyers, r.control_buyers) == (3, 2, 1, 1)
    assert r.treated_rate == pytest.approx(1 / 3) and r.control_rate == pytest.approx(0.5)
    assert r.treated_revenue_per_customer == pytest.approx(20 / 3)  # the return nets
    assert r.control_revenue_per_customer == pytest.approx(10.0)
    assert r.uplift == pytest.approx(1 / 3 - 0.5) and r.uplift_low < r.uplift < r.uplift_high
    assert r.complete and r.end == "2026-11-29"


def test_demo_campaign_uplift_is_recovered(tmp_path):
    from tools.demo import generate_store, simulate_campaign_response
    from tools.ingest.load import load_orders

    store = tmp_path / "store"
    generate_store(store, customers=20000, seed=5)
    orders, _ = load_orders(store / "orders.csv")
    last = orders.groupby("customer_id")["order_date"].max()
    end = orders["order_date"].max().normalize()
    at_risk = last.index[
        (last < end - pd.Timedelta(days=60)) & (last > end - pd.Timedelta(days=540))
    ]
    treated, control = split_ids(at_risk.astype(str), share=0.5, seed=11)
    simulate_campaign_response(
        store, treated, control, start_date="2026-11-02", weeks=8, true_uplift=0.10, append=True
    )
    # the simulated orders lie in the future of the test machine's clock; load them as of later
    after, _ = load_orders(store / "orders.csv", now=dt.datetime(2027, 3, 1))
    camp = {"id": "demo", "week_of": "2026-11-02", "treated_ids": treated, "control_ids": control}
    r = campaign_results(after, camp, window_days=56).iloc[0]
    assert r.treated > 5000 and r.control > 5000
    assert r.uplift_low < 0.10 < r.uplift_high, (r.uplift, r.uplift_low, r.uplift_high)
    assert r.uplift_high - r.uplift_low < 0.04
    assert r.revenue_low > 0  # buyers spend, so the treated group's revenue is higher too


def test_contact_log_from_the_queue(workspace):
    from agent.approvals.queue import open_queue
    from agent.outreach.drafts import Draft
    from agent.outreach.plan import Plan

    q = open_queue(workspace)
    plan = Plan(
        campaign_id="c1",
        week_of="2026-11-02",
        created_at="",
        settings={},
        chosen=[],
        skipped=[],
        control_ids=[],
        held_out_ids=[],
        budget_left=0,
    )
    drafts = [Draft("c1", c, "email", "s", "b", "", 0.0, "", "r", "p") for c in ("A", "B")]
    q.add_campaign(plan, drafts)
    q.add_person("Maria")
    q.reject(2, actor="Maria")
    log = contact_log(q)
    assert log["customer_id"].tolist() == ["A"]
    assert log["contacted_on"].iloc[0] == pd.Timestamp("2026-11-02")


def test_customers_needed_is_the_two_proportion_formula_and_has_its_power():
    from tools.insights.experiments import customers_needed

    # p = 0.6 against 0.8, 5% two-sided, 80% power: 82 a group (Fleiss, Levin & Paik 2003,
    # eq. 4.14 without the continuity correction: 81.2, rounded up)
    assert customers_needed(0.6, 0.2) == (82, 82)
    t, c = customers_needed(0.10, 0.05, ratio=3.0)
    assert t == pytest.approx(3 * c, abs=3)
    # at that size a Newcombe interval excludes zero about 80% of the time
    rng = np.random.default_rng(9)
    found = sum(
        newcombe_difference(rng.binomial(t, 0.15), t, rng.binomial(c, 0.10), c)[1] > 0
        for _ in range(400)
    )
    assert 0.72 < found / 400 < 0.88
    assert customers_needed(0.3, 0.0) is None


def test_results_say_too_early_too_few_or_what_happened():
    rng = np.random.default_rng(4)
    ids_t, ids_c = [f"T{i}" for i in range(2000)], [f"K{i}" for i in range(2000)]
    buy_t = [c for c in ids_t if rng.random() < 0.30]
    buy_c = [c for c in ids_c if rng.random() < 0.15]
    orders = pd.DataFrame(
        {
            "customer_id": buy_t + buy_c + ["X"],
            "order_date": pd.to_datetime(
                ["2026-11-10"] * (len(buy_t) + len(buy_c)) + ["2026-12-31"]
            ),
            "amount": 25.0,
        }
    )
    settings = {
        "save_rates": {"p": 0.2},
        "arms": {c: ["p", "fading_engagement", "At risk"] for c in ids_t},
    }
    big = {
        "id": "big",
        "week_of": "2026-11-02",
        "treated_ids": ids_t,
        "control_ids": ids_c,
        "settings": settings,
    }
    r = campaign_results(orders, big, window_days=28).iloc[0]
    assert r.status == "it worked" and r.expected_save_rate == pytest.approx(0.2)
    assert r.kept_share == pytest.approx(r.uplift / (1 - r.control_rate))
    assert r.incremental_revenue == pytest.approx(r.revenue_difference * 2000)
    assert r.incremental_buyers_low < r.incremental_buyers < r.incremental_buyers_high
    from tools.insights.experiments import customers_needed

    few = pd.DataFrame(
        {
            "customer_id": [f"S{i}" for i in range(10)] + ["Q0", "Q1"],
            "order_date": pd.Timestamp("2026-11-10"),
            "amount": 25.0,
        }
    )
    small = {
        "id": "small",
        "week_of": "2026-11-02",
        "treated_ids": [f"S{i}" for i in range(40)],
        "control_ids": [f"Q{i}" for i in range(12)],
        "settings": {"save_rates": {"p": 0.2}},
    }
    r = campaign_results(pd.concat([few, orders.tail(1)]), small, window_days=28).iloc[0]
    assert r.uplift_low < 0 < r.uplift_high and r.status == "too few to tell"
    assert (r.treated_needed, r.control_needed) == customers_needed(
        2 / 12, 0.2 * (1 - 2 / 12), ratio=40 / 12
    )
    assert r.customers_needed == r.treated_needed + r.control_needed > 52
    late = campaign_results(
        orders.iloc[:-1], {**big, "week_of": "2026-11-30"}, window_days=28
    ).iloc[0]
    assert late.status == "too early" and not late.complete
