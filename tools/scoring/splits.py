"""The store as the scoring sees it, and the data of its inner time splits.

`Population` holds the store's tables with customer ids as integer codes (computed once per
scoring run); `probabilistic` is the purchase and spend models' scores in the scores' column
names; `score_features` adds those scores to the features; `sample_customers`, `too_short` and
`training_set` cut a split at an inner cutoff (features up to it, what each customer did in
the horizon after it). Every other module of `tools.scoring` builds on these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tools.ingest.keys import earliest, factorize_sorted_with
from tools.models import clv
from tools.models.churn import MIN_TRAIN_CUSTOMERS, NotEnoughHistory
from tools.models.clv_predict import predict_clv
from tools.models.features import build_features, labels
from tools.models.rfm import rfm_summary
from tools.schema import purchase_mask

MIN_INNER_HISTORY_DAYS = 90  # history an inner split needs before its cutoff
JUDGED_PREDICTIONS = ("churn_probability", "expected_revenue")  # what the backtests compare
SCORED_PREDICTIONS = ("churn_probability", "expected_orders", "expected_revenue")
"""What scoring may read of the ML model (`tools.scoring.combine.ml_targets`), so what it trains:
not the quantile interval, since the value interval is calibrated on the store's own past
(`tools.scoring.interval`)."""


@dataclass(frozen=True)
class Population:
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
    def of(cls, orders, events=None, tickets=None) -> Population:
        tables = [df for df in (events, tickets) if df is not None]
        (code, *side_codes), ids = factorize_sorted_with(
            orders["customer_id"].to_numpy(), *(df["customer_id"].to_numpy() for df in tables)
        )
        if (code < 0).any():
            raise ValueError("orders have a missing customer_id (the loader rejects such rows)")
        buy = purchase_mask(orders)
        # each customer's first purchase (NaT for a customer with refunds only)
        first = earliest(code[buy], orders["order_date"].to_numpy()[buy], len(ids))

        def coded(df, codes):
            df = df.copy(deep=False)  # the caller's table is left as it is
            df["customer_id"] = codes
            return df if (codes >= 0).all() else df.loc[codes >= 0]

        side = iter(side_codes)
        return cls(
            np.asarray(ids, dtype=object),
            first,
            coded(orders, code),
            *(None if df is None else coded(df, next(side)) for df in (events, tickets)),
        )


def probabilistic(
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
    """The probabilistic model's scores (tools.models.clv), in the scores' column names, and its
    parameters as a dict; with `keep_fit`, also (rfm, ClvParams) for a later re-prediction.
    `fit`: (rfm, ClvParams) already fitted on `orders` (then only predicted)."""
    if fit is None:
        rfm = rfm_summary(orders, as_of=as_of)
        fitted = clv.fit_clv(rfm)
    else:
        rfm, fitted = fit
    scores, fitted = predict_clv(
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


def score_features(orders, *, as_of, prob, events, tickets, products) -> pd.DataFrame:
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


def rate_no_purchase(X: pd.DataFrame, *, horizon_days: int) -> pd.Series:
    """P(no purchase in the horizon) if each customer keeps their own historical rate of
    purchase occasions per day of tenure (at least 30 days): exp(-rate * horizon), Poisson."""
    rate = X["n_occasions"] / (X["tenure_days"] + 1).clip(lower=30)
    return np.exp(-rate * horizon_days).clip(1e-9, 1 - 1e-9)


def sample_customers(orders, events, tickets, *, pop: Population, before, n, seed):
    """Orders/events/tickets of at most n customers who bought on or before the day `before`
    (a purchase at any time of that day, none of the next: the cutoff of rfm_summary)."""
    eligible = np.flatnonzero(pop.first < (before + pd.Timedelta(days=1)).to_datetime64())
    if len(eligible) <= n:
        return eligible, orders, events, tickets
    chosen = np.random.default_rng(seed).choice(eligible, n, replace=False)
    keep_code = np.zeros(len(pop.ids), bool)
    keep_code[chosen] = True

    def keep(df):  # the tables' customer ids are codes (Population)
        return None if df is None else df.loc[keep_code[df["customer_id"].to_numpy()]]

    return chosen, keep(orders), keep(events), keep(tickets)


def too_short(orders, cutoff, *, judged: str = "the ML model") -> str | None:
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


def training_set(orders, events, tickets, products, *, pop, cutoff, horizon_days, n, seed):
    """Features at `cutoff` of at most `n` buyers known then, with the purchase model's columns
    (fitted on the data up to it), their labels over the horizon after it, and the purchase
    model's scores; NotEnoughHistory where the split cannot judge a model (`too_short`) or
    has fewer than MIN_TRAIN_CUSTOMERS customers."""
    short = too_short(orders, cutoff)
    if short:
        raise NotEnoughHistory(short)
    ids, o, e, t = sample_customers(orders, events, tickets, pop=pop, before=cutoff, n=n, seed=seed)
    if len(ids) < MIN_TRAIN_CUSTOMERS:
        raise NotEnoughHistory(
            f"only {len(ids):,} customers had bought by {cutoff.date()}, the inner backtest's "
            f"cutoff; the ML model needs {MIN_TRAIN_CUSTOMERS}"
        )
    prob_c, _ = probabilistic(o, as_of=cutoff, horizon_days=horizon_days, seed=seed, n_draws=10)
    Xc = score_features(o, as_of=cutoff, prob=prob_c, events=e, tickets=t, products=products)
    Xc = Xc.loc[Xc["n_occasions"] > 0]  # the customers it learns from: buyers by the cutoff
    y = labels(o, start=cutoff, horizon_days=horizon_days, customers=Xc.index)
    return Xc, y, prob_c
