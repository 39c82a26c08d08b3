"""An uplift model: who a play actually moves.

A T-learner (Künzel, Sekhon, Bickel & Yu 2019, "Metalearners for estimating heterogeneous
treatment effects using machine learning", PNAS 116(10), the "T-learner"): one classifier of
P(order in the window) on the treated customers of past campaigns, one on their control
customers, each on the customer's scores at the time of the plan and the play they were
assigned; the predicted uplift is the difference,

    τ(x) = μ₁(x) − μ₀(x).

Ranking by τ instead of by churn risk is the point of Ascarza (2018), "Retention futility:
targeting high-risk customers might be ineffective", JMR 55(1): the customers most likely to
leave are not always those a message keeps. The classifiers are scikit-learn's histogram
gradient boosting, shallow and regularised (the control group is small); `fit_uplift` refuses
with fewer than MIN_TREATED treated or MIN_CONTROL control rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tools.errors import RetentionError

NUMERIC = (
    "churn_probability",
    "predicted_clv",
    "expected_orders",
    "p_alive",
    "orders_to_date",
    "revenue_to_date",
    "avg_days_between_orders",
    "days_since_last",
)
CATEGORICAL = ("playbook_id", "churn_reason", "segment")
MIN_TREATED = 500
MIN_CONTROL = 200


def uplift_features(
    arms: pd.DataFrame, scores: pd.DataFrame, orders: pd.DataFrame, *, as_of
) -> pd.DataFrame:
    """One row per arm row (customer_id, playbook_id, churn_reason, segment): the customer's
    scores as of the plan (NUMERIC less days_since_last, from `scores`) and the days since their
    last purchase as of `as_of`. Nothing passed in is modified."""
    as_of = pd.Timestamp(as_of).normalize()
    s = scores.assign(customer_id=scores["customer_id"].astype(str)).drop_duplicates("customer_id")
    s = s.set_index("customer_id")
    ids = arms["customer_id"].astype(str)
    out = pd.DataFrame(index=arms.index)
    for col in NUMERIC[:-1]:
        out[col] = s[col].reindex(ids).to_numpy(float) if col in s else np.nan
    o = orders.loc[(orders["amount"] > 0) & (orders["order_date"] < as_of + pd.Timedelta(days=1))]
    last = o.groupby(o["customer_id"].astype(str))["order_date"].max()
    out["days_since_last"] = (as_of - last.reindex(ids)).dt.days.to_numpy(float)
    for col in CATEGORICAL:
        out[col] = arms[col].astype(str).to_numpy() if col in arms else ""
    return out


@dataclass
class UpliftModel:
    treated: Any  # fitted scikit-learn classifiers (untyped); None until fit_uplift sets them
    control: Any
    categories: dict[str, list[str]]
    n_treated: int
    n_control: int

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        cols = [X[c].to_numpy(float) for c in NUMERIC]
        for c in CATEGORICAL:
            cols += [(X[c].astype(str).to_numpy() == v).astype(float) for v in self.categories[c]]
        return np.column_stack(cols)

    def predict_uplift(self, X: pd.DataFrame) -> np.ndarray:
        """τ(x) = P(order | treated, x) − P(order | control, x) per row of `X` (uplift_features)."""
        m = self._matrix(X)
        return self.treated.predict_proba(m)[:, 1] - self.control.predict_proba(m)[:, 1]


class NotEnoughCampaigns(RetentionError, ValueError):
    """Too few measured treated or control customers to fit an uplift model."""


def fit_uplift(
    X: pd.DataFrame, treated: np.ndarray, bought: np.ndarray, *, seed: int = 0
) -> UpliftModel:
    """Fit the T-learner on past campaigns' rows: features `X` (uplift_features), `treated`
    (bool per row) and `bought` (an order in the window, bool per row)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    treated, bought = np.asarray(treated, bool), np.asarray(bought, bool)
    nt, nc = int(treated.sum()), int((~treated).sum())
    if nt < MIN_TREATED or nc < MIN_CONTROL:
        raise NotEnoughCampaigns(
            f"an uplift model needs at least {MIN_TREATED} treated and {MIN_CONTROL} "
            f"control customers from measured campaigns; there are {nt} and {nc}"
        )
    cats = {c: sorted(pd.unique(X[c].astype(str))) for c in CATEGORICAL}
    model = UpliftModel(None, None, cats, nt, nc)
    m = model._matrix(X)

    def clf():
        return HistGradientBoostingClassifier(
            max_depth=3,
            learning_rate=0.05,
            max_iter=150,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=seed,
        )

    model.treated = clf().fit(m[treated], bought[treated])
    model.control = clf().fit(m[~treated], bought[~treated])
    return model
