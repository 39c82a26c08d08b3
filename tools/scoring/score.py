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

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.ingest.keys import codes_in, factorize_sorted
from tools.models import clv
from tools.models.choices import DEFAULT_MODEL, check_model
from tools.models.churn import (
    DRIVER_HORIZON_DAYS,
    DRIVER_SPLITS,
    MAX_TRAIN_ROWS,
    MIN_TRAIN_CUSTOMERS,
    PROB_FLOOR,
    Calibrator,
    MLModel,
    NotEnoughHistory,
    explain_reasons,
    rule_reasons,
    train_drivers,
    train_ml,
)
from tools.models.features import build_features, labels, occasions
from tools.schema import purchase_mask
from tools.scoring.metrics import auc, mae, spearman, top_decile_capture

log = logging.getLogger(__name__)

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

Progress = Callable[[str], None]


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
    products carry them and from `margin` where they do not (`_customer_margins`).
    `unit_costs` True/False forces the unit costs on or off."""
    check_model(model)
    as_of = pd.Timestamp(as_of).normalize()
    progress("fitting the purchase and value models")
    # every step below sees customer codes, not ids (_Population); the ids come back at the end
    pop = _Population.of(orders, events, tickets)
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


def _score(  # noqa: C901
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
    orders, events, tickets = pop.orders, pop.events, pop.tickets
    ctx = dict(events=events, tickets=tickets, products=products)
    # the interval drawn here is a placeholder (10 draws): it is drawn again once the churn
    # model is chosen and the interval calibrated (_interval_with_churn)
    # value is revenue here (margin 1); the margin, the store's unit costs or the flat
    # --margin, is applied per customer at the end (_customer_margins)
    prob, prob_params, fit = _probabilistic(
        orders,
        as_of=as_of,
        horizon_days=horizon_days,
        margin=1.0,
        discount_rate=discount_rate,
        seed=seed,
        keep_fit=True,
        n_draws=10,
    )
    progress("building features")
    X = _features(orders, as_of=as_of, prob=prob, **ctx)
    out = prob.copy()  # every customer with a line by as-of, as X (in another order)
    # the ML model and the customer's own rate learn from, and score, customers with a
    # purchase occasion; a customer whose lines are all refunds keeps the purchase model's
    # scores (a customer with no repeat purchase), named in their `model` column
    buyer = X["n_occasions"].reindex(out["customer_id"]).to_numpy() > 0
    by = _base_models(prob)
    choice = {"value": "bgnbd", "churn": "bgnbd"}
    ml_info: dict = {"used": False}
    notes = _warnings(orders, as_of=as_of, horizon_days=horizon_days)
    ml: MLModel | None = None
    ctx["pop"] = pop
    rolling: dict = {}
    if model == "auto":
        progress("choosing the models by rolling-origin backtests on the store")
        try:
            rolling = _rolling_choice(
                orders, as_of=as_of, horizon_days=horizon_days, seed=seed, **ctx
            )
        except Exception as exc:  # the choice is a refinement: BG/NBD stands
            log.warning("the rolling-origin model choice failed", exc_info=True)
            rolling = {"choice": dict(choice), "failed": f"{type(exc).__name__}: {exc}"}
    alt = [k for k, v in rolling.get("choice", {}).items() if v == ALT_PURCHASE]
    if alt:
        progress(f"fitting {PURCHASE_MODEL_NAMES[ALT_PURCHASE]}, chosen by the backtests")
        alt_fit = clv.with_purchase_model(fit[0], fit[1], ALT_PURCHASE)
        if alt_fit is None:
            rolling["choice"].update({k: "bgnbd" for k in alt})
            rolling["refused"] = (
                f"{PURCHASE_MODEL_NAMES[ALT_PURCHASE]} was chosen for {' and '.join(alt)} "
                "but did not converge on the orders up to as-of: BG/NBD stands"
            )
            notes.append(
                f"The model choice picked {PURCHASE_MODEL_NAMES[ALT_PURCHASE]}, which then "
                f"did not fit this store's orders up to {as_of.date()}: customers are "
                f"scored by {_prob_name(prob_params)}."
            )
        else:
            out, by, prob, prob_params, fit = _switch_purchase_model(
                (out, by, prob, prob_params, fit),
                alt,
                alt_fit,
                as_of=as_of,
                horizon_days=horizon_days,
                discount_rate=discount_rate,
                seed=seed,
            )
            choice.update({k: ALT_PURCHASE for k in alt})
    wants_ml = model == "ml" or any(
        v in ("ml", "blend") for v in rolling.get("choice", {}).values()
    )
    if model == "auto" and not wants_ml:
        ml_info = {
            "used": False,
            "reason": (
                f"the store is too short to choose a model by rolling-origin backtests: "
                f"{rolling['too_short']}"
                if "too_short" in rolling
                else f"the store is too short to judge it by rolling-origin backtests: "
                f"{rolling['ml_too_short']}"
                if "ml_too_short" in rolling
                else f"the model choice failed: {rolling['failed']}"
                if "failed" in rolling
                else "the rolling-origin backtests did not show it ahead of the purchase model by more "
                "than its spread across cutoffs"
            ),
        }
    if wants_ml:
        progress("training the ML model on an inner time split")
        try:
            ml, inner = _train_inner(
                orders, as_of=as_of, horizon_days=horizon_days, seed=seed, **ctx
            )
            ml_info = {"used": True, **ml.info, "inner_backtest": inner}
            choice = (
                {"value": "ml", "churn": "ml"}
                if model == "ml"
                else {k: rolling["choice"][k] for k in choice}
            )
        except NotEnoughHistory as exc:
            ml_info = {"used": False, "reason": str(exc)}
        except Exception as exc:  # a model failure is not the merchant's error: fall back
            log.warning("the ML model failed; scoring with the purchase model", exc_info=True)
            ml_info = {"used": False, "reason": f"it failed: {type(exc).__name__}: {exc}"}
    if ml is not None:
        progress("predicting with the ML model")
        base = out.copy(), {k: v.copy() for k, v in by.items()}
        try:
            _apply_ml(
                out,
                ml.predict(
                    X.loc[out["customer_id"].to_numpy()[buyer]], targets=_ml_targets(choice)
                ),
                buyer,
                by,
                choice,
                discount_factor(horizon_days=horizon_days, discount_rate=discount_rate),
            )
        except Exception as exc:  # as above: the purchase model's scores stand
            log.warning(
                "the ML model failed to predict; scoring with the purchase model", exc_info=True
            )
            out, by = base
            ml = None
            choice = {k: v if v == ALT_PURCHASE else "bgnbd" for k, v in choice.items()}
            ml_info = {
                **ml_info,
                "used": False,
                "reason": f"it failed to predict: {type(exc).__name__}: {exc}",
            }
    if model == "auto" and rolling.get("choice", {}).get("churn") == "rate":
        choice["churn"] = "rate"
        rate = rate_no_purchase(X, horizon_days=horizon_days).reindex(out["customer_id"]).to_numpy()
        if "rate_calibrator" in rolling:
            p_rate = np.clip(rolling["rate_calibrator"].predict(rate), PROB_FLOOR, 1 - PROB_FLOOR)
        else:
            p_rate = np.zeros(len(out))
            p_rate[buyer] = _rank_onto(rate[buyer], out["churn_probability"].to_numpy()[buyer])
        out["churn_probability"] = np.where(buyer, p_rate, out["churn_probability"])
        by["churn"][buyer] = "rate"
    judged_out = (
        model == "auto"
        and not wants_ml
        and not ({"too_short", "ml_too_short", "failed"} & set(rolling))
    )
    if ml is None and model in ("auto", "ml"):
        ml_info["fallback"] = "bgnbd: " + ml_info["reason"]
        rate = ", churn by each customer's own purchase rate" if choice["churn"] == "rate" else ""
    if ml is None and model in ("auto", "ml") and not judged_out:  # a choice by evidence is
        # not a warning: it is in params["model_selection"]
        notes.append(
            f"The machine-learned model was {'requested but ' if model == 'ml' else ''}"
            f"not used ({ml_info['reason']}): customers are scored by the purchase "
            f"model ({_prob_name(prob_params)}){rate}."
        )
    progress("calibrating the value interval on the store's own past")
    calib = _interval_calibration(
        orders,
        as_of=as_of,
        horizon_days=horizon_days,
        seed=seed,
        rate_calibrator=rolling.get("rate_calibrator") if choice["churn"] == "rate" else None,
        purchase_models=choice,
    )
    if "skipped" in calib:
        notes.append(
            f"The value interval (clv_low, clv_high) is not calibrated on this store: "
            f"{calib['skipped']}."
        )
    _interval_with_churn(
        out,
        by,
        fit,
        prob=prob,
        as_of=as_of,
        horizon_days=horizon_days,
        margin=1.0,
        discount_rate=discount_rate,
        seed=seed,
        interval=calib.get("level", 0.9),
        interval_scale=calib.get("scale", 1.0),
    )
    progress("explaining churn drivers")
    ids = out["customer_id"].to_numpy()
    drivers = None
    if ml is None and model in ("auto", "ml"):
        # the ML model's probabilities were not chosen, but the churn-driver model (causes
        # that preceded a lapse, stacked quarterly splits) can still explain the at-risk
        try:
            drivers, ml_info["drivers"] = _train_drivers(orders, as_of=as_of, seed=seed, **ctx)
        except Exception as exc:  # the rules explain instead
            log.warning("the churn-driver model failed", exc_info=True)
            ml_info["drivers"] = {"failed": f"{type(exc).__name__}: {exc}"}
    if (ml is not None or drivers is not None) and buyer.any():
        p_buy = out["churn_probability"].to_numpy()[buyer]
        if ml is not None:
            reasons = ml.reasons(X.loc[ids[buyer]], churn_probability=p_buy)
        else:
            assert drivers is not None  # the condition above: the ML model or the drivers
            reasons = explain_reasons(
                drivers, drivers.feature_name(), X.loc[ids[buyer]], churn_probability=p_buy
            )
        reasons = pd.concat([reasons, rule_reasons(X.loc[ids[~buyer]])])
    else:
        reasons = rule_reasons(X)
    reasons = reasons.reindex(ids)
    out["churn_reason"] = reasons["churn_reason"].to_numpy()
    out["churn_drivers"] = reasons["churn_drivers"].to_numpy()
    notes += _no_purchase_note(buyer, by, as_of=as_of, prob_params=prob_params)
    notes += _finite_or_fallback(out, prob, by, prob_params=prob_params)
    notes += _fallback_note(prob, prob_params)
    out["fallback"] = _fallback_text(prob, buyer)
    out["model"] = "value:" + pd.Series(by["value"]) + ",churn:" + pd.Series(by["churn"])
    out["interval_calibrated"] = "skipped" not in calib
    share, source, margin_info = _customer_margins(
        orders,
        products if unit_costs else None,
        as_of=as_of,
        margin=margin,
        customers=out["customer_id"].to_numpy(),
    )
    for col in ("predicted_clv", "clv_low", "clv_high"):
        out[col] = out[col].to_numpy(float) * share
    out["value_margin"], out["margin_source"] = share, source
    progress("segments, tiers and next best product")
    out = _segments_and_products(out, nbp.result(), X, seed=seed)
    rolling.pop("rate_calibrator", None)
    params = {
        "as_of": str(as_of.date()),
        "horizon_days": horizon_days,
        "model_requested": model,
        "model_choice": choice,
        "model_selection": rolling,
        "interval_calibration": calib,
        "model_counts": out["model"].value_counts().to_dict(),
        "margin": margin,
        "margin_used": margin_info,
        "discount_rate": discount_rate,
        "probabilistic": prob_params,
        "ml": ml_info,
        "clusters": out.attrs.pop("cluster_descriptions", {}),
        "warnings": notes,
    }
    scores = _finalise(out, ids=pop.ids)
    return ScoreResult(scores, params)


VALUE_COLUMNS = ("expected_orders", "predicted_clv", "clv_low", "clv_high")
PURCHASE_MODEL_NAMES = {
    "bgnbd": "BG/NBD",
    "mbgnbd": "MBG/NBD",
    "paretonbd": "Pareto/NBD",
    "pooled": "a pooled purchase rate",
}
SPEND_MODEL_NAMES = {
    "gamma_gamma": "Gamma-Gamma",
    "store_average": "the store's average order value",
}
CHOICE_WORDS = {  # the rolling-origin choice per target (params["model_choice"]), in words
    "value": {
        "bgnbd": "the fitted purchase model",
        "paretonbd": "Pareto/NBD",
        "ml": "the ML model",
        "blend": "the average of the ML and purchase models",
    },
    "churn": {
        "bgnbd": "the fitted purchase model",
        "paretonbd": "Pareto/NBD",
        "ml": "the ML model",
        "rate": "each customer's own purchase rate",
        "blend": "the ML and purchase models' risk ranks averaged",
    },
}


def _prob_name(prob_params: dict) -> str:
    """The probabilistic model as fitted, in words: "BG/NBD + Gamma-Gamma"."""
    model, spend = prob_params.get("model"), prob_params.get("spend_model")
    model_name = None if model is None else PURCHASE_MODEL_NAMES.get(model, model)
    spend_name = None if spend is None else SPEND_MODEL_NAMES.get(spend, spend)
    return f"{model_name} + {spend_name}"


JUDGED_PREDICTIONS = ("churn_probability", "expected_revenue")  # what the backtests compare


def _ml_targets(choice) -> tuple[str, ...]:
    """The ML model's predictions `_apply_ml` reads for `choice` (only those are run)."""
    return (
        ("expected_orders", "expected_revenue") if choice["value"] in ("ml", "blend") else ()
    ) + (("churn_probability",) if choice["churn"] in ("ml", "blend") else ())


def _switch_purchase_model(base, targets, alt, *, as_of, horizon_days, discount_rate, seed):
    """The scores with `alt` (ALT_PURCHASE's ClvParams, `tools.models.clv.with_purchase_model`) for
    `targets` ("value", "churn"), where the rolling-origin choice took it: (out, by, prob,
    prob_params, fit); `base` is the same tuple for the fitted model. For value, it becomes
    the purchase model (prob, fit: the interval, the fallbacks, the warnings are its); for
    churn alone, only the churn columns change. Both engines call this."""
    out, by, prob0, params0, fit = base
    prob, params, fit2 = _probabilistic(
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
    new_out, new_by = prob.copy(), _base_models(prob)
    if "churn" not in targets:  # value from it, churn from the base model
        new_out["churn_probability"] = out["churn_probability"].to_numpy()
        new_by["churn"] = by["churn"].copy()
    return new_out, new_by, prob, params, fit2


def _apply_ml(out, pred, buyer, by, choice, scale) -> None:
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
        # (_interval_calibration); it is widened to hold the ML value where that falls outside
        by["value"][buyer] = "ml" if choice["value"] == "ml" else "ml+" + by["value"][buyer]
    if choice["churn"] in ("ml", "blend"):
        p = pred["churn_probability"].to_numpy(float)
        if choice["churn"] == "blend":  # ranks averaged with the purchase model's, onto ML's
            p = rank_blend(out["churn_probability"].to_numpy(float)[buyer], p, onto=p)
            by["churn"][buyer] = "ml+" + by["churn"][buyer]
        else:
            by["churn"][buyer] = "ml"
        put("churn_probability", p)


def _interval_with_churn(
    out,
    by,
    fit,
    *,
    as_of,
    horizon_days,
    margin,
    discount_rate,
    seed,
    interval,
    interval_scale,
    prob=None,
) -> None:
    """The value interval (clv_low, clv_high of `out`, and of `prob` when given), drawn at the calibrated
    level and scale. Where the churn probability is not the purchase model's (ML, own rate),
    it is consistent with it: "nothing" with that probability, else the purchase and spend
    models' revenue given a purchase (`tools.models.clv.predict_clv`, churn_probability)."""
    # the mixture is drawn for every customer, the purchase model's own churn included: its
    # P(no purchase) is then exact (not a Monte Carlo share of zero draws), so the lower
    # bound is positive exactly where that probability is under (1 - level) / 2
    rfm, fitted = fit
    p0 = (
        out.set_index("customer_id")["churn_probability"]
        .reindex(rfm["customer_id"])
        .to_numpy(float)
    )
    with np.errstate(all="ignore"):
        again, _ = clv.predict_clv(
            rfm,
            fitted,
            horizon_days=horizon_days,
            as_of=as_of,
            margin=margin,
            discount_rate=discount_rate,
            seed=seed,
            interval=interval,
            interval_scale=interval_scale,
            churn_probability=p0,
        )
    again = again.set_index("customer_id")
    for frame in (out,) if prob is None else (out, prob):
        new = again.reindex(frame["customer_id"])
        for col in ("clv_low", "clv_high"):
            v = new[col].to_numpy(float)
            frame[col] = np.where(np.isfinite(v), v, frame[col].to_numpy(float))


def _base_models(prob: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per customer, the model behind the purchase model's value and churn numbers: the
    fitted model's name, or the fallback that replaced a non-finite prediction."""
    return {
        "value": prob["value_model"].to_numpy(object).copy(),
        "churn": prob["churn_model"].to_numpy(object).copy(),
    }


def _fallback_note(prob, prob_params) -> list[str]:
    """A warning naming the purchase model's fallbacks, when any customer got one."""
    flagged = prob["clv_fallback"].to_numpy(bool)
    if not flagged.any():
        return []
    kinds = pd.Series(prob.loc[flagged, "clv_fallback_reason"].str.split("; ").explode())
    counts = kinds[kinds != ""].value_counts()
    what = ", ".join(f"{k} ({v:,})" for k, v in counts.items())
    return [
        f"{int(flagged.sum()):,} customers got no finite prediction from "
        f"{_prob_name(prob_params)} for some numbers and were given a fallback: {what}. "
        "Their `fallback` and `model` columns say which."
    ]


def _fallback_text(prob, buyer) -> np.ndarray:
    """The `fallback` column: "" or what replaced the model for this customer, in words."""
    text = prob["clv_fallback_reason"].to_numpy(object).copy()

    def add(mask, what):
        text[mask] = np.where(text[mask] == "", what, text[mask] + "; " + what)

    add(~buyer, "refunds only: no purchase in the data, scored by the purchase model")
    return text


def _no_purchase_note(buyer, by, *, as_of, prob_params) -> list[str]:
    """A warning about the customers whose lines up to as-of are all refunds."""
    n = int((~buyer).sum())
    if not n:
        return []
    learnt = {m for k in by for m in by[k][buyer]}
    others = [
        w
        for m, w in (("ml", "the ML model"), ("rate", "the own-rate churn model"))
        if any(x.startswith(m) for x in learnt)
    ]
    one = len(others) == 1
    who = (
        (
            f"{' and '.join(others)}, which learn{'s' * one} from buyers, do{'es' * one} not "
            "score them; "
        )
        if others
        else ""
    )
    return [
        f"{n:,} customer{'s' if n > 1 else ''} had only returns (refunds) up to {as_of.date()}, "
        f"no purchase in the data: {who}the purchase model ({_prob_name(prob_params)}) "
        "scores them as customers without a repeat purchase (their `model` column says so). "
        "Their revenue to date is net of the refunds."
    ]


def _finite_or_fallback(out, prob, by, *, prob_params) -> list[str]:
    """Customers with a non-finite prediction from the chosen model get the purchase model's
    (finite by construction, `tools.models.clv.predict_clv`), named in their `model` column."""
    cols = [*VALUE_COLUMNS, "churn_probability"]
    bad = ~np.isfinite(out[cols].to_numpy(float)).all(axis=1)
    if not bad.any():
        return []
    base = prob_params["model"]
    failed = sorted({m for k in by for m in by[k][bad]} - {base}) or [base]
    for c in cols:
        out[c] = np.where(bad, prob[c].to_numpy(float), out[c].to_numpy(float))
    base_by = _base_models(prob)
    for k in by:
        by[k][bad] = base_by[k][bad]
    n = int(bad.sum())
    return [
        f"{n:,} customer{'s' if n > 1 else ''} got no finite prediction from the "
        f"{' or '.join(failed)} model: scored by the purchase model ({_prob_name(prob_params)}) "
        "instead (their `model` column says so)."
    ]


def _warnings(orders, *, as_of, horizon_days) -> list[str]:
    """What a merchant should know before trusting the numbers."""
    first = orders["order_date"].min()
    days = int((as_of - first.normalize()).days) + 1
    if days < horizon_days:
        return [
            f"The order history covers {days} days ({first.date()} to {as_of.date()}), less "
            f"than the {horizon_days}-day horizon: the predictions extrapolate beyond what the "
            "data shows. Treat them as rough, or score with a shorter prediction window "
            "(--horizon-days)."
        ]
    return []


def _probabilistic(
    orders,
    *,
    as_of,
    horizon_days,
    margin=1.0,
    discount_rate=0.0,
    seed=0,
    n_draws=200,
    interval=0.9,
    interval_scale=1.0,
    keep_fit=False,
    fit=None,
):
    """The probabilistic model's scores (tools.models.clv), in this module's column names, and its
    parameters as a dict; with `keep_fit`, also (rfm, ClvParams) for a later re-prediction.
    `fit`: (rfm, ClvParams) already fitted on `orders` (then only predicted)."""
    if fit is None:
        rfm = clv.rfm_summary(orders, as_of=as_of)
        fitted = clv.fit_clv(rfm)
    else:
        rfm, fitted = fit
    scores, fitted = clv.predict_clv(
        rfm,
        fitted,
        horizon_days=horizon_days,
        as_of=as_of,
        margin=margin,
        discount_rate=discount_rate,
        n_draws=n_draws,
        seed=seed,
        interval=interval,
        interval_scale=interval_scale,
    )
    scores = scores.rename(columns={"prob_no_purchase": "churn_probability"})
    if keep_fit:
        return scores, json.loads(fitted.to_json()), (rfm, fitted)
    return scores, json.loads(fitted.to_json())


MIN_CALIBRATION_CUSTOMERS = 50  # customers known at the inner cutoff to calibrate on
MIN_CALIBRATED_LEVEL = 0.9
"""The calibration widens the model's 90% interval, never narrows it: the inner window comes
before the horizon, and customers may buy more in the next one than in the last (Online
Retail's autumn: a level of 0.8 that covered 91% in the summer covered 83% by Christmas)."""


def _interval_calibration(
    orders, *, as_of, horizon_days, seed, rate_calibrator=None, purchase_models=None
) -> dict:
    """Calibrate the 90% value interval on the store itself (split-conformal in time): the
    purchase and spend models are fitted on the orders up to an inner cutoff, their
    predictive intervals for the window after it are compared with what each customer
    then spent, and the narrowest interval of one nested family that covers 90% is kept
    (`tools.models.clv.fit_interval_calibration`). The window is the horizon where the store has
    MIN_INNER_HISTORY_DAYS of orders before as-of minus the horizon, else the longest one
    that leaves that much (at least 30 days); a store shorter than that keeps the model's
    nominal interval, with `skipped` saying why. With `rate_calibrator` (churn by the own
    rate): P(no purchase) of a buyer is their own rate's (rate_no_purchase, calibrated), as
    it will be in the scores, so what is calibrated is the mixture the scores draw
    (`_interval_with_churn`). `purchase_models` (the model choice, {"value": ..., "churn": ...}):
    where a target is ALT_PURCHASE, the inner fit is that model for it, as in the scores."""
    days = int((as_of - orders["order_date"].min().normalize()).days) + 1
    window = min(horizon_days, days - MIN_INNER_HISTORY_DAYS)
    if window < 30:
        return {
            "skipped": f"{days} days of orders: too short to calibrate the interval on the "
            f"store's past (needs {MIN_INNER_HISTORY_DAYS + 30}); the model's "
            "nominal 90% interval is used"
        }
    cutoff = as_of - pd.Timedelta(days=window)
    known = orders.loc[orders["order_date"] < cutoff + pd.Timedelta(days=1)]
    try:
        rfm = clv.rfm_summary(known, as_of=cutoff)
        if len(rfm) < MIN_CALIBRATION_CUSTOMERS:
            return {
                "skipped": f"only {len(rfm):,} customers by {cutoff.date()}, the inner "
                f"cutoff; the model's nominal 90% interval is used"
            }
        fitted = clv.fit_clv(rfm)
        alt = (
            clv.with_purchase_model(rfm, fitted, ALT_PURCHASE)
            if ALT_PURCHASE in (purchase_models or {}).values()
            else None
        )
        churn_fit = alt if alt is not None and purchase_models["churn"] == ALT_PURCHASE else fitted
        if alt is not None and purchase_models["value"] == ALT_PURCHASE:
            fitted = alt
        p0 = _model_p0(rfm, churn_fit, window)
        if rate_calibrator is not None:
            Xk = build_features(known, as_of=cutoff)
            rate = rate_no_purchase(Xk, horizon_days=window).reindex(rfm["customer_id"])
            buyer = (rfm["orders_to_date"] > 0).to_numpy()
            p_rate = np.clip(
                rate_calibrator.predict(rate.to_numpy(float)), PROB_FLOOR, 1 - PROB_FLOOR
            )
            p0 = np.where(buyer & rate.notna().to_numpy(), p_rate, np.nan)
            p0 = np.where(np.isfinite(p0), p0, _model_p0(rfm, churn_fit, window))
        lo, hi = clv.interval_quantiles(
            rfm, fitted, horizon_days=window, levels=clv.CALIBRATION_LEVELS, seed=seed, p0=p0
        )
    except DataError as exc:
        return {
            "skipped": f"the inner fit failed ({exc}); the model's nominal 90% interval is used"
        }
    actual = labels(
        orders, start=cutoff, horizon_days=window, customers=pd.Index(rfm["customer_id"])
    )["revenue"].to_numpy()
    fit = clv.fit_interval_calibration(lo, hi, actual, min_level=MIN_CALIBRATED_LEVEL)
    j = clv.CALIBRATION_LEVELS.index(0.9)
    nominal = float(np.mean((actual >= lo[:, j] - 1e-9) & (actual <= hi[:, j] + 1e-9)))
    return {
        "cutoff": str(cutoff.date()),
        "window_days": int(window),
        "customers": fit["n"],
        "purchase_model": fitted.model,
        "nominal_coverage": nominal,
        "level": fit["level"],
        "scale": fit["scale"],
        "coverage": fit["coverage"],
        "capped": bool(fit.get("capped", False)),
    }


def _customer_margins(orders, products, *, as_of, margin, customers):
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


def _model_p0(rfm, fitted, window) -> np.ndarray:
    """The purchase model's P(no purchase in `window` days) for every row of `rfm`."""
    scores, _ = clv.predict_clv(rfm, fitted, horizon_days=window, as_of="2000-01-01", n_draws=2)
    return scores["prob_no_purchase"].to_numpy(float)


def discount_factor(*, horizon_days: int, discount_rate: float, step_days: float = 30.0) -> float:
    """Average discount over the horizon for revenue spread evenly across it: the mean of
    (1 + r) ** -(t_k / 365) over 30-day steps (the convention of tools.models.clv.predict_clv)."""
    if not discount_rate:
        return 1.0
    steps = np.arange(step_days, horizon_days + step_days, step_days).clip(max=horizon_days)
    return float(np.mean((1.0 + discount_rate) ** -(steps / 365.0)))


def _features(orders, *, as_of, prob, events, tickets, products) -> pd.DataFrame:
    """`build_features` (no NaN) and the purchase model's columns (0 for a customer it has
    no row for), filled in place rather than by a copy of the whole table."""
    X = build_features(orders, as_of=as_of, events=events, tickets=tickets, products=products)
    p = prob.set_index("customer_id").reindex(X.index)
    for col, src in (
        ("bgnbd_p_alive", "p_alive"),
        ("bgnbd_expected_orders", "expected_orders"),
        ("bgnbd_p_no_purchase", "churn_probability"),
    ):
        v = p[src].to_numpy(float)
        X[col] = np.where(np.isnan(v), 0.0, v)
    return X


def _train_cutoffs(as_of: pd.Timestamp, horizon_days: int) -> list[pd.Timestamp]:
    """Where the training window starts: the latest window that ends at as-of; if too few
    customers are known by then, the same season a year earlier. (Training on last year's
    season first was tried on the demo store: its younger population overpredicted more.)"""
    latest = as_of - pd.Timedelta(days=horizon_days)
    same_season = as_of - pd.Timedelta(days=365)
    return [latest, same_season] if horizon_days < 365 else [latest]


@dataclass(frozen=True)
class _Population:
    """The store's tables with each customer id replaced by an integer code (its position
    among the sorted ids), computed once per scoring run. Every step (occasions, features,
    training samples, labels, look-ups) then works on integers: hashing millions of string
    ids again in each of them was a third of the scoring time on a million customers.
    Codes keep the ids' order, so sorting by code is sorting by id."""

    ids: np.ndarray  # code -> customer id (sorted)
    first: np.ndarray  # code -> first purchase (datetime64; NaT: refunds only)
    orders: pd.DataFrame
    events: pd.DataFrame | None = None  # rows of customers without orders left out
    tickets: pd.DataFrame | None = None

    @classmethod
    def of(cls, orders, events=None, tickets=None) -> _Population:
        code, ids = factorize_sorted(orders["customer_id"].to_numpy())
        if (code < 0).any():
            raise ValueError("orders have a missing customer_id (the loader rejects such rows)")
        buy = purchase_mask(orders)
        first = (
            pd.Series(orders["order_date"].to_numpy()[buy])
            .groupby(code[buy])
            .min()
            .reindex(range(len(ids)))
            .to_numpy()
        )

        def coded(df, codes):
            df = df.copy(deep=False)  # the caller's table is left as it is
            df["customer_id"] = codes
            return df if (codes >= 0).all() else df.loc[codes >= 0]

        return cls(
            np.asarray(ids, dtype=object),
            first,
            coded(orders, code),
            *(
                None if df is None else coded(df, codes_in(df["customer_id"].to_numpy(), ids))
                for df in (events, tickets)
            ),
        )


def rate_no_purchase(X: pd.DataFrame, *, horizon_days: int) -> pd.Series:
    """P(no purchase in the horizon) if each customer keeps their own historical rate of
    purchase occasions per day of tenure (at least 30 days): exp(-rate * horizon), Poisson."""
    rate = X["n_occasions"] / (X["tenure_days"] + 1).clip(lower=30)
    return np.exp(-rate * horizon_days).clip(1e-9, 1 - 1e-9)


def _churn_inner(orders, *, as_of, horizon_days, seed) -> dict:
    """Without an ML model, rank churn with BG/NBD's P(X = 0 | history) or the customer's
    own rate, whichever had the higher AUC on the last min(horizon, 90) days before as-of
    (both fitted on the data before that window)."""
    window = min(horizon_days, 90)
    cutoff = as_of - pd.Timedelta(days=window)
    short = _too_short(orders, cutoff, judged="the choice of churn model")
    if short:
        return {"skipped": short}
    known = orders.loc[orders["order_date"] < cutoff + pd.Timedelta(days=1)]
    if known["customer_id"].nunique() < MIN_TRAIN_CUSTOMERS:
        return {"skipped": f"only {known['customer_id'].nunique():,} customers by {cutoff.date()}"}
    prob, _ = _probabilistic(known, as_of=cutoff, horizon_days=window, seed=seed, n_draws=10)
    X = build_features(known, as_of=cutoff)
    X = X.loc[X["n_occasions"] > 0]  # the customers the rate model scores
    y = labels(orders, start=cutoff, horizon_days=window, customers=X.index)["no_purchase"]
    if y.nunique() < 2:
        return {"skipped": "everyone or no one bought in the window"}
    bg = prob.set_index("customer_id").loc[X.index, "churn_probability"]
    return {
        "cutoff": str(cutoff.date()),
        "window_days": window,
        "bgnbd": auc(bg, y),
        "rate": auc(rate_no_purchase(X, horizon_days=window), y),
    }


ROLLING_CUTOFFS = 3  # inner cutoffs of the rolling-origin model choice
MIN_CUTOFFS = 2  # a gain needs a spread: fewer cutoffs than this and BG/NBD stands
MIN_EVAL_CUSTOMERS = 50  # buyers at a cutoff to judge the purchase model and the own rate
EVAL_SAMPLE = 50_000  # customers sampled per cutoff on a large store
JUDGED_SHARE = 0.4  # of a cutoff's customers, when the ML model must learn from the others
MIN_GAIN = 0.002
"""A candidate's mean gain over the cutoffs must also exceed this (AUC or Spearman points):
a gain above its spread but this small (+0.0009 for Pareto/NBD's value on Online Retail) is
no reason to change the model. Chosen after seeing the real stores, so not independent."""
ALT_PURCHASE = "paretonbd"
"""The purchase model judged beside BG/NBD at each cutoff: Pareto/NBD lets a customer drop out
at any time, the first purchase included (BG/NBD only right after a repeat purchase). On
CDNOW it ranks churn and value better than BG/NBD (AUC .771 vs .757, Spearman .445 vs .426
at the published split); on other stores it does not, and the backtests say which."""


def _rolling_cutoffs(orders, as_of, horizon_days) -> list[pd.Timestamp]:
    """Inner cutoffs c with a full window (`horizon_days`) after them before as-of and
    MIN_INNER_HISTORY_DAYS of orders before them: as_of - h - j * max(30, h / 2)."""
    step = max(30, horizon_days // 2)
    cuts = [as_of - pd.Timedelta(days=horizon_days + j * step) for j in range(ROLLING_CUTOFFS)]
    return [c for c in cuts if _too_short(orders, c) is None]


def _eval_set(orders, events, tickets, products, *, pop, cutoff, horizon_days, seed):
    """Buyers known at `cutoff` (a sample of EVAL_SAMPLE on a large store): their features
    (purchase-model columns included, fitted on the data up to the cutoff) and what they
    did in (cutoff, cutoff + horizon]."""
    _, o, e, t = _sample(orders, events, tickets, pop=pop, before=cutoff, n=EVAL_SAMPLE, seed=seed)
    prob, _, (rfm, fitted) = _probabilistic(
        o, as_of=cutoff, horizon_days=horizon_days, seed=seed, n_draws=2, keep_fit=True
    )
    X = _features(o, as_of=cutoff, prob=prob, events=e, tickets=t, products=products)
    X = X.loc[X["n_occasions"] > 0]
    y = labels(o, start=cutoff, horizon_days=horizon_days, customers=X.index)
    alt_fit = clv.with_purchase_model(rfm, fitted, ALT_PURCHASE)
    alt: tuple[np.ndarray, np.ndarray] | None = None
    if alt_fit is not None:  # (churn, value) of the other purchase model, for the same customers
        sc, _ = clv.predict_clv(
            rfm, alt_fit, horizon_days=horizon_days, as_of=cutoff, n_draws=2, seed=seed
        )
        sc = sc.set_index("customer_id").loc[X.index]
        alt = (sc["prob_no_purchase"].to_numpy(float), sc["predicted_clv"].to_numpy(float))
    return X, y, prob.set_index("customer_id").loc[X.index, "predicted_clv"].to_numpy(), alt


def _rolling_choice(orders, *, as_of, horizon_days, seed, events, tickets, products, pop) -> dict:  # noqa: C901
    """Model choice per target by rolling-origin backtests on the store itself (Tashman 2000):
    at each inner cutoff c (`_rolling_cutoffs`), every candidate predicts the horizon after c
    from the data up to c (the ML model trained at c - h on the horizon that ended at c, or,
    on a store without that much history, on 60% of c's buyers) for the buyers known at c
    (the other 40% in the second case). Churn candidates: the purchase model's P(no purchase),
    ALT_PURCHASE's, the customer's own rate, the ML model, and the average of the purchase
    model's and the ML model's ranks (`rank_blend`, "blend") (AUC); value candidates: the
    purchase model, ALT_PURCHASE, the ML model and the ML/purchase-model average (Spearman with
    revenue, MAE no worse). A candidate replaces the purchase model only when its mean gain
    over the cutoffs is larger than the gain's standard deviation across them and than
    MIN_GAIN, with at least MIN_CUTOFFS cutoffs; else BG/NBD (the fitted purchase model)
    stands. The own rate's probabilities get a Platt calibration
    fitted on the cutoffs' outcomes (`tools.models.churn.Calibrator`). A store without MIN_CUTOFFS
    cutoffs a full horizon apart from as-of judges the purchase model and the own rate on the
    longest shorter window that has them (30 days at least; the ML model, which predicts the
    horizon, is then not judged), and the own rate, if chosen, only ranks (`_rank_onto`)."""
    window = horizon_days
    cuts = _rolling_cutoffs(orders, as_of, window)
    while len(cuts) < MIN_CUTOFFS and window > 30:  # the cheap candidates on a shorter window
        window = max(30, window - 30)
        cuts = _rolling_cutoffs(orders, as_of, window)
    res: dict = {
        "method": "rolling origin",
        "horizon_days": horizon_days,
        "window_days": window,
        "cutoffs": [str(c.date()) for c in cuts],
        "per_cutoff": [],
        "choice": {"value": "bgnbd", "churn": "bgnbd"},
    }
    ctx = dict(events=events, tickets=tickets, products=products, pop=pop)
    raw_rate, outcome = [], []
    full = window == horizon_days
    for j, c in enumerate(cuts if len(cuts) >= MIN_CUTOFFS else []):
        X, y, bg_value, alt = _eval_set(orders, **ctx, cutoff=c, horizon_days=window, seed=seed + j)
        if len(X) < MIN_EVAL_CUSTOMERS or y["no_purchase"].nunique() < 2:
            continue
        rate = rate_no_purchase(X, horizon_days=window).to_numpy()
        raw_rate.append(rate)
        outcome.append(y["no_purchase"].to_numpy())
        # the ML model learns from the horizon that ended at c (out of time); where the store
        # has no such horizon before c, from JUDGED_SHARE of c's own customers, judged on
        # the others (all candidates are then judged on those)
        judged = np.ones(len(X), bool)
        ml_pred, how = None, None
        try:
            if not full:
                raise NotEnoughHistory(f"the window ({window} days) is shorter than the horizon")
            Xt, yt, _ = _training_set(
                orders,
                events,
                tickets,
                products,
                pop=pop,
                cutoff=c - pd.Timedelta(days=horizon_days),
                horizon_days=horizon_days,
                n=EVAL_SAMPLE,
                seed=seed + j,
            )
            ml = train_ml(Xt, yt, horizon_days=horizon_days, seed=seed)
            ml_pred, how = ml.predict(X, targets=JUDGED_PREDICTIONS), "out of time"
        except NotEnoughHistory:
            perm = np.random.default_rng(seed + j).permutation(len(X))
            held = perm[: int(len(X) * JUDGED_SHARE)]
            judged = np.zeros(len(X), bool)
            judged[held] = True
            try:
                if not full:
                    raise NotEnoughHistory(
                        f"the window ({window} days) is shorter than the "
                        "horizon the ML model predicts"
                    )
                ml = train_ml(
                    X.iloc[~judged], y.iloc[~judged], horizon_days=horizon_days, seed=seed
                )
                ml_pred, how = (
                    ml.predict(X.iloc[judged], targets=JUDGED_PREDICTIONS),
                    "held-out customers",
                )
            except NotEnoughHistory as exc:
                judged[:] = True
                how = f"not judged: {exc}"
        yj = y.iloc[judged]
        row: dict[str, Any] = {
            "cutoff": str(c.date()),
            "customers": int(judged.sum()),
            "ml_judged_on": how,
            "churn": {
                "bgnbd": auc(X["bgnbd_p_no_purchase"].to_numpy()[judged], yj["no_purchase"]),
                "rate": auc(rate[judged], yj["no_purchase"]),
            },
            "value": {"bgnbd": _value_metrics(bg_value[judged], yj)},
        }
        if alt is not None:
            row["churn"][ALT_PURCHASE] = auc(alt[0][judged], yj["no_purchase"])
            row["value"][ALT_PURCHASE] = _value_metrics(alt[1][judged], yj)
        if ml_pred is not None and yj["no_purchase"].nunique() == 2:
            ml_value = ml_pred["expected_revenue"].to_numpy()
            ml_churn = ml_pred["churn_probability"].to_numpy(float)
            row["churn"]["ml"] = auc(ml_churn, yj["no_purchase"])
            row["churn"]["blend"] = auc(
                rank_blend(X["bgnbd_p_no_purchase"].to_numpy()[judged], ml_churn, onto=ml_churn),
                yj["no_purchase"],
            )
            row["value"]["ml"] = _value_metrics(ml_value, yj)
            row["value"]["blend"] = _value_metrics(0.5 * ml_value + 0.5 * bg_value[judged], yj)
        res["per_cutoff"].append(row)
    rows = res["per_cutoff"]
    if len(rows) < MIN_CUTOFFS:
        res["too_short"] = (
            f"{len(rows)} inner cutoff{'s' * (len(rows) != 1)} with a window "
            f"of 30 to {horizon_days} days after it before as-of, "
            f"{MIN_INNER_HISTORY_DAYS} days of orders before it and "
            f"{MIN_EVAL_CUSTOMERS} buyers of both outcomes; choosing a model "
            f"needs {MIN_CUTOFFS}"
        )
        return res
    if not any("ml" in r["churn"] for r in rows):
        why = sorted({str(r.get("ml_judged_on")) for r in rows})
        res["ml_too_short"] = (
            f"the ML model could not be judged at any of the {len(rows)} "
            f"inner cutoffs ({'; '.join(why)})"
        )
    res["evidence"] = {}
    for target, key in (("churn", None), ("value", "spearman")):
        best, best_gain = "bgnbd", 0.0
        for cand in ("rate", "ml", "blend", ALT_PURCHASE):
            if target == "value" and cand == "rate":
                continue
            have = [r for r in rows if cand in r[target]]
            if len(have) < MIN_CUTOFFS:
                continue
            get = (lambda m: m) if key is None else (lambda m: m[key])  # noqa: B023 (used at once)
            gains = np.array([get(r[target][cand]) - get(r[target]["bgnbd"]) for r in have])
            spread = float(np.std(gains, ddof=1))
            ok = bool(np.isfinite(gains).all() and gains.mean() > max(spread, MIN_GAIN))
            if target == "value":  # ranking gained, at no cost in error
                ok &= bool(
                    np.mean([r[target][cand]["mae_revenue"] for r in have])
                    <= np.mean([r[target]["bgnbd"]["mae_revenue"] for r in have])
                )
            res["evidence"][f"{target}:{cand}"] = {
                "mean_gain": float(gains.mean()),
                "spread": spread,
                "cutoffs": len(have),
                "chosen_if_best": ok,
            }
            if ok and gains.mean() > best_gain:
                best, best_gain = cand, float(gains.mean())
        res["choice"][target] = best
    if res["choice"]["churn"] == "rate" and full:
        cal = Calibrator.fit(np.concatenate(raw_rate), np.concatenate(outcome), method="sigmoid")
        res["rate_calibrator"] = cal
        res["rate_calibration"] = cal.describe()
    elif res["choice"]["churn"] == "rate":  # judged on a shorter window: its ranking only
        res["rate_calibration"] = {
            "method": "model quantiles",
            "why": f"judged on {window}-day windows, not the "
            f"{horizon_days}-day horizon: the own rate ranks the buyers and each gets the "
            "purchase model's P(no purchase) of the same rank (their distribution kept)",
        }
    return res


def rank_blend(purchase_model, ml, *, onto) -> np.ndarray:
    """The churn "blend": each customer's percentile ranks of the purchase model's and the ML
    model's P(no purchase), averaged, given out as the values of `onto` (the ML model's
    calibrated probabilities) in that order (`_rank_onto`). The two rank churn from different
    evidence (a fitted population model, a learned one from the features), and their average
    ranks better than either where the backtests say so (Online Retail: AUC .739, against
    .738 and .728)."""
    from scipy.stats import rankdata

    a, b = np.asarray(purchase_model, float), np.asarray(ml, float)
    if len(a) == 0:
        return a
    return _rank_onto(rankdata(a) + rankdata(b), onto)


def _rank_onto(score, reference) -> np.ndarray:
    """`reference`'s values given out in the order of `score` (ties share the mean rank's
    quantile): the ranking of one model with the calibrated distribution of another."""
    from scipy.stats import rankdata

    score, reference = np.asarray(score, float), np.sort(np.asarray(reference, float))
    if len(score) == 0:
        return score
    q = (rankdata(score) - 0.5) / len(score)
    return np.quantile(reference, q)


def _value_metrics(pred, y) -> dict:
    return {
        "mae_revenue": mae(pred, y["revenue"]),
        "spearman": spearman(pred, y["revenue"]),
        "top10_share": top_decile_capture(pred, y["revenue"]),
    }


def _sample(orders, events, tickets, *, pop: _Population, before, n, seed):
    """Orders/events/tickets of at most n customers who bought on or before the day `before`
    (a purchase at any time of that day, none of the next: the cutoff of rfm_summary)."""
    eligible = np.flatnonzero(pop.first < (before + pd.Timedelta(days=1)).to_datetime64())
    if len(eligible) <= n:
        return eligible, orders, events, tickets
    chosen = np.random.default_rng(seed).choice(eligible, n, replace=False)
    keep_code = np.zeros(len(pop.ids), bool)
    keep_code[chosen] = True

    def keep(df):  # the tables' customer ids are codes (_Population)
        return None if df is None else df.loc[keep_code[df["customer_id"].to_numpy()]]

    return chosen, keep(orders), keep(events), keep(tickets)


MIN_INNER_HISTORY_DAYS = 90  # history an inner split needs before its cutoff


def _too_short(orders, cutoff, *, judged: str = "the ML model") -> str | None:
    """Why an inner split at `cutoff` cannot judge a model, if it cannot: less than
    MIN_INNER_HISTORY_DAYS of orders before it. Its customers would be days old, their
    features (90-day counts, recency, tenure) unlike those of the customers it is to score,
    and the purchase model unfitted there (no spread in T): a judgement on them says nothing
    about the store. A store this short is scored by the model it can fit."""
    days = int((cutoff.normalize() - orders["order_date"].min().normalize()).days) + 1
    if days < MIN_INNER_HISTORY_DAYS:
        have = f"{days} day{'s' * (days != 1)} of orders" if days > 0 else "no orders"
        return (
            f"the inner backtest's cutoff {cutoff.date()} has {have} up to it; {judged} "
            f"needs {MIN_INNER_HISTORY_DAYS} days"
        )
    return None


def _training_set(orders, events, tickets, products, *, pop, cutoff, horizon_days, n, seed):
    short = _too_short(orders, cutoff)
    if short:
        raise NotEnoughHistory(short)
    ids, o, e, t = _sample(orders, events, tickets, pop=pop, before=cutoff, n=n, seed=seed)
    if len(ids) < MIN_TRAIN_CUSTOMERS:
        raise NotEnoughHistory(
            f"only {len(ids):,} customers had bought by {cutoff.date()}, the inner backtest's "
            f"cutoff; the ML model needs {MIN_TRAIN_CUSTOMERS}"
        )
    prob_c, _ = _probabilistic(o, as_of=cutoff, horizon_days=horizon_days, seed=seed, n_draws=10)
    Xc = _features(o, as_of=cutoff, prob=prob_c, events=e, tickets=t, products=products)
    Xc = Xc.loc[Xc["n_occasions"] > 0]  # the customers it learns from: buyers by the cutoff
    y = labels(o, start=cutoff, horizon_days=horizon_days, customers=Xc.index)
    return Xc, y, prob_c


MIN_HELD_OUT = 5_000  # unseen customers needed to judge the models on them alone


def _train_inner(orders, *, as_of, horizon_days, seed, events, tickets, products, pop):
    """Train at cutoff = as_of - horizon on a sample of customers known then; compare with
    the probabilistic model on sampled customers the trees were not grown on, over
    (cutoff, as_of]."""
    n = int(MAX_TRAIN_ROWS / 0.8)
    Xc, errors = None, []
    for cutoff in _train_cutoffs(as_of, horizon_days):
        try:
            Xc, y, prob_c = _training_set(
                orders,
                events,
                tickets,
                products,
                pop=pop,
                cutoff=cutoff,
                horizon_days=horizon_days,
                n=n,
                seed=seed,
            )
            break
        except NotEnoughHistory as exc:
            errors.append(exc)
    if Xc is None:
        raise errors[0]  # the latest cutoff's (as-of - horizon): the one a merchant can move
    ml = train_ml(Xc, y, horizon_days=horizon_days, seed=seed)
    # judged on customers the fit never saw: beyond the training and calibration rows (the
    # same permutation as train_ml's) when there are enough of them, else the calibration
    # rows (used for early stopping and calibration, not to grow the trees)
    perm = np.random.default_rng(seed).permutation(len(Xc))
    held, judged_on = perm[MAX_TRAIN_ROWS:], "customers not used by the ML model"
    if len(held) < MIN_HELD_OUT:
        held, judged_on = (
            perm[int(min(len(Xc), MAX_TRAIN_ROWS) * 0.8) :],
            "the ML model's calibration customers",
        )
    held = held[:50_000]
    Xh, yh = Xc.iloc[held], y.iloc[held]
    pred = ml.predict(Xh, targets=JUDGED_PREDICTIONS)
    bg_clv = prob_c.set_index("customer_id").loc[Xh.index, "predicted_clv"].to_numpy()
    value = {"ml": pred["expected_revenue"].to_numpy(), "bgnbd": bg_clv}
    value["blend"] = 0.5 * value["ml"] + 0.5 * value["bgnbd"]
    res: dict[str, Any] = {
        "cutoff": str(cutoff.date()),
        "held_out_customers": len(held),
        "held_out": judged_on,
        "value": {},
    }
    for name, v in value.items():
        res["value"][name] = {
            "mae_revenue": mae(v, yh["revenue"]),
            "spearman": spearman(v, yh["revenue"]),
            "top10_share": top_decile_capture(v, yh["revenue"]),
        }
    res["churn"] = {
        "ml": auc(pred["churn_probability"], yh["no_purchase"]),
        "bgnbd": auc(Xh["bgnbd_p_no_purchase"], yh["no_purchase"]),
    }
    table = pd.DataFrame(res["value"]).T
    ranks = pd.concat(
        [table["mae_revenue"].rank(), (-table["spearman"]).rank(), (-table["top10_share"]).rank()],
        axis=1,
    ).mean(axis=1)
    ml_auc, bg_auc = res["churn"]["ml"], res["churn"]["bgnbd"]
    # a model that cannot be judged (one class among the held-out customers) is not chosen
    ml_wins = np.isfinite(ml_auc) and not ml_auc < bg_auc
    res["choice"] = {
        "value": str(ranks.idxmin()) if ranks.notna().any() else "bgnbd",
        "churn": "ml" if ml_wins else "bgnbd",
    }
    ml.drivers, res["drivers"] = _train_drivers(
        orders, as_of=as_of, seed=seed, events=events, tickets=tickets, products=products, pop=pop
    )
    return ml, res


def _train_drivers(orders, *, as_of, seed, events, tickets, products, pop):
    """Stack DRIVER_SPLITS quarterly splits (features at as_of - 90k, labels in the next 90
    days) so the driver model sees causes that preceded a lapse."""
    Xs, ys, used = [], [], []
    for k in range(1, DRIVER_SPLITS + 1):
        cutoff = as_of - pd.Timedelta(days=DRIVER_HORIZON_DAYS * k)
        try:
            Xc, y, _ = _training_set(
                orders,
                events,
                tickets,
                products,
                pop=pop,
                cutoff=cutoff,
                horizon_days=DRIVER_HORIZON_DAYS,
                n=25_000,
                seed=seed + k,
            )
        except NotEnoughHistory:
            break
        Xs.append(Xc)
        ys.append(y["no_purchase"])
        used.append(str(cutoff.date()))
    if not Xs:
        return None, {"splits": []}
    X = pd.concat(Xs, ignore_index=True)
    y = pd.concat(ys, ignore_index=True)
    if y.nunique() < 2:
        return None, {"splits": used}
    return train_drivers(X, y, seed=seed), {"splits": used, "rows": len(X)}


def _next_best(hist, *, products) -> pd.DataFrame:
    from tools.insights.affinity import next_best_product

    return next_best_product(hist, products=products).set_index("customer_id")


def _segments_and_products(out, nbp, X, *, seed) -> pd.DataFrame:
    from tools.insights.segments import behaviour_clusters, clv_tiers, rfm_scores

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
    cluster_cols = [
        "recency_days",
        "n_occasions",
        "avg_order_value",
        "discount_share",
        "return_share",
        "events_90d",
    ]
    sample_X = X[cluster_cols]
    labels_, descriptions = behaviour_clusters(sample_X, seed=seed)
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
    if bad.any():  # model outputs were made finite (_finite_or_fallback): this is the data's
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


def purchase_occasions(orders: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Re-exported for callers that want the day-level occasions behind the scores."""
    return occasions(orders, as_of=as_of)
