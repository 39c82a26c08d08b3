"""Probabilistic customer lifetime value: model choice, fitting, interval calibration, scores.

    orders ──► purchase_occasions ──► rfm_summary ──► fit_clv ──► predict_clv ──► scores
               (`rfm`)                                  │  ClvParams (`clv_params`: JSON, no pickle)

This module fits the engine (`fit_clv`, `with_purchase_model`), calibrates its intervals
(`interval_quantiles`, `fit_interval_calibration`) and runs it in one call (`score_clv`); the
RFM table is built in `rfm`, predictions are made in `clv_predict`, and the models behind
them live in `clv_fit` (likelihoods and fitting), `clv_formulas` (per-customer formulas),
`clv_intervals` (predictive draws) and `gamma_gamma` (the spend model).

Conventions (DESIGN.md, "Data in" / "Scores out"):
- one customer + one calendar day = one purchase occasion (the BG/NBD convention); only
  non-negative lines make occasions; a refund (negative line) nets against revenue only;
- the purchase model is fitted on compressed sufficient statistics (identical
  (frequency, recency, T) rows grouped with a weight, `tools.models.clv_fit`);
- BG/NBD first; if it does not converge or degenerates (a parameter beyond 1e-4..1e4 in
  scaled time, or a Hessian that is not positive definite), penalised BG/NBD, MBG/NBD and
  Pareto/NBD are fitted, and among the converged non-degenerate ones plus a pooled Poisson
  rate (no dropout, no heterogeneity, always available) the lowest AIC wins (all
  likelihoods are densities of the same event times, so they compare). A maximum that is
  degenerate only because nobody drops out (`clv_fit.no_dropout_limit`: Online Retail, whose
  BG/NBD, MBG/NBD and Pareto/NBD all reach the same edge) is one of them, as it is;
  `ClvParams.reason` and `.candidates` say what happened;
- every customer gets finite scores: a non-finite prediction is replaced by a documented
  fallback and counted in `ClvParams.fallbacks` and the `clv_fallback` column.

RFM columns: see `tools.models.rfm`. Score columns: see `tools.models.clv_predict.predict_clv`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.models import clv_fit as F
from tools.models.clv_intervals import interval_factors
from tools.models.clv_params import ClvParams
from tools.models.clv_predict import predict_clv, spend_scale
from tools.models.gamma_gamma import fit_gamma_gamma
from tools.models.rfm import rfm_summary, validate_rfm

PENALIZERS = (0.001, 0.01, 0.1)
ALT_MAX_ROWS = 5_000  # MBG/NBD and Pareto/NBD fallbacks are fitted on at most this many rows


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
        edge = None
        if fits:
            for pen in PENALIZERS:
                fits.append(F.fit_purchase_model(first, ux, utx, uT, w, penalizer=pen))
                if fits[-1].converged and not fits[-1].degenerate:
                    break
            # the store's purchases may show no churn: the MLE is then at that edge
            if (edge := F.no_dropout_limit(fits[0], ux, utx, uT, w)) is not None:
                edge = _edge_on_evidence(edge, fits)
                fits.append(edge)
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
            + ("; its MLE is at the no-dropout edge" if chosen is edge else "")
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


EDGE_EVIDENCE = 1.92
"""How much more log-likelihood the no-dropout edge needs than the penalised refit to be kept:
half the 95% quantile of chi-square with one degree of freedom, a likelihood-ratio test at 5%.
A store with little data (122 customers) reaches the edge by chance, and the penalty's pull
towards some dropout costs it almost nothing there (0.3); Online Retail's edge is 12 ahead."""


def _edge_on_evidence(edge: F.FitResult, fits: list[F.FitResult]) -> F.FitResult:
    """The no-dropout edge, left degenerate (not a candidate) unless its log-likelihood beats
    the penalised refits of its model by more than EDGE_EVIDENCE."""
    pen = [
        f.log_likelihood
        for f in fits
        if f.model == edge.model and f.penalizer > 0 and f.converged and not f.degenerate
    ]
    if not pen or edge.log_likelihood - max(pen) > EDGE_EVIDENCE:
        return edge
    return dataclasses.replace(
        edge,
        degenerate=True,
        message=f"{edge.message}; not kept: within {EDGE_EVIDENCE} of the penalised fit's LL",
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
        gg = fit_gamma_gamma(
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


# --- interval calibration ----------------------------------------------------------------------


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
    x_gg, scale = spend_scale(params, x, rfm["monetary_value"].to_numpy(float))
    lo, hi = interval_factors(
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
