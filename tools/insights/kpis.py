"""Store KPIs for a week: the numbers the weekly brief and the assistant report.

Definitions (one place, so the brief, the chat and the app agree):
- active customers: bought at least once in the ACTIVE_DAYS (90) days up to `as_of`;
- repeat-purchase rate: share of customers (bought on or before `as_of`) with 2+ purchase days;
- churned this week: customers whose last purchase fell out of the active window during the
  week ending `as_of` (last purchase 91-97 days before `as_of`, none since);
- revenue and AOV of the week: net revenue of (as_of - 7 days, as_of]; AOV = purchase revenue
  per order in the week;
- predicted value of the base: sum of `predicted_clv` of the scores (12 months when the
  scores' horizon is 365 days);
- LTV:CAC: average predicted CLV per customer / CAC (rule of thumb: at least 3);
- at risk: churn_probability > AT_RISK_PROBABILITY (`tools.schema`, 0.5), `at_risk_mask`;
- value at stake: churn_probability x predicted_clv, per customer (`value_at_stake`); the value
  at stake of a group is the sum over its customers. Every caller uses these two functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tools.ingest.keys import day_keys
from tools.schema import AT_RISK_PROBABILITY, purchase_mask

ACTIVE_DAYS = 90


def at_risk_mask(scores: pd.DataFrame) -> pd.Series:
    """Customers at risk: churn probability above AT_RISK_PROBABILITY (more likely to lapse)."""
    return scores["churn_probability"] > AT_RISK_PROBABILITY


def value_at_stake(scores: pd.DataFrame) -> pd.Series:
    """Per customer: churn probability x predicted CLV, the expected value lost if nothing is done."""
    return scores["churn_probability"] * scores["predicted_clv"]


def week_kpis(
    orders: pd.DataFrame, scores: pd.DataFrame | None, *, as_of, cac: float | None = None
) -> dict:
    as_of = pd.Timestamp(as_of).normalize()
    end = as_of + pd.Timedelta(days=1)
    when = orders["order_date"].to_numpy("datetime64[ns]")
    amount = orders["amount"].to_numpy(float)
    before = when < end.to_datetime64()
    customer, _ = pd.factorize(orders["customer_id"])  # -1: no customer id
    purchase = purchase_mask(orders)
    buy = before & purchase & (customer >= 0)
    # purchase days per customer: the distinct (customer, day) pairs, sorted by customer, day
    day = when[buy].astype("datetime64[D]").astype(np.int64)
    pairs, span, first = day_keys(customer[buy], day)
    pairs = np.unique(pairs)
    if len(pairs):
        who = pairs // span
        last = np.r_[who[1:] != who[:-1], True]  # each customer's last pair: the last purchase day
        purchase_days = np.diff(np.r_[-1, np.flatnonzero(last)])
        last_day = pairs[last] % span + first
    else:
        purchase_days = last_day = np.zeros(0, np.int64)
    age = as_of.to_datetime64().astype("datetime64[D]").astype(np.int64) - last_day
    week = before & (when >= (end - pd.Timedelta(days=7)).to_datetime64())
    week_buys = week & purchase
    n_orders = int(pd.Series(orders["order_id"].to_numpy()[week_buys]).nunique())
    buy_revenue = float(pd.Series(amount[week_buys]).sum())
    k: dict[str, Any] = {
        "as_of": str(as_of.date()),
        "customers": int(len(purchase_days)),
        "active_customers": int((age < ACTIVE_DAYS).sum()),
        "repeat_rate": float((purchase_days >= 2).mean()) if len(purchase_days) else 0.0,
        "churned_this_week": int(((age >= ACTIVE_DAYS) & (age < ACTIVE_DAYS + 7)).sum()),
        "revenue_week": float(pd.Series(amount[week]).sum()),
        "orders_week": n_orders,
        "aov_week": buy_revenue / n_orders if n_orders else 0.0,
    }
    if scores is not None and len(scores):
        k["predicted_value"] = float(scores["predicted_clv"].sum())
        k["avg_clv"] = float(scores["predicted_clv"].mean())
        risk = at_risk_mask(scores)
        k["at_risk"] = int(risk.sum())
        k["at_risk_value_at_stake"] = float(value_at_stake(scores.loc[risk]).sum())
        if cac:
            k["cac"] = float(cac)
            k["ltv_cac"] = k["avg_clv"] / float(cac)
    return k


def change(now: dict, before: dict | None) -> dict:
    """Week-over-week change of every numeric KPI present in both (now - before)."""
    if not before:
        return {}
    return {
        k: now[k] - before[k]
        for k, v in now.items()
        if isinstance(v, (int, float)) and isinstance(before.get(k), (int, float))
    }
