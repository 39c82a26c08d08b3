"""Probabilistic customer lifetime value: purchase occasions, RFM, model choice, scores.

    orders ──► purchase_occasions ──► rfm_summary ──► fit_clv ──► predict_clv ──► scores
                                                        │  ClvParams (JSON, no pickle)

Conventions (DESIGN.md, "Data in" / "Scores out"):
- one customer + one calendar day = one purchase occasion (the BG/NBD convention); only
  non-negative lines make occasions; a refund (negative line) nets against revenue only;
- the purchase model is fitted on compressed sufficient statistics (identical
  (frequency, recency, T) rows grouped with a weight, `tools.models.clv_fit`);
- BG/NBD first; if it does not converge or degenerates (a parameter beyond 1e-4..1e4 in
  scaled time, or a Hessian that is not positive definite), penalised BG/NBD, MBG/NBD and
  Pareto/NBD are fitted, and among the converged non-degenerate ones plus a pooled Poisson
  rate (no dropout, no heterogeneity, always available) the lowest AIC wins (all
  likelihoods are densities of the same event times, so they compare).
  `ClvParams.reason` and `.candidates` say what happened;
- every customer gets finite scores: a non-finite prediction is replaced by a documented
  fallback and counted in `ClvParams.fallbacks` and the `clv_fallback` column.

RFM columns (one row per customer): customer_id, frequency (repeat occasions), recency
(first → last occasion), T (first occasion → as_of), monetary_value (mean value of repeat
occasions, 0 without repeats), first_order, last_order, orders_to_date, revenue_to_date,
avg_days_between_orders, avg_gap_imputed. Score columns: see `predict_clv`.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.ingest.keys import day_keys, factorize_sorted
from tools.models import clv_fit as F
from tools.schema import purchase_mask

PARAMS_SCHEMA = "retention.clv.params/1"
MODELS = ("bgnbd", "mbgnbd", "paretonbd", "pooled")
PENALIZERS = (0.001, 0.01, 0.1)
ALT_MAX_ROWS = 5_000  # MBG/NBD and Pareto/NBD fallbacks are fitted on at most this many rows
RFM_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "first_order",
    "last_order",
    "orders_to_date",
    "revenue_to_date",
    "avg_days_between_orders",
    "avg_gap_imputed",
)
NEXT_ORDER_CAP_DAYS = 730


# --- occasions and RFM ------------------------------------------------------------------------


def _check_orders(orders: pd.DataFrame) -> None:
    for col in ("customer_id", "order_date", "amount"):
        if col not in orders.columns:
            raise DataError(
                "the orders table has no such column",
                column=col,
                hint="load orders with tools.ingest.load.load_orders",
            )
    if not pd.api.types.is_datetime64_any_dtype(orders["order_date"]):
        raise DataError(
            "dates must be datetime64",
            column="order_date",
            example=repr(orders["order_date"].iloc[0]) if len(orders) else None,
        )


def _day(as_of) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize()


def _lines(orders: pd.DataFrame, as_of):
    """Order lines up to as_of (inclusive) as integer arrays: customer codes (into the sorted
    unique ids), day numbers, amounts; plus the ids and the as_of day number."""
    _check_orders(orders)
    day = _day(as_of)
    keep = (orders["order_date"] < day + pd.Timedelta(days=1)).to_numpy()
    codes, ids = factorize_sorted(orders["customer_id"].to_numpy()[keep])
    days = orders["order_date"].to_numpy()[keep].astype("datetime64[D]").astype(np.int64)
    amount = orders["amount"].to_numpy(float)[keep]
    buy = purchase_mask(orders)[keep]
    return codes, ids, days, amount, int(np.datetime64(day.date(), "D").astype(np.int64)), buy


def _occasions(codes, days, amount, buy):
    """Unique (customer code, day) pairs of the purchase lines (`buy`: non-negative, not of an
    order returned in full), sorted, with their value."""
    ok = buy
    key, span, lo = day_keys(codes[ok], days[ok])
    ukey, inv = np.unique(key, return_inverse=True)
    return ukey // span, ukey % span + lo, np.bincount(inv.ravel(), weights=amount[ok])


def _dates(day_numbers) -> np.ndarray:
    return np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")


def purchase_occasions(orders: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Day-level purchase occasions up to `as_of` (inclusive).

    Returns columns customer_id, occasion_date (midnight), value (sum of the day's
    non-negative amounts), sorted by customer and date. Days with only refund lines are not
    occasions.
    """
    codes, ids, days, amount, _, buy = _lines(orders, as_of)
    cust, occ_day, value = _occasions(codes, days, amount, buy)
    return pd.DataFrame(
        {"customer_id": ids[cust], "occasion_date": _dates(occ_day), "value": value}
    )


def rfm_summary(orders: pd.DataFrame, *, as_of, unit_days: float = 1) -> pd.DataFrame:
    """One row per customer seen up to `as_of` (see module docstring for the columns).

    recency and T are in units of `unit_days` days. revenue_to_date is net of refunds.
    monetary_value is the mean value of the repeat occasions (first purchase excluded, same-day
    lines summed): the definition that reproduces Fader, Hardie & Lee (2005b) on CDNOW.
    A customer whose lines up to `as_of` are all refunds is kept with orders_to_date 0,
    frequency 0 and T counted from the first day of the data: a return means a purchase
    before the data, and what the data shows is no purchase in all of it (first_order and
    last_order are their first line's day). avg_days_between_orders is
    (last - first) / (occasions - 1) in days; for customers with fewer than two occasions it
    is imputed with the median over repeat customers (the whole observed span in days if
    nobody repeats) and `avg_gap_imputed` is True, so the column has no NaN.
    """
    codes, ids, days, amount, end, buy = _lines(orders, as_of)
    if len(codes) == 0:
        raise DataError(
            "no orders on or before the as-of date",
            column="order_date",
            hint=f"as_of is {_day(as_of).date()}",
        )
    n_cust = len(ids)
    cust, occ_day, value = _occasions(codes, days, amount, buy)
    n = np.bincount(cust, minlength=n_cust)
    has = n > 0
    start = np.concatenate([[0], np.cumsum(n)[:-1]])  # occasions are sorted by customer, day
    first_line = np.zeros(n_cust, np.int64)  # only read for customers with refunds only
    if not has.all():
        refunds_only = ~has[codes]
        first_line = (
            pd.Series(days[refunds_only])
            .groupby(codes[refunds_only])
            .min()
            .reindex(range(n_cust), fill_value=0)
            .to_numpy()
        )
    i_first = np.where(has, start, len(occ_day))  # customers without occasions -> padding
    i_last = np.where(has, start + n - 1, len(occ_day))
    occ_day, value = np.append(occ_day, 0), np.append(value, 0.0)
    first = np.where(has, occ_day[i_first], first_line)
    last = np.where(has, occ_day[i_last], first_line)
    first_value = value[i_first]
    rep_value = np.bincount(cust, weights=value[:-1], minlength=n_cust) - first_value
    freq = np.maximum(n - 1, 0)
    span = (last - first).astype(float)
    with np.errstate(all="ignore"):
        gap = np.where(freq > 0, span / freq, np.nan)
    fill = float(np.nanmedian(gap)) if (freq > 0).any() else float(max(end - first.min(), 1))
    return pd.DataFrame(
        {
            "customer_id": ids,
            "frequency": freq.astype(np.int64),
            "recency": span / unit_days,
            "T": (end - np.where(has, first, days.min())).astype(float) / unit_days,
            "monetary_value": np.where(freq > 0, rep_value / np.maximum(freq, 1), 0.0),
            "first_order": _dates(first),
            "last_order": _dates(last),
            "orders_to_date": n.astype(np.int64),
            "revenue_to_date": np.bincount(codes, weights=amount, minlength=n_cust),
            "avg_days_between_orders": np.where(freq > 0, gap, fill),
            "avg_gap_imputed": freq == 0,
        }
    ).loc[:, list(RFM_COLUMNS)]


def validate_rfm(rfm: pd.DataFrame, *, file: str | None = None) -> None:
    """The one check of model inputs (lifetimes' `_check_inputs`, extended). Raises DataError
    naming the column, the count of bad rows and an example: missing or duplicated columns,
    duplicated customers, empty table, non-finite or negative values, non-integer frequency,
    recency > T, recency > 0 with frequency 0."""
    need = ("customer_id", "frequency", "recency", "T", "monetary_value")
    for col in need:
        if col not in rfm.columns:
            raise DataError("missing column", file=file, column=col)
    dup_cols = rfm.columns[rfm.columns.duplicated()]
    if len(dup_cols):
        raise DataError("duplicated column", file=file, column=str(dup_cols[0]))
    if len(rfm) == 0:
        raise DataError("no customers to score", file=file)

    def fail(mask, column, problem):
        mask = np.asarray(mask)
        if mask.any():
            ex = rfm.loc[mask, list(need)].iloc[0].to_dict()
            raise DataError(
                problem, file=file, column=column, bad_rows=int(mask.sum()), example=repr(ex)
            )

    fail(rfm["customer_id"].duplicated().to_numpy(), "customer_id", "duplicated customer")
    for col in ("frequency", "recency", "T", "monetary_value"):
        v = pd.to_numeric(rfm[col], errors="coerce").to_numpy(float)
        fail(~np.isfinite(v), col, "missing or non-numeric value")
        fail(v < 0, col, "negative value")
    f = rfm["frequency"].to_numpy(float)
    fail(f != np.round(f), "frequency", "frequency must be a whole number of repeat occasions")
    rec, T = rfm["recency"].to_numpy(float), rfm["T"].to_numpy(float)
    fail(rec > T + 1e-9, "recency", "recency is larger than T (last purchase after as-of)")
    fail((f == 0) & (rec > 0), "recency", "recency > 0 for a customer with no repeat purchase")


# --- parameters as data ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClvParams:
    """A fitted CLV engine, as data. `params` are in `time_unit` (alpha, beta in days when
    unit_days is 1); `cov_log` is the covariance of the log-parameters (None: no parameter
    uncertainty available); `spend_model` is "gamma_gamma" (spend_params p, q, v) or
    "store_average"; `mean_order_value` is what customers the spend model cannot score get;
    `pooled_rate` is repeat occasions per time unit over the population (the fallback rate),
    `pooled_exposure` the total T behind it."""

    model: str
    params: dict[str, float]
    time_unit: str
    unit_days: float
    log_likelihood: float
    converged: bool
    degenerate: bool
    penalizer: float
    reason: str
    n_customers: int
    n_unique_rows: int
    pooled_rate: float
    pooled_exposure: float
    spend_model: str
    spend_params: dict[str, float]
    mean_order_value: float
    candidates: tuple[dict, ...] = ()
    cov_log: tuple[tuple[float, ...], ...] | None = None
    fallbacks: dict[str, int] = field(default_factory=dict)
    schema: str = PARAMS_SCHEMA

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClvParams:
        d = json.loads(text)
        if d.get("schema") != PARAMS_SCHEMA:
            raise DataError(
                f"not CLV parameters of schema {PARAMS_SCHEMA}", example=repr(d.get("schema"))
            )
        if d.get("model") not in MODELS:
            raise DataError("unknown CLV model id", column="model", example=repr(d.get("model")))
        expected = set(F.PARAM_NAMES.get(d["model"], ("rate",)))
        if set(d.get("params", {})) != expected:
            raise DataError(
                f"parameters do not match model {d['model']}",
                column="params",
                example=repr(sorted(d.get("params", {}))),
            )
        d["candidates"] = tuple(d.get("candidates", ()))
        if d.get("cov_log") is not None:
            d["cov_log"] = tuple(tuple(r) for r in d["cov_log"])
        names = {f.name for f in dataclasses.fields(cls)}
        if set(d) - names:
            raise DataError(
                "unknown fields in CLV parameters", example=repr(sorted(set(d) - names))
            )
        try:
            return cls(**d)
        except TypeError as err:  # a required field is missing
            raise DataError(f"incomplete CLV parameters: {err}") from None

    def theta(self) -> tuple[float, ...]:
        return tuple(self.params[k] for k in F.PARAM_NAMES.get(self.model, ("rate",)))


# --- fitting ----------------------------------------------------------------------------------


def _candidate(fr: F.FitResult) -> dict:
    return {
        "model": fr.model,
        "penalizer": float(fr.penalizer),
        "log_likelihood": float(fr.log_likelihood),
        "converged": bool(fr.converged),
        "degenerate": bool(fr.degenerate),
        "params": {k: float(v) for k, v in fr.params.items()},
        "message": fr.message,
        "cov_log": None if fr.cov_log is None else [list(r) for r in fr.cov_log],
    }


def with_purchase_model(rfm: pd.DataFrame, fitted: ClvParams, model: str) -> ClvParams | None:
    """`fitted` (from `fit_clv` on `rfm`) with its purchase model replaced by `model`
    ("bgnbd", "mbgnbd" or "paretonbd"), the spend model kept: the fit among
    `fitted.candidates` when one converged non-degenerate (the auto fit often has it), else
    a new fit as `fit_clv` fits an alternative (binned rows, a penalised retry). None when
    the model does not converge to non-degenerate parameters on this data."""
    if fitted.model == model:
        return fitted
    ok = [
        c
        for c in fitted.candidates
        if c["model"] == model and c["converged"] and not c["degenerate"]
    ]
    if ok:
        best = max(ok, key=lambda c: c["log_likelihood"])
        found = F.FitResult(
            model,
            dict(best["params"]),
            best["log_likelihood"],
            True,
            False,
            best["penalizer"],
            best["message"],
            None if best.get("cov_log") is None else tuple(tuple(r) for r in best["cov_log"]),
            0,
        )
        new: tuple[dict, ...] = ()
    else:
        fit_rows = rfm if "orders_to_date" not in rfm else rfm[rfm["orders_to_date"] > 0]
        ux, utx, uT, w, _ = F.compress(
            *(fit_rows[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        )
        if len(ux) == 0 or uT.max() <= 0:
            return None
        tried = []
        for pen in (0.0, PENALIZERS[1]):
            tried.append(_fit_alternative(model, ux, utx, uT, w, pen))
            if tried[-1].converged and not tried[-1].degenerate:
                break
        else:
            return None
        found, new = tried[-1], tuple(_candidate(f) for f in tried)
    return dataclasses.replace(
        fitted,
        model=model,
        params=found.params,
        log_likelihood=found.log_likelihood,
        converged=True,
        degenerate=False,
        penalizer=found.penalizer,
        cov_log=found.cov_log,
        reason=f"{model} chosen for this store by its rolling-origin backtests "
        f"(penalizer {found.penalizer:g}, LL {found.log_likelihood:.1f}); "
        f"the fit without that choice: {fitted.reason}",
        candidates=fitted.candidates + new,
        fallbacks={},
    )


def fit_clv(rfm: pd.DataFrame, *, model: str = "auto", unit_days: float = 1) -> ClvParams:
    """Fit the purchase model (choice and retries as in the module docstring) and the
    Gamma-Gamma spend model (FHL 2005b) on repeat customers with positive mean value; if that
    fails to converge, degenerates, or q <= 1 (infinite mean), spend falls back to the store
    average (net revenue per occasion). Customers with orders_to_date == 0 (refunds only) are
    scored but not fitted. `model`: "auto", "bgnbd", "mbgnbd" or "paretonbd"."""
    if model not in ("auto", "bgnbd", "mbgnbd", "paretonbd"):
        raise DataError(
            "unknown model",
            column="model",
            example=repr(model),
            hint="use auto, bgnbd, mbgnbd or paretonbd",
        )
    validate_rfm(rfm)
    fit_rows = rfm if "orders_to_date" not in rfm else rfm[rfm["orders_to_date"] > 0]
    if fit_rows.empty:
        raise DataError("no purchase occasions to fit", column="amount")
    x = fit_rows["frequency"].to_numpy(float)
    tx = fit_rows["recency"].to_numpy(float)
    T = fit_rows["T"].to_numpy(float)
    ux, utx, uT, w, _ = F.compress(x, tx, T)
    pooled_rate = float(x.sum() / T.sum()) if T.sum() > 0 else 0.0
    first = "bgnbd" if model == "auto" else model
    fits = [F.fit_purchase_model(first, ux, utx, uT, w)] if T.max() > 0 else []
    ok = [f for f in fits if f.converged and not f.degenerate]
    if fits and ok:
        chosen, reason = ok[0], f"{first} converged with non-degenerate parameters"
    else:
        others = ("mbgnbd", "paretonbd") if model == "auto" else ()
        if fits:
            for pen in PENALIZERS:
                fits.append(F.fit_purchase_model(first, ux, utx, uT, w, penalizer=pen))
                if fits[-1].converged and not fits[-1].degenerate:
                    break
            for m in others:
                fits.append(_fit_alternative(m, ux, utx, uT, w, 0.0))
                if not (fits[-1].converged and not fits[-1].degenerate):
                    fits.append(_fit_alternative(m, ux, utx, uT, w, PENALIZERS[1]))
        ok = [f for f in fits if f.converged and not f.degenerate]
        why = (
            "no spread in T"
            if not fits
            else (
                f"{first} MLE "
                + (
                    "did not converge"
                    if not fits[0].converged
                    else f"degenerate {_fmt(fits[0].params)}"
                )
            )
        )
        pooled_ll = (
            float((x[x > 0] * np.log(pooled_rate)).sum() - pooled_rate * T.sum())
            if pooled_rate > 0
            else 0.0
        )
        fits.append(
            F.FitResult(
                "pooled",
                {"rate": pooled_rate},
                pooled_ll,
                True,
                False,
                0.0,
                "closed form: repeat occasions / total T",
                None,
                0,
            )
        )
        ok.append(fits[-1])
        chosen = min(ok, key=_aic)
        reason = (
            f"{why}; chose {chosen.model} (penalizer {chosen.penalizer:g}, LL "
            f"{chosen.log_likelihood:.1f}, AIC {_aic(chosen):.1f}) by AIC among {len(ok)} "
            f"converged non-degenerate of {len(fits)} fits (pooled Poisson rate included)"
        )
    spend = _fit_spend(rfm)
    common = dict(
        time_unit="days"
        if unit_days == 1
        else ("weeks" if unit_days == 7 else f"{unit_days:g} days"),
        unit_days=float(unit_days),
        reason=reason,
        n_customers=len(fit_rows),
        n_unique_rows=len(ux),
        pooled_rate=pooled_rate,
        pooled_exposure=float(T.sum()),
        candidates=tuple(_candidate(f) for f in fits),
        **spend,
    )
    return ClvParams(
        model=chosen.model,
        params=chosen.params,
        log_likelihood=chosen.log_likelihood,
        converged=chosen.model != "pooled",
        degenerate=chosen.model == "pooled",
        penalizer=chosen.penalizer,
        cov_log=chosen.cov_log,
        **common,
    )


def _fit_alternative(model, x, tx, T, w, penalizer) -> F.FitResult:
    """MBG/NBD or Pareto/NBD (numerical gradients, so slower): fitted on at most
    ALT_MAX_ROWS binned rows (`clv_fit.coarsen`), log-likelihood then evaluated on all rows."""
    if len(x) <= ALT_MAX_ROWS:
        return F.fit_purchase_model(model, x, tx, T, w, penalizer=penalizer)
    bx, btx, bT, bw, _, _ = F.coarsen(x, tx, T, w, ALT_MAX_ROWS)
    fr = F.fit_purchase_model(model, bx, btx, bT, bw, penalizer=penalizer)
    ll = F.total_loglik(model, fr.params, x, tx, T, w)
    return dataclasses.replace(
        fr,
        log_likelihood=ll,
        converged=bool(fr.converged and np.isfinite(ll)),
        message=f"{fr.message} (fitted on {len(bx)} binned rows)",
    )


def _aic(f: F.FitResult) -> float:
    """Akaike information criterion, 2k - 2 ln L (k = 1 for the pooled rate, 4 otherwise)."""
    return 2 * len(f.params) - 2 * f.log_likelihood


def _fmt(p: dict) -> str:
    return "(" + ", ".join(f"{k}={v:.3g}" for k, v in p.items()) + ")"


def _fit_spend(rfm: pd.DataFrame) -> dict:
    rep = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    if {"revenue_to_date", "orders_to_date"} <= set(rfm.columns) and rfm["orders_to_date"].sum():
        store_avg = float(rfm["revenue_to_date"].clip(lower=0).sum() / rfm["orders_to_date"].sum())
    elif len(rep):
        store_avg = float(np.average(rep["monetary_value"], weights=rep["frequency"]))
    else:
        store_avg = 0.0
    if len(rep) >= 10:
        gg = F.fit_gamma_gamma(
            rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)
        )
        if gg.converged and not gg.degenerate:
            p, q, v = gg.params["p"], gg.params["q"], gg.params["v"]
            return {
                "spend_model": "gamma_gamma",
                "spend_params": gg.params,
                "mean_order_value": float(p * v / (q - 1)),
            }
    return {"spend_model": "store_average", "spend_params": {}, "mean_order_value": store_avg}


# --- predictions ------------------------------------------------------------------------------


def _formulas(params: ClvParams, theta, t, x, tx, T):
    """p_alive, expected orders, P(no purchase) for unique rows under `params.model`."""
    if params.model == "pooled":
        rate = theta[0]
        one = np.ones_like(x, dtype=float)
        return one, rate * t * one, np.exp(-rate * t) * one
    return (
        F.p_alive(params.model, theta, x, tx, T),
        F.expected_purchases(params.model, theta, t, x, tx, T),
        F.prob_no_purchase(params.model, theta, t, x, tx, T),
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
    `clv_fit.prob_no_purchase`), expected_next_order_date (as_of + median waiting time to the
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
    process (`clv_fit.simulate_purchases`) and the spend:
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
    with that probability and the model's revenue given a purchase (`clv_fit.interval_factors`).

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
    as_of = _day(as_of)
    t = horizon_days / params.unit_days
    x = rfm["frequency"].to_numpy(float)
    tx = rfm["recency"].to_numpy(float)
    T = rfm["T"].to_numpy(float)
    m = rfm["monetary_value"].to_numpy(float)
    ux, utx, uT, _, inv = F.compress(x, tx, T)
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

    x_gg, scale = _spend_scale(params, x, m)
    if params.spend_model == "gamma_gamma":
        value = np.where(
            x_gg > 0,
            F.gamma_gamma_expected_value(params.spend_params, x_gg, m),
            params.mean_order_value,
        )
    else:
        value = np.full(len(x), params.mean_order_value)
    value_raw = value
    value = _fix(value, params.mean_order_value, "expected_order_value", fb)
    clv = margin * value * disc
    ratio = np.where(eo > 0, disc / np.where(eo > 0, eo, 1.0), 1.0)
    qlo, qhi = F.interval_factors(
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


def _spend_scale(params: ClvParams, x, m):
    """x as the spend model sees it (0 for a customer it cannot score) and the scale of the
    spend posterior: v + x m̄ for Gamma-Gamma, the store average otherwise."""
    if params.spend_model == "gamma_gamma":
        x_gg = np.where((x > 0) & (m > 0), x, 0.0)
        return x_gg, params.spend_params["v"] + x_gg * m
    return np.zeros(len(x)), np.full(len(x), params.mean_order_value)


def interval_quantiles(
    rfm: pd.DataFrame,
    params: ClvParams,
    *,
    horizon_days: float,
    levels,
    n_draws: int = 200,
    seed: int = 0,
    max_groups: int = 20_000,
    p0=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (customers x levels) of the central `levels` intervals of
    revenue in the horizon (margin 1, undiscounted), from the predictive distribution of
    `predict_clv` (purchases from the fitted model x spend from the Gamma-Gamma posterior;
    `p0`: another churn model's P(no purchase), as in `predict_clv`'s churn_probability)."""
    x = rfm["frequency"].to_numpy(float)
    x_gg, scale = _spend_scale(params, x, rfm["monetary_value"].to_numpy(float))
    lo, hi = F.interval_factors(
        params,
        horizon_days / params.unit_days,
        x,
        rfm["recency"].to_numpy(float),
        rfm["T"].to_numpy(float),
        x_gg,
        tuple(levels),
        n_draws,
        seed,
        max_groups,
        p0=p0,
    )
    return lo * scale[:, None], hi * scale[:, None]


CALIBRATION_LEVELS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
CALIBRATION_SCALES = tuple(float(k) for k in np.round(np.geomspace(1.0, 100.0, 41)[1:], 4))
TARGET_COVERAGE = 0.9


def fit_interval_calibration(
    lo: np.ndarray,
    hi: np.ndarray,
    actual,
    *,
    target: float = TARGET_COVERAGE,
    min_level: float = 0.0,
) -> dict:
    """The narrowest member of one nested family of intervals that covers `target` of the
    customers' realised revenue, with the split-conformal finite-sample correction (level
    target (1 + 1/n); Vovk et al. 2005, Lei et al. 2018). `lo`, `hi`: customers x
    CALIBRATION_LEVELS bounds from `interval_quantiles`. The family: the model's central
    intervals at CALIBRATION_LEVELS, then the 90% interval widened to [low / k, high * k]
    for k in CALIBRATION_SCALES. The lower bound stays the model's 5% quantile or above, so
    it is positive wherever P(no purchase) < 5%. `min_level`: levels below it are not tried
    (never narrower than that). Returns level, scale, the coverage each candidate had and n."""
    y = np.asarray(actual, float)
    n = len(y)
    need = min(1.0, target * (1 + 1 / max(n, 1)))

    def cov(low, high):
        return float(np.mean((y >= low - 1e-9) & (y <= high + 1e-9))) if n else float("nan")

    tried = []
    for j, level in enumerate(CALIBRATION_LEVELS):
        if level < min_level:
            continue
        c = cov(lo[:, j], hi[:, j])
        tried.append((level, 1.0, c))
        if c >= need:
            return {"level": level, "scale": 1.0, "coverage": c, "n": n, "tried": tried}
    j = CALIBRATION_LEVELS.index(0.9)
    for k in CALIBRATION_SCALES:
        c = cov(lo[:, j] / k, hi[:, j] * k)
        tried.append((0.9, k, c))
        if c >= need:
            return {"level": 0.9, "scale": k, "coverage": c, "n": n, "tried": tried}
    return {
        "level": 0.9,
        "scale": CALIBRATION_SCALES[-1],
        "coverage": tried[-1][2],
        "n": n,
        "tried": tried,
        "capped": True,
    }


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


# --- one call --------------------------------------------------------------------------------


def score_clv(
    orders: pd.DataFrame,
    *,
    as_of,
    horizon_days: float,
    model: str = "auto",
    margin: float = 1.0,
    discount_rate: float = 0.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, ClvParams]:
    """rfm_summary → fit_clv → predict_clv, in days. Returns (scores, params)."""
    rfm = rfm_summary(orders, as_of=as_of)
    params = fit_clv(rfm, model=model)
    return predict_clv(
        rfm,
        params,
        horizon_days=horizon_days,
        as_of=as_of,
        margin=margin,
        discount_rate=discount_rate,
        seed=seed,
    )
