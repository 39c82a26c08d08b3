"""The chosen models' numbers put together per customer, and the margin that turns them into
contribution.

`switch_purchase_model` puts ALT_PURCHASE's numbers where the model choice took it,
`apply_ml` the ML model's (or their average with the purchase model's), `finite_or_fallback`
the purchase model's where the chosen one gave no finite number; `base_models` and
`fallback_text` say per customer which model made each number. `customer_margins` is the
share of revenue each customer's value columns count, `discount_factor` the horizon's average
discount. Both engines call these (`tools.scoring.score`, `tools.scoring.engine.apply`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.models.churn import PROB_FLOOR
from tools.schema import purchase_mask
from tools.scoring.choice import rank_blend, rank_onto
from tools.scoring.notes import prob_name
from tools.scoring.splits import probabilistic

VALUE_COLUMNS = ("expected_orders", "predicted_clv", "clv_low", "clv_high")


def ml_targets(choice) -> tuple[str, ...]:
    """The ML model's predictions `apply_ml` reads for `choice` (only those are run)."""
    return (
        ("expected_orders", "expected_revenue") if choice["value"] in ("ml", "blend") else ()
    ) + (("churn_probability",) if choice["churn"] in ("ml", "blend") else ())


def switch_purchase_model(base, targets, alt, *, as_of, horizon_days, discount_rate, seed):
    """The scores with `alt` (ALT_PURCHASE's ClvParams, `tools.models.clv.with_purchase_model`) for
    `targets` ("value", "churn"), where the rolling-origin choice took it: (out, by, prob,
    prob_params, fit); `base` is the same tuple for the fitted model. For value, it becomes
    the purchase model (prob, fit: the interval, the fallbacks, the warnings are its); for
    churn alone, only the churn columns change. Both engines call this."""
    out, by, prob0, params0, fit = base
    prob, params, fit2 = probabilistic(
        None,
        as_of=as_of,
        horizon_days=horizon_days,
        margin=1.0,
        discount_rate=discount_rate,
        seed=seed,
        keep_fit=True,
        n_draws=10,
        fit=(fit[0], alt),
    )
    if "value" not in targets:  # churn from it, the rest from the base model
        out = out.copy()
        out["churn_probability"] = prob["churn_probability"].to_numpy()
        by = {**by, "churn": prob["churn_model"].to_numpy(object).copy()}
        return out, by, prob0, params0, fit
    new_out, new_by = prob.copy(), base_models(prob)
    if "churn" not in targets:  # value from it, churn from the base model
        new_out["churn_probability"] = out["churn_probability"].to_numpy()
        new_by["churn"] = by["churn"].copy()
    return new_out, new_by, prob, params, fit2


def apply_ml(out, pred, buyer, by, choice, scale) -> None:
    """The ML model's predictions (for the customers with a purchase occasion, `buyer` rows
    of `out`) in place of, or averaged with, the purchase model's, as `choice` says."""

    def put(col, values):
        full = out[col].to_numpy(float).copy()
        full[buyer] = values
        out[col] = full

    if choice["value"] in ("ml", "blend"):
        w = 1.0 if choice["value"] == "ml" else 0.5
        mine = {c: out[c].to_numpy(float)[buyer] for c in VALUE_COLUMNS}
        put(
            "expected_orders",
            w * pred["expected_orders"].to_numpy() + (1 - w) * mine["expected_orders"],
        )
        put(
            "predicted_clv",
            w * (pred["expected_revenue"] * scale).to_numpy() + (1 - w) * mine["predicted_clv"],
        )
        # the interval stays the purchase model's, calibrated on the store's past
        # (`tools.scoring.interval.interval_calibration`); it is widened to hold the ML value
        # where that falls outside
        by["value"][buyer] = "ml" if choice["value"] == "ml" else "ml+" + by["value"][buyer]
    if choice["churn"] in ("ml", "blend"):
        p = pred["churn_probability"].to_numpy(float)
        if choice["churn"] == "blend":  # ranks averaged with the purchase model's, onto ML's
            p = rank_blend(out["churn_probability"].to_numpy(float)[buyer], p, onto=p)
            by["churn"][buyer] = "ml+" + by["churn"][buyer]
        else:
            by["churn"][buyer] = "ml"
        put("churn_probability", p)


def churn_by_own_rate(out, by, rate, buyer, *, rolling) -> None:
    """P(no purchase) of the buyers (`buyer` rows of `out`) by their own purchase rate (`rate`,
    `tools.scoring.splits.rate_no_purchase`, per row of `out`): calibrated by the rolling-origin
    choice's `rate_calibrator` where it has one, else the rate's ranking given the purchase
    model's probabilities (`rank_onto`). In place, `by` included."""
    if "rate_calibrator" in rolling:
        p_rate = np.clip(rolling["rate_calibrator"].predict(rate), PROB_FLOOR, 1 - PROB_FLOOR)
    else:
        p_rate = np.zeros(len(out))
        p_rate[buyer] = rank_onto(rate[buyer], out["churn_probability"].to_numpy()[buyer])
    out["churn_probability"] = np.where(buyer, p_rate, out["churn_probability"])
    by["churn"][buyer] = "rate"


def base_models(prob: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per customer, the model behind the purchase model's value and churn numbers: the
    fitted model's name, or the fallback that replaced a non-finite prediction."""
    return {
        "value": prob["value_model"].to_numpy(object).copy(),
        "churn": prob["churn_model"].to_numpy(object).copy(),
    }


def fallback_text(prob, buyer) -> np.ndarray:
    """The `fallback` column: "" or what replaced the model for this customer, in words."""
    text = prob["clv_fallback_reason"].to_numpy(object).copy()

    def add(mask, what):
        text[mask] = np.where(text[mask] == "", what, text[mask] + "; " + what)

    add(~buyer, "refunds only: no purchase in the data, scored by the purchase model")
    return text


def finite_or_fallback(out, prob, by, *, prob_params) -> list[str]:
    """Customers with a non-finite prediction from the chosen model get the purchase model's
    (finite by construction, `tools.models.clv_predict.predict_clv`), named in their `model` column."""
    cols = [*VALUE_COLUMNS, "churn_probability"]
    bad = ~np.isfinite(out[cols].to_numpy(float)).all(axis=1)
    if not bad.any():
        return []
    base = prob_params["model"]
    failed = sorted({m for k in by for m in by[k][bad]} - {base}) or [base]
    for c in cols:
        out[c] = np.where(bad, prob[c].to_numpy(float), out[c].to_numpy(float))
    base_by = base_models(prob)
    for k in by:
        by[k][bad] = base_by[k][bad]
    n = int(bad.sum())
    return [
        f"{n:,} customer{'s' if n > 1 else ''} got no finite prediction from the "
        f"{' or '.join(failed)} model: scored by the purchase model ({prob_name(prob_params)}) "
        "instead (their `model` column says so)."
    ]


def customer_margins(orders, products, *, as_of, margin, customers):
    """Per customer (codes in `customers`): the share of revenue that is contribution, and
    where it came from. Where products carry `unit_cost` (products.csv, Shopify's "Cost per
    item") and the lines name a product: 1 - sum(quantity x unit cost) / sum(amount) over the
    customer's purchase lines with a known cost up to as-of ("unit_cost"), the same over all
    the store's costed lines for a customer with none ("store_unit_cost"); otherwise the
    flat `margin` ("flat"). Shares are clipped to [0, 1]."""
    n = len(customers)
    flat = (
        np.full(n, float(margin)),
        np.full(n, "flat", dtype=object),
        {"source": "flat", "margin": float(margin)},
    )
    if (
        products is None
        or "unit_cost" not in products
        or "product_id" not in orders
        or "product_id" not in products
    ):
        return flat
    cost = pd.to_numeric(
        products.drop_duplicates("product_id").set_index("product_id")["unit_cost"], errors="coerce"
    )
    o = orders.loc[
        (orders["order_date"] < pd.Timestamp(as_of) + pd.Timedelta(days=1)).to_numpy()
        & purchase_mask(orders)
    ]
    unit = o["product_id"].map(cost).to_numpy(float)
    qty = (
        pd.to_numeric(o["quantity"], errors="coerce").fillna(1.0).to_numpy(float)
        if "quantity" in o
        else np.ones(len(o))
    )
    amount = o["amount"].to_numpy(float)
    known = np.isfinite(unit) & (amount > 0)
    if not known.any():
        return flat
    line_cost = np.where(known, unit * qty, 0.0)
    rev = pd.Series(np.where(known, amount, 0.0)).groupby(o["customer_id"].to_numpy()).sum()
    cst = pd.Series(line_cost).groupby(o["customer_id"].to_numpy()).sum()
    store = float(np.clip(1.0 - line_cost.sum() / amount[known].sum(), 0.0, 1.0))
    r, c = (
        rev.reindex(customers).fillna(0.0).to_numpy(),
        cst.reindex(customers).fillna(0.0).to_numpy(),
    )
    own = r > 0
    with np.errstate(all="ignore"):
        share = np.where(own, np.clip(1.0 - c / np.where(own, r, 1.0), 0.0, 1.0), store)
    source = np.where(own, "unit_cost", "store_unit_cost").astype(object)
    return (
        share,
        source,
        {
            "source": "unit_cost",
            "store_margin": store,
            "costed_line_share": float(known.mean()),
            "customers_own_costs": int(own.sum()),
        },
    )


def discount_factor(*, horizon_days: int, discount_rate: float, step_days: float = 30.0) -> float:
    """Average discount over the horizon for revenue spread evenly across it: the mean of
    (1 + r) ** -(t_k / 365) over 30-day steps (the convention of tools.models.clv_predict.predict_clv)."""
    if not discount_rate:
        return 1.0
    steps = np.arange(step_days, horizon_days + step_days, step_days).clip(max=horizon_days)
    return float(np.mean((1.0 + discount_rate) ** -(steps / 365.0)))
