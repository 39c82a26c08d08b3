"""Score every customer of a store (DESIGN.md, "Scores out").

One row per customer seen up to `as_of`:

    customer_id, orders_to_date, revenue_to_date, avg_days_between_orders, p_alive,
    expected_orders, expected_next_order_date, predicted_clv, clv_low, clv_high,
    churn_probability, churn_drivers, segment, clv_tier, next_best_product

plus `churn_reason` (the driver to act on), `cluster` (behavioural cluster, described in
the params) and `model` (which model produced the value columns).

Models: the probabilistic one (BG/NBD or a fallback, Gamma-Gamma; `tools.clv`) always
runs; its outputs are features of the machine-learned one (`tools.churn`). `model="auto"`
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

import numpy as np
import pandas as pd

from tools import clv
from tools.churn import (
    DRIVER_HORIZON_DAYS,
    DRIVER_SPLITS,
    MAX_TRAIN_ROWS,
    MIN_TRAIN_CUSTOMERS,
    MLModel,
    NotEnoughHistory,
    rule_reasons,
    train_drivers,
    train_ml,
)
from tools.errors import DataError
from tools.schema import purchase_mask
from tools.features import build_features, labels, occasions
from tools.keys import codes_in, factorize_sorted
from tools.metrics import auc, mae, spearman, top_decile_capture
from tools.models import DEFAULT_MODEL, check_model

log = logging.getLogger(__name__)

SCORE_COLUMNS = [
    "customer_id", "orders_to_date", "revenue_to_date", "avg_days_between_orders", "p_alive",
    "expected_orders", "expected_next_order_date", "predicted_clv", "clv_low", "clv_high",
    "churn_probability", "churn_drivers", "segment", "clv_tier", "next_best_product",
]
EXTRA_COLUMNS = ["churn_reason", "cluster", "model", "next_best_product_name"]
"""Beyond DESIGN.md's columns: the reason a merchant acts on, the behavioural cluster, the
model that made each row, and the next best product's name (its code is `next_best_product`)."""
NBP_INPUT = ("customer_id", "order_id", "product_id", "product_name", "amount")  # order columns it reads

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
) -> ScoreResult:
    """Score every customer with an order line on or before `as_of` (module docstring)."""
    check_model(model)
    as_of = pd.Timestamp(as_of).normalize()
    progress("fitting the purchase and value models")
    # every step below sees customer codes, not ids (_Population); the ids come back at the end
    pop = _Population.of(orders, events, tickets)
    # the next best product needs the order history only: it is worked out on a second
    # thread, on its own copy of the columns it reads, while the models are fitted (its
    # numpy and scipy work runs beside theirs; a few seconds less on a large store)
    keep = (pop.orders["order_date"] < as_of + pd.Timedelta(days=1)).to_numpy()
    hist = pop.orders.loc[keep, [c for c in NBP_INPUT if c in pop.orders]]  # a copy
    with ThreadPoolExecutor(1, thread_name_prefix="next-best-product") as pool:
        nbp = pool.submit(_next_best, hist, products=None if products is None else products.copy())
        return _score(pop, nbp, as_of=as_of, horizon_days=horizon_days, model=model, margin=margin,
                      discount_rate=discount_rate, products=products, seed=seed, progress=progress)


def _score(pop, nbp, *, as_of, horizon_days, model, margin, discount_rate, products, seed,
           progress) -> ScoreResult:
    orders, events, tickets = pop.orders, pop.events, pop.tickets
    ctx = dict(events=events, tickets=tickets, products=products)
    prob, prob_params = _probabilistic(
        orders, as_of=as_of, horizon_days=horizon_days, margin=margin,
        discount_rate=discount_rate, seed=seed)
    progress("building features")
    X = _features(orders, as_of=as_of, prob=prob, **ctx)
    out = prob.copy()  # every customer with a line by as-of, as X (in another order)
    # the ML model and the customer's own rate learn from, and score, customers with a
    # purchase occasion; a customer whose lines are all refunds keeps the purchase model's
    # scores (a customer with no repeat purchase), named in their `model` column
    buyer = (X["n_occasions"].reindex(out["customer_id"]).to_numpy() > 0)
    base = prob_params["model"]  # the purchase model as fitted names it in `model`
    by = {k: np.full(len(out), base, dtype=object) for k in ("value", "churn")}
    choice = {"value": "bgnbd", "churn": "bgnbd"}
    ml_info: dict = {"used": False}
    notes = _warnings(orders, as_of=as_of, horizon_days=horizon_days)
    ml: MLModel | None = None
    ctx["pop"] = pop
    if model in ("auto", "ml"):
        progress("training the ML model on an inner time split")
        try:
            ml, inner = _train_inner(orders, as_of=as_of, horizon_days=horizon_days, seed=seed, **ctx)
            ml_info = {"used": True, **ml.info, "inner_backtest": inner}
            choice = ({"value": "ml", "churn": "ml"} if model == "ml"
                      else {k: inner["choice"][k] for k in choice})
        except NotEnoughHistory as exc:
            ml_info = {"used": False, "reason": str(exc)}
        except Exception as exc:  # a model failure is not the merchant's error: fall back
            log.warning("the ML model failed; scoring with the purchase model", exc_info=True)
            ml_info = {"used": False, "reason": f"it failed: {type(exc).__name__}: {exc}"}
    if ml is not None:
        progress("predicting with the ML model")
        try:
            _apply_ml(out, ml.predict(X.loc[out["customer_id"].to_numpy()[buyer]]), buyer, by,
                      choice, margin * discount_factor(horizon_days=horizon_days,
                                                       discount_rate=discount_rate))
        except Exception as exc:  # as above: the purchase model's scores stand
            log.warning("the ML model failed to predict; scoring with the purchase model",
                        exc_info=True)
            out = prob.copy()
            by = {k: np.full(len(out), base, dtype=object) for k in by}
            ml, choice = None, {"value": "bgnbd", "churn": "bgnbd"}
            ml_info = {**ml_info, "used": False,
                       "reason": f"it failed to predict: {type(exc).__name__}: {exc}"}
    if ml is None and model == "auto":
        progress("choosing the churn model on an inner split")
        try:
            inner_churn = _churn_inner(orders, as_of=as_of, horizon_days=horizon_days, seed=seed)
        except Exception as exc:  # the choice is a refinement: BG/NBD's churn stands
            log.warning("the inner churn backtest failed", exc_info=True)
            inner_churn = {"failed": f"{type(exc).__name__}: {exc}"}
        ml_info["churn_inner_backtest"] = inner_churn
        if inner_churn and inner_churn.get("rate", 0) > inner_churn.get("bgnbd", 1):
            choice["churn"] = "rate"
            rate = rate_no_purchase(X, horizon_days=horizon_days).reindex(out["customer_id"])
            out["churn_probability"] = np.where(buyer, rate.to_numpy(), out["churn_probability"])
            by["churn"][buyer] = "rate"
    if ml is None and model in ("auto", "ml"):
        ml_info["fallback"] = "bgnbd: " + ml_info["reason"]
        rate = ", churn by each customer's own purchase rate" if choice["churn"] == "rate" else ""
        notes.append(f"The machine-learned model was {'requested but ' if model == 'ml' else ''}"
                     f"not used ({ml_info['reason']}): customers are scored by the purchase "
                     f"model ({_prob_name(prob_params)}){rate}.")
    progress("explaining churn drivers")
    ids = out["customer_id"].to_numpy()
    if ml is not None and buyer.any():
        reasons = ml.reasons(X.loc[ids[buyer]], churn_probability=out["churn_probability"]
                             .to_numpy()[buyer])
        reasons = pd.concat([reasons, rule_reasons(X.loc[ids[~buyer]])])
    else:
        reasons = rule_reasons(X)
    reasons = reasons.reindex(ids)
    out["churn_reason"] = reasons["churn_reason"].to_numpy()
    out["churn_drivers"] = reasons["churn_drivers"].to_numpy()
    notes += _no_purchase_note(buyer, by, as_of=as_of, prob_params=prob_params)
    notes += _finite_or_fallback(out, prob, by, prob_params=prob_params)
    out["model"] = "value:" + pd.Series(by["value"]) + ",churn:" + pd.Series(by["churn"])
    progress("segments, tiers and next best product")
    out = _segments_and_products(out, nbp.result(), X, seed=seed)
    params = {"as_of": str(as_of.date()), "horizon_days": horizon_days, "model_requested": model,
              "model_choice": choice, "model_counts": out["model"].value_counts().to_dict(),
              "margin": margin, "discount_rate": discount_rate,
              "probabilistic": prob_params, "ml": ml_info,
              "clusters": out.attrs.pop("cluster_descriptions", {}), "warnings": notes}
    scores = _finalise(out, ids=pop.ids)
    return ScoreResult(scores, params)


VALUE_COLUMNS = ("expected_orders", "predicted_clv", "clv_low", "clv_high")
PURCHASE_MODEL_NAMES = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "paretonbd": "Pareto/NBD",
                        "pooled": "a pooled purchase rate"}
SPEND_MODEL_NAMES = {"gamma_gamma": "Gamma-Gamma", "store_average": "the store's average order value"}


def _prob_name(prob_params: dict) -> str:
    """The probabilistic model as fitted, in words: "BG/NBD + Gamma-Gamma"."""
    return (f"{PURCHASE_MODEL_NAMES.get(prob_params.get('model'), prob_params.get('model'))} + "
            f"{SPEND_MODEL_NAMES.get(prob_params.get('spend_model'), prob_params.get('spend_model'))}")


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
        put("expected_orders", w * pred["expected_orders"].to_numpy() + (1 - w) * mine["expected_orders"])
        put("predicted_clv", w * (pred["expected_revenue"] * scale).to_numpy()
            + (1 - w) * mine["predicted_clv"])
        lo, hi = (pred["revenue_low"] * scale).to_numpy(), (pred["revenue_high"] * scale).to_numpy()
        if choice["value"] == "blend":  # the union of the two models' intervals
            lo, hi = np.minimum(mine["clv_low"], lo), np.maximum(mine["clv_high"], hi)
        put("clv_low", lo)
        put("clv_high", hi)
        by["value"][buyer] = "ml" if choice["value"] == "ml" else "ml+" + by["value"][buyer]
    if choice["churn"] == "ml":
        put("churn_probability", pred["churn_probability"].to_numpy())
        by["churn"][buyer] = "ml"


def _no_purchase_note(buyer, by, *, as_of, prob_params) -> list[str]:
    """A warning about the customers whose lines up to as-of are all refunds."""
    n = int((~buyer).sum())
    if not n:
        return []
    learnt = {m for k in by for m in by[k][buyer]}
    others = [w for m, w in (("ml", "the ML model"), ("rate", "the own-rate churn model"))
              if any(x.startswith(m) for x in learnt)]
    one = len(others) == 1
    who = (f"{' and '.join(others)}, which learn{'s' * one} from buyers, do{'es' * one} not "
           "score them; ") if others else ""
    return [f"{n:,} customer{'s' if n > 1 else ''} had only returns (refunds) up to {as_of.date()}, "
            f"no purchase in the data: {who}the purchase model ({_prob_name(prob_params)}) "
            "scores them as customers without a repeat purchase (their `model` column says so). "
            "Their revenue to date is net of the refunds."]


def _finite_or_fallback(out, prob, by, *, prob_params) -> list[str]:
    """Customers with a non-finite prediction from the chosen model get the purchase model's
    (finite by construction, `tools.clv.predict_clv`), named in their `model` column."""
    cols = [*VALUE_COLUMNS, "churn_probability"]
    bad = ~np.isfinite(out[cols].to_numpy(float)).all(axis=1)
    if not bad.any():
        return []
    base = prob_params["model"]
    failed = sorted({m for k in by for m in by[k][bad]} - {base}) or [base]
    for c in cols:
        out[c] = np.where(bad, prob[c].to_numpy(float), out[c].to_numpy(float))
    for k in by:
        by[k][bad] = base
    n = int(bad.sum())
    return [f"{n:,} customer{'s' if n > 1 else ''} got no finite prediction from the "
            f"{' or '.join(failed)} model: scored by the purchase model ({_prob_name(prob_params)}) "
            "instead (their `model` column says so)."]


def _warnings(orders, *, as_of, horizon_days) -> list[str]:
    """What a merchant should know before trusting the numbers."""
    first = orders["order_date"].min()
    days = int((as_of - first.normalize()).days) + 1
    if days < horizon_days:
        return [f"The order history covers {days} days ({first.date()} to {as_of.date()}), less "
                f"than the {horizon_days}-day horizon: the predictions extrapolate beyond what the "
                "data shows. Treat them as rough, or score a shorter --horizon-days."]
    return []


def _probabilistic(orders, *, as_of, horizon_days, margin=1.0, discount_rate=0.0, seed=0,
                   n_draws=200) -> tuple[pd.DataFrame, dict]:
    """The probabilistic model's scores (tools.clv), in this module's column names."""
    rfm = clv.rfm_summary(orders, as_of=as_of)
    fitted = clv.fit_clv(rfm)
    scores, fitted = clv.predict_clv(rfm, fitted, horizon_days=horizon_days, as_of=as_of,
                                     margin=margin, discount_rate=discount_rate,
                                     n_draws=n_draws, seed=seed)
    scores = scores.rename(columns={"prob_no_purchase": "churn_probability"})
    return scores, json.loads(fitted.to_json())


def discount_factor(*, horizon_days: int, discount_rate: float, step_days: float = 30.0) -> float:
    """Average discount over the horizon for revenue spread evenly across it: the mean of
    (1 + r) ** -(t_k / 365) over 30-day steps (the convention of tools.clv.predict_clv)."""
    if not discount_rate:
        return 1.0
    steps = np.arange(step_days, horizon_days + step_days, step_days).clip(max=horizon_days)
    return float(np.mean((1.0 + discount_rate) ** -(steps / 365.0)))


def _features(orders, *, as_of, prob, events, tickets, products) -> pd.DataFrame:
    X = build_features(orders, as_of=as_of, events=events, tickets=tickets, products=products)
    p = prob.set_index("customer_id").reindex(X.index)
    X["bgnbd_p_alive"] = p["p_alive"].to_numpy()
    X["bgnbd_expected_orders"] = p["expected_orders"].to_numpy()
    X["bgnbd_p_no_purchase"] = p["churn_probability"].to_numpy()
    return X.fillna(0.0)


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
        first = (pd.Series(orders["order_date"].to_numpy()[buy]).groupby(code[buy]).min()
                 .reindex(range(len(ids))).to_numpy())

        def coded(df, codes):
            df = df.copy(deep=False)  # the caller's table is left as it is
            df["customer_id"] = codes
            return df if (codes >= 0).all() else df.loc[codes >= 0]

        return cls(np.asarray(ids, dtype=object), first, coded(orders, code),
                   *(None if df is None else coded(df, codes_in(df["customer_id"].to_numpy(), ids))
                     for df in (events, tickets)))


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
    return {"cutoff": str(cutoff.date()), "window_days": window,
            "bgnbd": auc(bg, y), "rate": auc(rate_no_purchase(X, horizon_days=window), y)}


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
        return (f"the inner backtest's cutoff {cutoff.date()} has {have} up to it; {judged} "
                f"needs {MIN_INNER_HISTORY_DAYS} days")
    return None


def _training_set(orders, events, tickets, products, *, pop, cutoff, horizon_days, n, seed):
    short = _too_short(orders, cutoff)
    if short:
        raise NotEnoughHistory(short)
    ids, o, e, t = _sample(orders, events, tickets, pop=pop, before=cutoff, n=n, seed=seed)
    if len(ids) < MIN_TRAIN_CUSTOMERS:
        raise NotEnoughHistory(
            f"only {len(ids):,} customers had bought by {cutoff.date()}, the inner backtest's "
            f"cutoff; the ML model needs {MIN_TRAIN_CUSTOMERS}")
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
            Xc, y, prob_c = _training_set(orders, events, tickets, products, pop=pop,
                                          cutoff=cutoff, horizon_days=horizon_days, n=n, seed=seed)
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
        held, judged_on = perm[int(min(len(Xc), MAX_TRAIN_ROWS) * 0.8):], "the ML model's calibration customers"
    held = held[:50_000]
    Xh, yh = Xc.iloc[held], y.iloc[held]
    pred = ml.predict(Xh)
    bg_clv = prob_c.set_index("customer_id").loc[Xh.index, "predicted_clv"].to_numpy()
    value = {"ml": pred["expected_revenue"].to_numpy(), "bgnbd": bg_clv}
    value["blend"] = 0.5 * value["ml"] + 0.5 * value["bgnbd"]
    res = {"cutoff": str(cutoff.date()), "held_out_customers": len(held), "held_out": judged_on,
           "value": {}}
    for name, v in value.items():
        res["value"][name] = {"mae_revenue": mae(v, yh["revenue"]),
                              "spearman": spearman(v, yh["revenue"]),
                              "top10_share": top_decile_capture(v, yh["revenue"])}
    res["churn"] = {"ml": auc(pred["churn_probability"], yh["no_purchase"]),
                    "bgnbd": auc(Xh["bgnbd_p_no_purchase"], yh["no_purchase"])}
    table = pd.DataFrame(res["value"]).T
    ranks = pd.concat([table["mae_revenue"].rank(), (-table["spearman"]).rank(),
                       (-table["top10_share"]).rank()], axis=1).mean(axis=1)
    ml_auc, bg_auc = res["churn"]["ml"], res["churn"]["bgnbd"]
    # a model that cannot be judged (one class among the held-out customers) is not chosen
    ml_wins = np.isfinite(ml_auc) and not ml_auc < bg_auc
    res["choice"] = {"value": str(ranks.idxmin()) if ranks.notna().any() else "bgnbd",
                     "churn": "ml" if ml_wins else "bgnbd"}
    ml.drivers, res["drivers"] = _train_drivers(orders, as_of=as_of, seed=seed, events=events,
                                                tickets=tickets, products=products, pop=pop)
    return ml, res


def _train_drivers(orders, *, as_of, seed, events, tickets, products, pop):
    """Stack DRIVER_SPLITS quarterly splits (features at as_of - 90k, labels in the next 90
    days) so the driver model sees causes that preceded a lapse."""
    Xs, ys, used = [], [], []
    for k in range(1, DRIVER_SPLITS + 1):
        cutoff = as_of - pd.Timedelta(days=DRIVER_HORIZON_DAYS * k)
        try:
            Xc, y, _ = _training_set(orders, events, tickets, products, pop=pop, cutoff=cutoff,
                                     horizon_days=DRIVER_HORIZON_DAYS, n=25_000, seed=seed + k)
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
    from tools.affinity import next_best_product

    return next_best_product(hist, products=products).set_index("customer_id")


def _segments_and_products(out, nbp, X, *, seed) -> pd.DataFrame:
    from tools.segments import behaviour_clusters, clv_tiers, rfm_scores

    # the RFM table from the features (the same definitions as segments.rfm_table: days since
    # the last purchase day, purchase days, net revenue), not from the order lines again; as
    # there, a customer without a purchase (refunds only) has no RFM row and is "Lost" (the
    # lowest recency and frequency of the grid: the last purchase is before the data)
    buyers = X.loc[X["n_occasions"] > 0]
    rfm = rfm_scores(pd.DataFrame({
        "customer_id": buyers.index,
        "recency_days": buyers["recency_days"].to_numpy().astype(np.int64),
        "frequency": buyers["n_occasions"].to_numpy().astype(np.int64),
        "monetary": buyers["revenue_to_date"].to_numpy()})).set_index("customer_id")
    out["segment"] = out["customer_id"].map(rfm["segment"]).fillna("Lost").to_numpy()
    out["clv_tier"] = clv_tiers(out["predicted_clv"]).to_numpy()
    cluster_cols = ["recency_days", "n_occasions", "avg_order_value", "discount_share",
                    "return_share", "events_90d"]
    sample_X = X[cluster_cols]
    labels_, descriptions = behaviour_clusters(sample_X, seed=seed)
    out["cluster"] = out["customer_id"].map(pd.Series(labels_, index=X.index)).fillna(-1).astype(int).to_numpy()
    out.attrs["cluster_descriptions"] = {int(k): v for k, v in descriptions.items()}
    out["next_best_product"] = out["customer_id"].map(nbp["next_best_product"]).fillna("").to_numpy()
    out["next_best_product_name"] = out["customer_id"].map(nbp["product_name"]).fillna("").to_numpy()
    return out


def _finalise(out: pd.DataFrame, *, ids: np.ndarray) -> pd.DataFrame:
    """The score columns, customer codes back to ids, sorted by id."""
    scores = out[SCORE_COLUMNS + EXTRA_COLUMNS].copy()
    num = scores.select_dtypes("number").columns
    bad = ~np.isfinite(scores[num].to_numpy(dtype=float))
    if bad.any():  # model outputs were made finite (_finite_or_fallback): this is the data's
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError("non-finite values in the orders", column="amount",
                        bad_rows=int(bad.any(axis=1).sum()),
                        example=f"customer {ids[scores['customer_id'].iloc[row]]!r}: "
                                f"{list(num[bad.any(axis=0)])} not finite",
                        hint="amounts must be finite numbers")
    scores["clv_low"] = np.minimum(scores["clv_low"], scores["predicted_clv"])
    scores["clv_high"] = np.maximum(scores["clv_high"], scores["predicted_clv"])
    scores = scores.sort_values("customer_id", kind="stable").reset_index(drop=True)
    scores["customer_id"] = ids[scores["customer_id"].to_numpy()]
    return scores


def purchase_occasions(orders: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Re-exported for callers that want the day-level occasions behind the scores."""
    return occasions(orders, as_of=as_of)
