"""Score every customer of a store (DESIGN.md, "Scores out").

One row per customer seen up to `as_of`:

    customer_id, orders_to_date, revenue_to_date, avg_days_between_orders, p_alive,
    expected_orders, expected_next_order_date, predicted_clv, clv_low, clv_high,
    churn_probability, churn_drivers, segment, clv_tier, next_best_product

plus `churn_reason` (the driver to act on), `cluster` (behavioural cluster, described in
the params) and `model` (which model produced the value columns).

Models: the probabilistic one (BG/NBD or a fallback, Gamma-Gamma; `tools.models.clv`) always
runs; its outputs are features of the machine-learned one (`tools.models.churn`). `model="auto"`
picks per target by an inner backtest (value: ML, probabilistic or their average, by mean
rank of MAE, Spearman and top-decile capture; churn: by AUC): both models predict the window
(as_of - horizon, as_of] from data up to its start, scored on customers the ML model never
saw (on a store too small to spare them, its calibration customers). A store too short or
too small for that split (fewer than MIN_INNER_HISTORY_DAYS of orders or 200 buyers up to
its cutoff) and any failure of the ML model fall back to the probabilistic model, with a
warning in `params["warnings"]`.

Every customer seen up to as_of is scored, by every model or by a fallback named for that
customer: the `model` column says which model gave each customer's value and churn columns,
e.g. "value:ml,churn:ml", "value:ml+bgnbd,churn:ml" (the average), "value:bgnbd,churn:rate"
(the probabilistic model named as fitted: bgnbd, mbgnbd, paretonbd or pooled; rate: the
customer's own purchase rate). The ML model and the rate learn from and score customers with
a purchase occasion; a customer whose lines up to as_of are all refunds is scored by the
probabilistic model as a customer without a repeat purchase (never from the refunds' value).
A customer whose chosen prediction is not finite gets the probabilistic model's (finite by
construction). `params["model_counts"]` counts the customers per `model` value. No NaN
leaves this module and no customer is dropped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.models.choices import DEFAULT_MODEL, check_model
from tools.scoring.splits import Population
from tools.scoring.steps import Progress, ScoringRun

SCORE_COLUMNS = [
    "customer_id",
    "orders_to_date",
    "revenue_to_date",
    "avg_days_between_orders",
    "p_alive",
    "expected_orders",
    "expected_next_order_date",
    "predicted_clv",
    "clv_low",
    "clv_high",
    "churn_probability",
    "churn_drivers",
    "segment",
    "clv_tier",
    "next_best_product",
]
EXTRA_COLUMNS = [
    "churn_reason",
    "cluster",
    "model",
    "next_best_product_name",
    "fallback",
    "interval_calibrated",
    "value_margin",
    "margin_source",
]
"""Beyond DESIGN.md's columns: the reason a merchant acts on, the behavioural cluster, the
model that made each row, the next best product's name (its code is `next_best_product`),
`fallback` (what replaced the model for this customer, in words; "" for none) and
`interval_calibrated` (whether clv_low/clv_high were calibrated on the store's past),
`value_margin` (the share of revenue the value columns count) and `margin_source` ("unit_cost":
the customer's own lines' product costs; "store_unit_cost": the store's costed lines, for a
customer with none; "flat": the --margin figure, for a store without product costs)."""
NBP_INPUT = (
    "customer_id",
    "order_id",
    "product_id",
    "product_name",
    "amount",
)  # order columns it reads


@dataclass(frozen=True)
class ScoreResult:
    scores: pd.DataFrame
    params: dict = field(default_factory=dict)


def _noop(_: str) -> None:
    pass


def score_store(
    orders: pd.DataFrame,
    *,
    as_of,
    horizon_days: int = 365,
    model: str = DEFAULT_MODEL,
    margin: float = 1.0,
    discount_rate: float = 0.0,
    events: pd.DataFrame | None = None,
    tickets: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    seed: int = 0,
    progress: Progress = _noop,
    unit_costs: bool | None = None,
) -> ScoreResult:
    """Score every customer with an order line on or before `as_of` (module docstring).

    Value columns are expected revenue with margin 1 (the default); a contribution margin
    other than 1 turns them into contribution, from the products' unit costs where the
    products carry them and from `margin` where they do not
    (`tools.scoring.combine.customer_margins`).
    `unit_costs` True/False forces the unit costs on or off."""
    check_model(model)
    as_of = pd.Timestamp(as_of).normalize()
    progress("fitting the purchase and value models")
    # every step below sees customer codes, not ids (`tools.scoring.splits.Population`); the
    # ids come back at the end
    pop = Population.of(orders, events, tickets)
    # the next best product needs the order history only: it is worked out on a second
    # thread, on its own copy of the columns it reads, while the models are fitted (its
    # numpy and scipy work runs beside theirs; a few seconds less on a large store)
    # (the copy is held by the job alone, so it is freed once the job is done)
    keep = (pop.orders["order_date"] < as_of + pd.Timedelta(days=1)).to_numpy()
    with ThreadPoolExecutor(1, thread_name_prefix="next-best-product") as pool:
        nbp = pool.submit(
            _next_best,
            pop.orders.loc[keep, [c for c in NBP_INPUT if c in pop.orders]],
            products=None if products is None else products.copy(),
        )
        return _score(
            pop,
            nbp,
            as_of=as_of,
            horizon_days=horizon_days,
            model=model,
            margin=margin,
            discount_rate=discount_rate,
            products=products,
            seed=seed,
            progress=progress,
            unit_costs=margin != 1.0 if unit_costs is None else unit_costs,
        )


def _score(
    pop,
    nbp,
    *,
    as_of,
    horizon_days,
    model,
    margin,
    discount_rate,
    products,
    seed,
    progress,
    unit_costs=False,
) -> ScoreResult:
    """The steps of a scoring run, in order (module docstring); `nbp`: the next best product's
    job (`_next_best`), running beside them."""
    run = ScoringRun.start(
        pop,
        as_of=as_of,
        horizon_days=horizon_days,
        model=model,
        discount_rate=discount_rate,
        products=products,
        seed=seed,
        progress=progress,
    )
    if model == "auto":
        run.choose_by_rolling_origin()
    run.switch_to_alt_purchase()
    if run.wants_ml:
        run.train_ml()
    if run.ml is not None:
        run.predict_ml()
    if model == "auto" and run.rolling.get("choice", {}).get("churn") == "rate":
        run.churn_by_own_rate()
    run.note_ml_not_used()
    run.calibrate_interval()
    run.explain_churn()
    margin_info = run.finish_models(margin=margin, products=products if unit_costs else None)
    progress("segments, tiers and next best product")
    out = _segments_and_products(run.out, nbp.result(), run.X, seed=seed, ids=pop.ids)
    run.rolling.pop("rate_calibrator", None)
    params = {
        "as_of": str(as_of.date()),
        "horizon_days": horizon_days,
        "model_requested": model,
        "model_choice": run.choice,
        "model_selection": run.rolling,
        "interval_calibration": run.calib,
        "model_counts": out["model"].value_counts().to_dict(),
        "margin": margin,
        "margin_used": margin_info,
        "discount_rate": discount_rate,
        "probabilistic": run.prob_params,
        "ml": run.ml_info,
        "clusters": out.attrs.pop("cluster_descriptions", {}),
        "warnings": run.notes,
    }
    return ScoreResult(_finalise(out, ids=pop.ids), params)


def _next_best(hist, *, products) -> pd.DataFrame:
    from tools.insights.affinity import next_best_product

    return next_best_product(hist, products=products).set_index("customer_id")


def _segments_and_products(out, nbp, X, *, seed, ids) -> pd.DataFrame:
    from tools.insights.segments import (
        CLUSTER_COLUMNS,
        behaviour_clusters,
        clv_tiers,
        rfm_scores,
    )

    # the RFM table from the features (the same definitions as segments.rfm_table: days since
    # the last purchase day, purchase days, net revenue), not from the order lines again; as
    # there, a customer without a purchase (refunds only) has no RFM row and is "Lost" (the
    # lowest recency and frequency of the grid: the last purchase is before the data)
    buyers = X.loc[X["n_occasions"] > 0]
    rfm = rfm_scores(
        pd.DataFrame(
            {
                "customer_id": buyers.index,
                "recency_days": buyers["recency_days"].to_numpy().astype(np.int64),
                "frequency": buyers["n_occasions"].to_numpy().astype(np.int64),
                "monetary": buyers["revenue_to_date"].to_numpy(),
            }
        )
    ).set_index("customer_id")
    out["segment"] = out["customer_id"].map(rfm["segment"]).fillna("Lost").to_numpy()
    out["clv_tier"] = clv_tiers(out["predicted_clv"]).to_numpy()
    labels_, descriptions = behaviour_clusters(
        X[list(CLUSTER_COLUMNS)], seed=seed, ids=ids[X.index]
    )
    out["cluster"] = (
        out["customer_id"].map(pd.Series(labels_, index=X.index)).fillna(-1).astype(int).to_numpy()
    )
    out.attrs["cluster_descriptions"] = {int(k): v for k, v in descriptions.items()}
    out["next_best_product"] = (
        out["customer_id"].map(nbp["next_best_product"]).fillna("").to_numpy()
    )
    out["next_best_product_name"] = (
        out["customer_id"].map(nbp["product_name"]).fillna("").to_numpy()
    )
    return out


def _finalise(out: pd.DataFrame, *, ids: np.ndarray) -> pd.DataFrame:
    """The score columns, customer codes back to ids, sorted by id."""
    scores = out[SCORE_COLUMNS + EXTRA_COLUMNS].copy()
    num = scores.select_dtypes("number").columns
    bad = ~np.isfinite(scores[num].to_numpy(dtype=float))
    # model outputs were made finite (`tools.scoring.combine.finite_or_fallback`): this is the data's
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError(
            "non-finite values in the orders",
            column="amount",
            bad_rows=int(bad.any(axis=1).sum()),
            example=f"customer {ids[scores['customer_id'].iloc[row]]!r}: "
            f"{list(num[bad.any(axis=0)])} not finite",
            hint="amounts must be finite numbers",
        )
    scores["clv_low"] = np.minimum(scores["clv_low"], scores["predicted_clv"])
    scores["clv_high"] = np.maximum(scores["clv_high"], scores["predicted_clv"])
    scores = scores.sort_values("customer_id", kind="stable").reset_index(drop=True)
    scores["customer_id"] = ids[scores["customer_id"].to_numpy()]
    return scores
