"""The demo store's known truth: its population parameters and planted churn causes.

`PARAMS` are the true parameters of the simulated process (time unit: days, written to
`manifest.json`), `CAUSES` and `CAUSE_SIGNALS` the planted churn causes and what the data
show of each beforehand; `CHANNELS` and `DAY_S` are shared by the generator and the
campaign simulation.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from tools.schema import CHURN_CAUSES

GENERATOR_VERSION = "demo-1.0"
CAUSES = CHURN_CAUSES
"""The planted churn causes: the reasons that are causes (`tools.schema.CHURN_CAUSES`)."""
CAUSE_SIGNALS = {
    "price_sensitivity": "~95% of their orders discounted (20-30%); no purchase once discounts stop",
    "service_problems": "one high-severity, negative, unresolved ticket 1-14 days before cause_date",
    "quality_returns": "returns on their last 2-3 orders; 60% also a quality-complaint ticket",
    "fading_engagement": "email opens/clicks/site visits fall linearly to zero over 90-180 days",
}


class DemoParams(TypedDict):
    """The shape of PARAMS (a plain dict at run time)."""

    acquisition_growth_per_year: float
    purchase_rate_gamma_shape_r: float
    purchase_rate_mean_per_day: float
    dropout_beta_a: float
    dropout_beta_b: float
    spend_level_gamma_shape: float
    season_boost_nov_dec: float
    discount_propensity_beta: list[float]
    return_rate_per_line: float
    lines_per_order_probs: list[float]
    companion_prob: float
    preferred_category_prob: float
    events_per_day_mean: float
    planted_share_of_repeat_customers: float
    cause_days_before_end: list[int]


# The true population parameters (time unit: days). Written to manifest.json.
PARAMS: DemoParams = {
    "acquisition_growth_per_year": 0.7,
    "purchase_rate_gamma_shape_r": 1.5,
    "purchase_rate_mean_per_day": 1 / 80,
    "dropout_beta_a": 1.2,
    "dropout_beta_b": 4.8,
    "spend_level_gamma_shape": 3.0,
    "season_boost_nov_dec": 1.6,
    "discount_propensity_beta": [2.0, 6.0],
    "return_rate_per_line": 0.03,
    "lines_per_order_probs": [0.62, 0.25, 0.09, 0.04],
    "companion_prob": 0.55,
    "preferred_category_prob": 0.65,
    "events_per_day_mean": 1 / 45,
    "planted_share_of_repeat_customers": 0.135,
    "cause_days_before_end": [90, 270],
}
CHANNELS = np.array(["web", "app", "pos"])
DAY_S = 86_400
