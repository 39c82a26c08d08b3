"""CLV predictions: `predict_clv` scores every customer of an RFM table with a fitted engine.

Per customer: P(alive), expected purchase occasions and P(no purchase) in the horizon (the
formulas of `clv_formulas`), the expected next-order date, the expected order value
(Gamma-Gamma, `gamma_gamma`), the discounted predicted CLV and its interval (Monte Carlo,
`clv_intervals`), with a documented fallback for every non-finite number. `spend_scale` is
the scale of the spend posterior the intervals are multiplied by.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.models.clv_fit import compress
from tools.models.clv_formulas import expected_purchases, p_alive, prob_no_purchase
from tools.models.clv_intervals import interval_factors
from tools.models.clv_params import ClvParams
from tools.models.gamma_gamma import gamma_gamma_expected_value
from tools.models.rfm import as_of_day, validate_rfm

NEXT_ORDER_CAP_DAYS = 730


def _formulas(params: ClvParams, theta, t, x, tx, T):
    """p_alive, expected orders, P(no purchase) for unique rows under `params.model`."""
    if params.model == "pooled":
        rate = theta[0]
        one = np.ones_like(x, dtype=float)
        return one, rate * t * one, np.exp(-rate * t) * one
    return (
        p_alive(params.model, theta, x, tx, T),
        expected_purchases(params.model, theta, t, x, tx, T),
        prob_no_purchase(params.model, theta, t, x, tx, T),
    )


def predict_clv(
    rfm: pd.DataFrame,
    params: ClvParams,
    *,
    horizon_days: float,
    as_of,
    margin: float = 1.0,
    discount_rate: float = 0.0,
    interval: float = 0.9,
    n_draws: int = 200,
    seed: int = 0,
    max_groups: int = 20_000,
    step_days: float = 30.0,
    interval_scale: float = 1.0,
    churn_probability=None,
) -> tuple[pd.DataFrame, ClvParams]:
    """Score every row of `rfm` (same time unit as `params`) over (as_of, as_of + horizon_days].

    Returns (scores, params with `fallbacks` filled in). Score columns: customer_id,
    orders_to_date, revenue_to_date, avg_days_between_orders (when in rfm), p_alive,
    expected_orders (purchase occasions in the horizon), prob_no_purchase (P(X = 0 | history),
    `clv_formulas.prob_no_purchase`), expected_next_order_date (as_of + median waiting time to the
    next purchase given alive: λ ~ Gamma(r+x, α+T) makes the wait Lomax, median
    (α+T)(2^(1/(r+x)) - 1); capped at max(2 * horizon, 730 days)), expected_order_value
    (Gamma-Gamma, note 025 eq. (5); customers without a repeat purchase or with a non-positive mean get
    the prior mean p v / (q - 1); store average when the spend model fell back),
    predicted_clv, clv_low, clv_high, clv_fallback, clv_fallback_reason (which fallbacks, in
    words; "" for none), value_model and churn_model (params.model, or the fallback that made
    the customer's value or churn numbers: "pooled" rate, "poisson" of the expected orders).

    predicted_clv = margin * expected_order_value * discounted expected orders, where the
    horizon is cut into `step_days` steps and the orders expected in step k are discounted by
    (1 + discount_rate) ** -(t_k / 365), t_k the step's end in days (annual rate, end-of-step).

    Interval (clv_low, clv_high; central `interval`, default 90%): Monte Carlo with
    `n_draws` draws. Each draw takes purchase-model parameters from the asymptotic normal of
    the log-parameters (inverse Hessian of the weighted log-likelihood; for the pooled rate
    its Gamma(Σx + 1/2, ΣT) posterior under the Jeffreys prior), then simulates the purchase
    process (`clv_formulas.simulate_purchases`) and the spend:
    given N orders, revenue = (v + x m̄) G(pN) / G(px + q) with independent unit gammas (the
    Gamma-Gamma posterior of ν times N Gamma(p, ν) spends; x = 0 for customers it cannot
    score; N * store average under the store-average fallback). Spend parameters are held at
    their estimates. Because m̄ enters only through the scale (v + x m̄), quantiles are
    computed per group of (x, t_x, T) and scaled per customer; when there are more than
    `max_groups` groups, t_x and T are binned (bin width doubling until they fit) and each bin
    uses its mean t_x and T. Discounting and margin scale the interval by the customer's
    discounted/undiscounted expected orders. Finally the interval is widened to contain
    predicted_clv (a mean can sit above the 95th percentile when P(no purchase) > 95%).
    `interval` and `interval_scale` (k: the bounds become low / k and high * k) are what a
    calibration on the store's own past gives (`tools.scoring.score`); the defaults are the
    model's nominal 90%. `churn_probability` (optional, one per row): P(no purchase) from
    the churn model chosen for the customer; the interval is then the mixture of "nothing"
    with that probability and the model's revenue given a purchase
    (`clv_intervals.interval_factors`).

    Fallbacks (never NaN, never a dropped customer; counted in `fallbacks`, flagged in
    clv_fallback): non-finite p_alive -> mean of the finite ones; expected orders ->
    pooled_rate * horizon; P(no purchase) -> exp(-expected orders) (Poisson); discounted
    orders -> undiscounted; next-order wait -> the cap; order value -> mean_order_value;
    interval -> [0, Poisson upper quantile of expected orders * value]. `fallbacks` also
    counts next_order_capped and interval_widened (informational, not flagged).
    """
    validate_rfm(rfm)
    if horizon_days <= 0:
        raise DataError(
            "horizon must be positive", column="horizon_days", example=repr(horizon_days)
        )
    as_of = as_of_day(as_of)
    t = horizon_days / params.unit_days
    x = rfm["frequency"].to_numpy(float)
    tx = rfm["recency"].to_numpy(float)
    T = rfm["T"].to_numpy(float)
    m = rfm["monetary_value"].to_numpy(float)
    ux, utx, uT, _, inv = compress(x, tx, T)
    theta = params.theta()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        pa, eo, p0 = (v[inv] for v in _formulas(params, theta, t, ux, utx, uT))
        disc = (
            eo
            if discount_rate == 0
            else _discounted(params, theta, t, ux, utx, uT, discount_rate, step_days)[inv]
        )
        wait = _median_wait(params, theta, ux, uT)[inv] * params.unit_days
    fb: dict[str, int] = {}
    flag = ~(np.isfinite(pa) & np.isfinite(eo) & np.isfinite(p0) & np.isfinite(disc)) | (eo < 0)
    finite_pa = pa[np.isfinite(pa)]
    bad_pa_raw = ~np.isfinite(pa)
    pa = np.clip(
        _fix(pa, float(finite_pa.mean()) if len(finite_pa) else 1.0, "p_alive", fb), 0.0, 1.0
    )
    bad_pa = bad_pa_raw
    bad_eo = ~np.isfinite(eo) | (eo < 0)
    bad_p0 = ~np.isfinite(p0)
    eo = _fix(np.where(eo < 0, np.nan, eo), params.pooled_rate * t, "expected_orders", fb)
    p0 = np.where(bad_eo & ~np.isfinite(p0), np.exp(-eo), p0)
    p0 = np.clip(_fix(p0, None, "prob_no_purchase", fb, default=np.exp(-eo)), 0.0, 1.0)
    disc = np.where(bad_eo, eo, disc)
    disc = _fix(disc, None, "discounted_orders", fb, default=eo)
    cap = max(2.0 * horizon_days, NEXT_ORDER_CAP_DAYS)
    flag |= ~np.isfinite(wait)
    wait = _fix(wait, cap, "next_order_wait", fb)
    fb["next_order_capped"] = int((wait > cap).sum())
    wait = np.clip(wait, 1.0, cap)

    x_gg, scale = spend_scale(params, x, m)
    if params.spend_model == "gamma_gamma":
        value = np.where(
            x_gg > 0,
            gamma_gamma_expected_value(params.spend_params, x_gg, m),
            params.mean_order_value,
        )
    else:
        value = np.full(len(x), params.mean_order_value)
    value_raw = value
    value = _fix(value, params.mean_order_value, "expected_order_value", fb)
    clv = margin * value * disc
    ratio = np.where(eo > 0, disc / np.where(eo > 0, eo, 1.0), 1.0)
    qlo, qhi = interval_factors(
        params, t, x, tx, T, x_gg, interval, n_draws, seed, max_groups, p0=churn_probability
    )
    low = margin * ratio * scale * qlo / interval_scale
    high = margin * ratio * scale * qhi * interval_scale
    bad_iv = ~(np.isfinite(low) & np.isfinite(high))
    fb["clv_interval"] = int(bad_iv.sum())
    low = np.where(bad_iv, 0.0, low)
    if bad_iv.any():  # fallback: Poisson quantile of the expected orders at the point value
        high = high.copy()
        high[bad_iv] = _poisson_high(eo[bad_iv], interval) * value[bad_iv] * margin * ratio[bad_iv]
    fb["interval_widened"] = int(((low > clv) | (high < clv)).sum())
    low, high = np.minimum(low, clv), np.maximum(high, clv)
    flag |= bad_iv | ~np.isfinite(value_raw)
    out = pd.DataFrame({"customer_id": rfm["customer_id"].to_numpy()})
    for col in ("orders_to_date", "revenue_to_date", "avg_days_between_orders"):
        if col in rfm.columns:
            out[col] = rfm[col].to_numpy()
    out["p_alive"] = pa
    out["expected_orders"] = eo
    out["prob_no_purchase"] = p0
    out["expected_next_order_date"] = as_of + pd.to_timedelta(np.round(wait), unit="D")
    out["expected_order_value"] = value
    out["predicted_clv"] = clv
    out["clv_low"] = low
    out["clv_high"] = high
    out["clv_fallback"] = flag
    # which fallback each flagged customer got, and the model that then made their numbers
    # (text only for the flagged rows: string operations over a million objects cost seconds)
    reason = np.full(len(x), "", dtype=object)
    for bad, what in (
        (bad_pa, "p_alive=mean of the others"),
        (bad_eo, "expected_orders=pooled rate"),
        (bad_p0 & ~bad_eo, "prob_no_purchase=Poisson of expected_orders"),
        (bad_p0 & bad_eo, "prob_no_purchase=pooled rate"),
        (~np.isfinite(value_raw), "order value=mean order value"),
        (bad_iv, "interval=Poisson quantile"),
    ):
        if bad.any():
            had = reason[bad]
            reason[bad] = np.where(had == "", what, had + "; " + what)
    out["clv_fallback_reason"] = reason
    value_model = np.full(len(x), params.model, dtype=object)
    value_model[bad_eo] = "pooled"
    churn_model = np.full(len(x), params.model, dtype=object)
    churn_model[bad_p0] = np.where(bad_eo[bad_p0], "pooled", "poisson")
    out["value_model"] = value_model
    out["churn_model"] = churn_model
    return out, dataclasses.replace(params, fallbacks={**params.fallbacks, **fb})


def spend_scale(params: ClvParams, x, m):
    """x as the spend model sees it (0 for a customer it cannot score) and the scale of the
    spend posterior: v + x m̄ for Gamma-Gamma, the store average otherwise."""
    if params.spend_model == "gamma_gamma":
        x_gg = np.where((x > 0) & (m > 0), x, 0.0)
        return x_gg, params.spend_params["v"] + x_gg * m
    return np.zeros(len(x)), np.full(len(x), params.mean_order_value)


def _fix(arr, fill, name, fb, default=None):
    bad = ~np.isfinite(arr)
    fb[name] = int(bad.sum())
    if not bad.any():
        return arr
    rep = default if default is not None else np.full(len(arr), fill, dtype=float)
    return np.where(bad, rep, arr)


def _poisson_high(eo, interval):
    from scipy.stats import poisson

    return poisson.ppf(1 - (1 - interval) / 2, np.maximum(eo, 0.0))


def _discounted(params, theta, t, x, tx, T, rate, step_days):
    """Sum over steps of the orders expected in each step times (1+rate)^-(t_k/365)."""
    step = step_days / params.unit_days
    ends = np.append(np.arange(step, t, step), t)
    prev = np.zeros(len(x))
    total = np.zeros(len(x))
    for tk in ends:
        cur = _formulas(params, theta, tk, x, tx, T)[1]
        total += (cur - prev) * (1 + rate) ** -(tk * params.unit_days / 365.0)
        prev = cur
    return total


def _median_wait(params, theta, x, T):
    """Median time to the next purchase of an active customer (Lomax median), in units."""
    if params.model == "pooled":
        return np.full(len(x), np.log(2) / theta[0] if theta[0] > 0 else np.inf)
    r, alpha = theta[0], theta[1]
    return (alpha + T) * np.expm1(np.log(2) / (r + x))
