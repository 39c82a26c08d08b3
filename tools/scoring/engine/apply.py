"""Score a batch of customers with models fitted elsewhere: what runs per partition.

Input: rows of the `customers` view of `tools.scoring.engine.sql` (RFM and features, one row a
customer) and a `Fitted` bundle (the purchase and spend models, the ML model and the model
choice, the RFM quintile thresholds, the cluster centres). Output: the embedded engine's score
columns (`tools.scoring.score.SCORE_COLUMNS` + `EXTRA_COLUMNS`) for those customers, but for
`clv_tier` (a percentile over all customers, set afterwards) and the next best product
(from the order lines, `next_best_products`).

The steps are those of `tools.scoring.steps.ScoringRun` after its fits, calling their helpers
(`tools.scoring.combine`, `tools.scoring.interval`), so that both engines give a customer the
same numbers from the same code. A split of the run into fit and apply would let this module
call it instead of mirroring its order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tools.insights.segments import ClusterFit
from tools.models.clv_params import ClvParams
from tools.models.clv_predict import predict_clv
from tools.scoring.engine.fitting import QuintileThresholds, SampleFit
from tools.scoring.engine.sql import FEATURES

PER_PARTITION_COLUMNS_DROPPED = ("clv_tier", "next_best_product", "next_best_product_name")


@dataclass
class Fitted:
    """Everything a partition needs, broadcast once (no pickled file: it lives in memory)."""

    as_of: pd.Timestamp
    horizon_days: int
    margin: float
    discount_rate: float
    seed: int
    params: ClvParams
    sample: SampleFit
    rfm_gap_fill: float  # avg_days_between_orders of a customer without a repeat purchase
    recency: QuintileThresholds
    frequency: QuintileThresholds
    monetary: QuintileThresholds
    clusters: ClusterFit | None = None
    extra: dict = field(default_factory=dict)
    alt_params: ClvParams | None = None  # ALT_PURCHASE's fit, where the choice took it


def rfm_frame(rows: pd.DataFrame, *, gap_fill: float) -> pd.DataFrame:
    """The RFM table of `tools.models.rfm.rfm_summary` (the columns predict_clv reads) from rows of
    the `customers` view."""
    gap = rows["avg_gap"].to_numpy(float)
    imputed = ~np.isfinite(gap)
    return pd.DataFrame(
        {
            "customer_id": rows["customer_id"].to_numpy(),
            "frequency": rows["frequency"].to_numpy(np.int64),
            "recency": rows["recency"].to_numpy(float),
            "T": rows["T"].to_numpy(float),
            "monetary_value": rows["monetary_value"].to_numpy(float),
            "orders_to_date": rows["orders_to_date"].to_numpy(np.int64),
            "revenue_to_date": rows["revenue_to_date"].to_numpy(float),
            "avg_days_between_orders": np.where(imputed, gap_fill, gap),
            "avg_gap_imputed": imputed,
        }
    )


def score_rows(rows: pd.DataFrame, fitted: Fitted) -> pd.DataFrame:
    """Score every customer in `rows` (module docstring). Rows keep their order."""
    from tools.insights.segments import SEGMENT_GRID
    from tools.models.churn import explain_reasons
    from tools.models.reasons import rule_reasons
    from tools.scoring import combine as C
    from tools.scoring.choice import ALT_PURCHASE
    from tools.scoring.interval import interval_with_churn
    from tools.scoring.score import EXTRA_COLUMNS, SCORE_COLUMNS
    from tools.scoring.splits import rate_no_purchase

    f = fitted
    s = f.sample
    calib = s.calibration
    rfm = rfm_frame(rows, gap_fill=f.rfm_gap_fill)
    # value is revenue here (margin 1), the margin is applied at the end, as in tools.scoring.score
    prob, params = predict_clv(
        rfm,
        f.params,
        horizon_days=f.horizon_days,
        as_of=f.as_of,
        margin=1.0,
        discount_rate=f.discount_rate,
        seed=f.seed,
        n_draws=10,
    )
    prob = prob.rename(columns={"prob_no_purchase": "churn_probability"})
    X = (
        rows[list(FEATURES)]
        .astype(float)
        .set_axis(pd.Index(rows["customer_id"].to_numpy(), name="customer_id"))
    )
    X = X.assign(
        bgnbd_p_alive=prob["p_alive"].to_numpy(),
        bgnbd_expected_orders=prob["expected_orders"].to_numpy(),
        bgnbd_p_no_purchase=prob["churn_probability"].to_numpy(),
    ).fillna(0.0)
    out = prob.copy()
    buyer = X["n_occasions"].to_numpy() > 0
    by = C.base_models(prob)
    choice = dict(s.choice)
    fit = (rfm, f.params)
    alt = [k for k, v in choice.items() if v == ALT_PURCHASE]
    if alt and f.alt_params is not None:
        out, by, prob, _, fit = C.switch_purchase_model(
            (out, by, prob, None, fit),
            alt,
            f.alt_params,
            as_of=f.as_of,
            horizon_days=f.horizon_days,
            discount_rate=f.discount_rate,
            seed=f.seed,
        )
        params = fit[1]
    ml = s.ml
    if ml is not None and buyer.any():
        C.apply_ml(
            out,
            ml.predict(X.loc[buyer], targets=C.ml_targets(choice)),
            buyer,
            by,
            choice,
            C.discount_factor(horizon_days=f.horizon_days, discount_rate=f.discount_rate),
        )
    if choice["churn"] == "rate":
        # without a calibrator: the partition's ranking onto its purchase-model probabilities
        rate = rate_no_purchase(X, horizon_days=f.horizon_days).to_numpy()
        C.churn_by_own_rate(out, by, rate, buyer, rolling=s.rolling)
    interval_with_churn(
        out,
        by,
        fit,
        prob=prob,
        as_of=f.as_of,
        horizon_days=f.horizon_days,
        margin=1.0,
        discount_rate=f.discount_rate,
        seed=f.seed,
        interval=calib.get("level", 0.9),
        interval_scale=calib.get("scale", 1.0),
    )
    ids = out["customer_id"].to_numpy()
    if (ml is not None or s.drivers is not None) and buyer.any():
        p_buy = out["churn_probability"].to_numpy()[buyer]
        if ml is not None:
            reasons = ml.reasons(X.loc[buyer], churn_probability=p_buy)
        else:
            assert s.drivers is not None  # the condition above: the ML model or the drivers
            reasons = explain_reasons(
                s.drivers, s.drivers.feature_name(), X.loc[buyer], churn_probability=p_buy
            )
        reasons = pd.concat([reasons, rule_reasons(X.loc[~buyer])])
    else:
        reasons = rule_reasons(X)
    reasons = reasons.reindex(ids)
    out["churn_reason"] = reasons["churn_reason"].to_numpy()
    out["churn_drivers"] = reasons["churn_drivers"].to_numpy()
    prob_params = {"model": params.model, "spend_model": params.spend_model}
    C.finite_or_fallback(out, prob, by, prob_params=prob_params)
    out["fallback"] = C.fallback_text(prob, buyer)
    out["model"] = "value:" + pd.Series(by["value"]) + ",churn:" + pd.Series(by["churn"])
    out["interval_calibrated"] = "skipped" not in calib
    # a flat margin (the unit-cost margins of tools.scoring.combine.customer_margins read the lines)
    for col in ("predicted_clv", "clv_low", "clv_high"):
        out[col] = out[col].to_numpy(float) * f.margin
    out["value_margin"], out["margin_source"] = float(f.margin), "flat"
    # the RFM segment, with the population's quintiles (tools.scoring.score._segments_and_products):
    # a customer without a purchase (refunds only) is "Lost"
    r = f.recency.scores(X["recency_days"].to_numpy())
    fq = f.frequency.scores(X["n_occasions"].to_numpy())
    m = f.monetary.scores(X["revenue_to_date"].to_numpy())
    grid = np.array([SEGMENT_GRID[k] for k in (1, 2, 3, 4, 5)], dtype=object)
    out["segment"] = np.where(buyer, grid[r - 1, (fq + m + 1) // 2 - 1], "Lost")
    out["cluster"] = (
        f.clusters.assign(X) if f.clusters is not None else np.zeros(len(out), np.int64)
    )
    out["clv_low"] = np.minimum(out["clv_low"], out["predicted_clv"])
    out["clv_high"] = np.maximum(out["clv_high"], out["predicted_clv"])
    cols = [
        c
        for c in (*SCORE_COLUMNS, *EXTRA_COLUMNS)
        if c not in PER_PARTITION_COLUMNS_DROPPED and c in out.columns
    ]
    return out[cols].reset_index(drop=True)


def next_best_products(lines: pd.DataFrame, *, affinity, products) -> pd.DataFrame:
    """`tools.insights.affinity.next_best_product` for the customers of a batch of order lines (all
    of each customer's lines), with the store-wide rules `affinity`: customer_id,
    next_best_product, next_best_product_name."""
    from tools.insights.affinity import next_best_product

    nbp = next_best_product(lines, affinity=affinity, products=products)
    return pd.DataFrame(
        {
            "customer_id": nbp["customer_id"].to_numpy(),
            "next_best_product": nbp["next_best_product"].fillna("").to_numpy(),
            "next_best_product_name": nbp["product_name"].fillna("").to_numpy(),
        }
    )
