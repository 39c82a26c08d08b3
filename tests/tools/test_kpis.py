"""Week KPIs (tools/insights/kpis.py) against their definitions written out with pandas groupbys, on a
small hand-made table with refunds, free orders, several orders on one day, orders after the
week and a row without a customer id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.insights.kpis import ACTIVE_DAYS, week_kpis


def by_definition(orders: pd.DataFrame, as_of) -> dict:
    as_of = pd.Timestamp(as_of).normalize()
    end = as_of + pd.Timedelta(days=1)
    o = orders.loc[orders["order_date"] < end]
    buys = o.loc[o["amount"] >= 0]
    last = buys.groupby("customer_id")["order_date"].max()
    days = (
        buys.assign(day=buys["order_date"].dt.normalize()).groupby("customer_id")["day"].nunique()
    )
    age = (as_of - last.dt.normalize()).dt.days
    week = o.loc[o["order_date"] >= end - pd.Timedelta(days=7)]
    wb = week.loc[week["amount"] >= 0]
    n = wb["order_id"].nunique()
    return {
        "customers": len(last),
        "active_customers": int((age < ACTIVE_DAYS).sum()),
        "repeat_rate": float((days >= 2).mean()) if len(days) else 0.0,
        "churned_this_week": int(((age >= ACTIVE_DAYS) & (age < ACTIVE_DAYS + 7)).sum()),
        "revenue_week": float(week["amount"].sum()),
        "orders_week": int(n),
        "aov_week": float(wb["amount"].sum() / n) if n else 0.0,
    }


def orders_table(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01")
    when = start + pd.to_timedelta(rng.integers(0, 400 * 24 * 60, n), unit="min")
    amount = np.round(rng.gamma(2.0, 30.0, n), 2)
    amount[rng.random(n) < 0.05] *= -1  # refunds
    amount[rng.random(n) < 0.02] = 0.0  # free orders
    cust = rng.integers(0, 400, n).astype(str).astype(object)
    cust[5] = None  # no customer id: counted in the week's revenue, not as a customer
    return pd.DataFrame(
        {
            "customer_id": cust,
            "order_id": [f"#{i // 2}" for i in range(n)],  # 2 lines an order
            "order_date": when,
            "amount": amount,
        }
    )


@pytest.mark.parametrize(
    "as_of", ["2025-01-01", "2025-03-15", "2025-06-30", "2026-02-04", "2027-01-01"]
)
def test_week_kpis_match_their_definitions(as_of):
    orders = orders_table()
    got = week_kpis(orders, None, as_of=as_of)
    want = by_definition(orders, as_of)
    assert got["as_of"] == str(pd.Timestamp(as_of).date())
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9), key


def test_week_kpis_before_the_first_order_and_with_scores():
    orders = orders_table()
    empty = week_kpis(orders, None, as_of="2024-06-01")
    assert (
        empty["customers"],
        empty["active_customers"],
        empty["repeat_rate"],
        empty["orders_week"],
        empty["aov_week"],
    ) == (0, 0, 0.0, 0, 0.0)
    scores = pd.DataFrame({"predicted_clv": [100.0, 300.0], "churn_probability": [0.2, 0.7]})
    k = week_kpis(orders, scores, as_of="2025-06-30", cac=40)
    assert (k["predicted_value"], k["avg_clv"], k["at_risk"], k["ltv_cac"]) == (
        400.0,
        200.0,
        1,
        5.0,
    )
