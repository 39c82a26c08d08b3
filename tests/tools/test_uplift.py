"""Issue 18, part 3: the T-learner finds who a play moves, and the plan ranks by it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.models.uplift import NotEnoughCampaigns, fit_uplift


def _rows(rng, n):
    """Customers whose response to the play depends on how long ago they last bought: the
    recent ones are persuadable (+25 points), the long gone barely (+2), whatever their risk."""
    days = rng.uniform(10, 500, n)
    X = pd.DataFrame(
        {
            "churn_probability": np.clip(days / 500 + rng.normal(0, 0.05, n), 0, 1),
            "predicted_clv": rng.gamma(2, 30, n),
            "expected_orders": rng.gamma(2, 0.5, n),
            "p_alive": rng.uniform(0, 1, n),
            "orders_to_date": rng.integers(1, 8, n),
            "revenue_to_date": rng.gamma(2, 50, n),
            "avg_days_between_orders": rng.uniform(20, 200, n),
            "days_since_last": days,
            "playbook_id": "p",
            "churn_reason": "fading_engagement",
            "segment": "At risk",
        }
    )
    base = np.clip(0.4 - days / 1500, 0.02, 1)
    tau = np.where(days < 200, 0.25, 0.02)
    return X, base, tau


def test_the_t_learner_ranks_the_persuadable_first():
    rng = np.random.default_rng(0)
    X, base, tau = _rows(rng, 6000)
    treated = rng.random(len(X)) < 0.6
    bought = rng.random(len(X)) < base + treated * tau
    model = fit_uplift(X, treated, bought, seed=0)
    Xn, _, tau_n = _rows(rng, 3000)
    pred = model.predict_uplift(Xn)
    top = np.argsort(-pred)[:1000]
    risk = np.argsort(-Xn["churn_probability"].to_numpy())[:1000]
    assert tau_n[top].sum() > 1.5 * tau_n[risk].sum()  # risk picks the long gone


def test_too_few_campaigns_is_refused_in_words():
    rng = np.random.default_rng(1)
    X, _, _ = _rows(rng, 100)
    with pytest.raises(NotEnoughCampaigns, match="at least 500 treated"):
        fit_uplift(X, np.ones(100, bool), np.zeros(100, bool))


def test_the_plan_ranks_by_the_uplift_model_when_given_one():
    from agent.outreach.prioritise import prioritise
    from agent.settings import Settings

    books = [
        {
            "id": "a",
            "title": "A",
            "prior_uplift": 0.10,
            "channels": ["email"],
            "churn_reasons": ["fading_engagement"],
        }
    ]
    scores = pd.DataFrame(
        {
            "customer_id": ["X1", "X2", "X3"],
            "churn_probability": [0.9, 0.6, 0.3],
            "predicted_clv": [100.0, 100.0, 100.0],
            "churn_reason": "fading_engagement",
            "segment": "At risk",
            "clv_tier": "medium",
        }
    )
    customers = pd.DataFrame(
        {"customer_id": ["X1", "X2", "X3"], "accepts_email": True, "accepts_sms": False}
    )
    st = Settings(_env_file=None, control_share=0.0, weekly_contact_budget=1)
    plan = prioritise(scores, customers, books, settings=st, week_of="2026-07-01", campaign_id="t")
    assert plan.treated_ids == ["X1"]  # by risk x save rate
    tau = {"X1": 0.01, "X2": 0.02, "X3": 0.30}
    plan = prioritise(
        scores,
        customers,
        books,
        settings=st,
        week_of="2026-07-01",
        campaign_id="t",
        uplift=lambda rows: rows["customer_id"].map(tau).to_numpy(),
    )
    assert plan.treated_ids == ["X3"]
    row = plan.chosen[0]
    assert row["expected_value"] == pytest.approx(0.30 * 100 - 0.01)
    assert "uplift +0.300 (the uplift model)" in row["reason"]
