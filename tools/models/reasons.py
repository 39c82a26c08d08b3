"""Churn reasons in the merchant's vocabulary (`tools.schema.CHURN_REASONS`), from a model's
per-feature contributions (`reasons_from_contributions`, summed by each feature's reason group,
`tools.models.features.FEATURE_REASON`) or, without a model, from transparent rules on the same
features (`rule_reasons`); `with_evidence` lets a cause the customer's history shows plainly
lead where the model names only a symptom. The TreeSHAP contributions themselves come from
`tools.models.churn.explain_reasons`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.models.features import FEATURE_REASON
from tools.schema import CHURN_CAUSES as CAUSES
from tools.schema import CHURN_REASONS, NO_REASON

CAUSE_MIN_LOGODDS = 0.15  # a cause must push the churn log-odds up by this much to lead


def with_evidence(model: pd.DataFrame, evidence: pd.DataFrame, *, top: int = 3) -> pd.DataFrame:
    """Where the model's contributions name only a symptom (overdue cycle, one-time buyer,
    silence), a cause that the customer's own history shows plainly (rule_reasons) leads instead: a
    forward-looking model cannot learn a cause that only shows once a customer has lapsed
    (a discount-only buyer buys steadily until the discounts stop)."""
    # silence across channels is partly a symptom too: specific evidence (discounts,
    # tickets, returns) in the customer's history outranks it
    symptom = ~model["churn_reason"].isin(CAUSES) | (model["churn_reason"] == "fading_engagement")
    cause = evidence["churn_reason"].isin(CAUSES) & (
        evidence["churn_reason"] != "fading_engagement"
    )
    swap = symptom & cause
    out = model.copy()
    out.loc[swap, "churn_reason"] = evidence.loc[swap, "churn_reason"]
    rest = model.loc[swap, "churn_drivers"].str.split("; ")
    out.loc[swap, "churn_drivers"] = [
        "; ".join(([lead] + [d for d in ds if d not in (lead, NO_REASON)])[:top])
        for lead, ds in zip(out.loc[swap, "churn_reason"], rest)
    ]
    return out


def reasons_from_contributions(
    contrib: np.ndarray, features: list[str], X: pd.DataFrame, *, top: int = 3
) -> pd.DataFrame:
    groups = np.zeros((contrib.shape[0], len(CHURN_REASONS)))
    for j, name in enumerate(features):
        reason = FEATURE_REASON.get(name)
        if reason is None and name.startswith("bgnbd_"):
            reason = "cycle_overdue"
        if reason is not None:
            groups[:, CHURN_REASONS.index(reason)] += contrib[:, j]
    if "one_time" in X:  # a one-time buyer's recency is about the missing 2nd order
        one = X["one_time"].to_numpy() > 0
        k, o = CHURN_REASONS.index("cycle_overdue"), CHURN_REASONS.index("one_time_buyer")
        groups[one, o] += np.clip(groups[one, k], 0, None)
        groups[one, k] = np.minimum(groups[one, k], 0)
        # few purchases push a repeat customer's risk up too, but "one-time buyer" would be
        # untrue of them: that reason is kept for customers with exactly one purchase
        groups[~one, o] = np.minimum(groups[~one, o], 0)
    return _rank_reasons(groups, X.index, top=top)


def _rank_reasons(groups: np.ndarray, index: pd.Index, *, top: int) -> pd.DataFrame:
    k = len(CHURN_REASONS)
    order = np.argsort(-groups, axis=1)
    weights = np.take_along_axis(groups, order, axis=1)
    cause_idx = np.array([CHURN_REASONS.index(c) for c in CAUSES])
    cause_w = groups[:, cause_idx]
    # reasons as numbers (k: none) until the end: comparing a million strings costs seconds
    lead_idx = np.where(
        cause_w.max(axis=1) >= CAUSE_MIN_LOGODDS,
        cause_idx[cause_w.argmax(axis=1)],
        np.where(weights[:, 0] > 0, order[:, 0], k),
    )
    names = np.array(CHURN_REASONS + (NO_REASON,), dtype=object)
    # the drivers text depends only on (lead, top reasons, which of them push up): build it
    # once per distinct pattern (a few dozen), not once per customer (a million)
    code = lead_idx.astype(np.int64)
    for j in range(min(top, k)):
        code = code * k + order[:, j]
        code = code * 2 + (weights[:, j] > 0)
    uniq, first_row, inverse = np.unique(code, return_index=True, return_inverse=True)
    texts = []
    for i in first_row:
        first = names[lead_idx[i]]
        items = [first] if first != NO_REASON else []
        items += [
            names[c]
            for c, w in zip(order[i, :top], weights[i, :top])
            if w > 0 and names[c] != first
        ]
        texts.append("; ".join(items[:top]) or NO_REASON)
    drivers = (
        np.asarray(texts, dtype=object)[inverse.ravel()] if len(uniq) else np.array([], object)
    )
    return pd.DataFrame({"churn_reason": names[lead_idx], "churn_drivers": drivers}, index=index)


def rule_reasons(X: pd.DataFrame, *, top: int = 3) -> pd.DataFrame:
    """Reasons without a trained model (too little history): transparent rules on the same
    features, in the same vocabulary, scored on a comparable log-odds-like scale."""

    def col(name):
        return X[name].to_numpy()

    s = np.zeros((len(X), len(CHURN_REASONS)))
    repeat = col("n_occasions") > 1
    s[:, CHURN_REASONS.index("service_problems")] = 1.0 * (col("unresolved_severe") > 0) + 0.3 * (
        col("unresolved_tickets") > 0
    )
    s[:, CHURN_REASONS.index("quality_returns")] = 0.6 * (col("return_share") > 0.2) + 0.3 * (
        col("returns_90d") > 0
    )
    s[:, CHURN_REASONS.index("price_sensitivity")] = 0.6 * (col("discount_share") > 0.75) * repeat
    s[:, CHURN_REASONS.index("fading_engagement")] = 0.5 * (
        (col("engagement_trend") < 0) & (col("events_30d") == 0) & (col("days_since_event") < 9999)
    )
    s[:, CHURN_REASONS.index("cycle_overdue")] = 0.4 * (col("overdue_ratio") > 1.5) * repeat
    s[:, CHURN_REASONS.index("one_time_buyer")] = 0.4 * (col("n_occasions") == 1)
    return _rank_reasons(s, X.index, top=top)
