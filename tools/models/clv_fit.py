"""Likelihoods and maximum-likelihood fitting of the purchase models.

Everything here works on plain numpy arrays of sufficient statistics (x = repeat purchase
occasions, t_x = recency, T = age, all in one time unit) and, for fitting, on COMPRESSED
statistics: identical (x, t_x, T) rows are grouped with an integer weight (`compress`,
`coarsen`) and the weighted log-likelihood is maximised (`fit_purchase_model`); it equals the
sum of the per-customer log-likelihoods (`tests/tools/test_clv.py` checks this), so the
estimates are those of the raw fit. The per-customer formulas of the fitted models are in
`clv_formulas`, the spend model in `gamma_gamma`.

Models (all have four positive parameters, fitted in log space; names in `PARAM_NAMES`):
- ``bgnbd``: BG/NBD, Fader, Hardie & Lee (2005a) "Counting your customers the easy way",
  Marketing Science 24(2); likelihood eq. (6).
- ``mbgnbd``: MBG/NBD, Batislam, Denizel & Filiztekin (2007) IJRM 24(3): BG/NBD where a
  customer may also drop out right after the first purchase (likelihood: their section 2).
- ``paretonbd``: Pareto/NBD, Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005)
  "A note on deriving the Pareto/NBD model" (note 009): likelihood eq. (18) with A0 eqs.
  (19)-(20) (lifetimes' implementation is reused).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln

from tools.models.clv_formulas import PARAM_NAMES

TIME_PARAMS = {"bgnbd": (1,), "mbgnbd": (1,), "paretonbd": (1, 3)}  # scale with the time unit
LOG_BOUND = 16.0  # log-parameters live in [-16, 16] (about 1e-7 .. 9e6)
DEGENERATE_LOG = 9.2  # a fitted parameter below 1e-4 or above 1e4 (scaled time) is degenerate


# --- log-likelihoods, one value per (x, t_x, T) row -------------------------------------------


def bgnbd_loglik(params, x, tx, T) -> np.ndarray:
    """BG/NBD individual log-likelihood, Fader, Hardie & Lee (2005a) eq. (6).

    ln L = ln[Γ(r+x) α^r / Γ(r)] + ln[B(a, b+x)/B(a, b)] + ln[(α+T)^-(r+x)
           + δ(x>0) a/(b+x-1) (α+t_x)^-(r+x)]
    """
    r, alpha, a, b = params
    x = np.asarray(x, float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + tx)
    a4 = np.where(x > 0, a4, -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def wdot(a, b) -> float:
    """sum(a * b) without BLAS: a threaded BLAS dot spins badly on a shared machine."""
    return float(np.sum(a * b))


def _bgnbd_prepare(x, tx, T, w) -> dict:
    """Split rows into x = 0 and x > 0 and index each row's x among the distinct x values."""
    x = np.asarray(x, float)
    xs, ix = np.unique(x, return_inverse=True)
    pos = x > 0
    npos = int(pos.sum())
    times, it = np.unique(
        np.concatenate([np.asarray(T, float)[pos], np.asarray(tx, float)[pos]]), return_inverse=True
    )
    return {
        "xs": xs,
        "wx": np.bincount(ix, weights=w, minlength=len(xs)),
        "Tz": np.asarray(T, float)[~pos],
        "wz": np.asarray(w, float)[~pos],
        "x": x[pos],
        "w": np.asarray(w, float)[pos],
        "ix": ix[pos],
        # t_x and T take few distinct values (whole days): logs via a lookup table
        "times": times,
        "iT": it[:npos],
        "itx": it[npos:],
    }


def _bgnbd_value_grad(params, d: dict):
    """sum(w ln L) of eq. (6) and its gradient w.r.t. the log-parameters, on `_bgnbd_prepare`d
    rows. Terms that depend on x only (the Γ and B functions) are evaluated once per distinct
    x; for x = 0 the bracket of eq. (6) is (α+T)^-r alone."""
    r, alpha, a, b = params
    xs, wx, x, w, ix = d["xs"], d["wx"], d["x"], d["w"], d["ix"]
    log_t, inv_t = np.log(alpha + d["times"]), 1.0 / (alpha + d["times"])
    lt, lx = log_t[d["iT"]], log_t[d["itx"]]
    bx1 = b + np.maximum(xs, 1.0) - 1.0
    rx = r + x
    a3 = -rx * lt
    a4 = (np.log(a) - np.log(bx1))[ix] - rx * lx
    dd = a3 - a4
    lse = np.maximum(a3, a4) + np.log1p(np.exp(-np.abs(dd)))
    w3 = 1.0 / (1.0 + np.exp(-dd))  # share of the "still alive" term
    w4 = 1.0 - w3
    ltz = np.log(alpha + d["Tz"])
    ab = a + b
    const = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xs) - betaln(a, b)
    value = float(wdot(wx, const) + wdot(w, lse) - r * wdot(d["wz"], ltz))
    ww3, ww4 = w * w3, w * w4
    d_r = (
        wdot(wx, digamma(r + xs) - digamma(r) + np.log(alpha))
        - wdot(ww3, lt)
        - wdot(ww4, lx)
        - wdot(d["wz"], ltz)
    )
    d_alpha = (
        wx.sum() * r / alpha
        - wdot(ww3 * rx, inv_t[d["iT"]])
        - wdot(ww4 * rx, inv_t[d["itx"]])
        - r * wdot(d["wz"], 1.0 / (alpha + d["Tz"]))
    )
    d_a = wdot(wx, digamma(ab) - digamma(ab + xs)) + ww4.sum() / a
    d_b = wdot(wx, digamma(ab) + digamma(b + xs) - digamma(b) - digamma(ab + xs)) - wdot(
        ww4, (1.0 / bx1)[ix]
    )
    return value, np.array([d_r, d_alpha, d_a, d_b]) * np.asarray(params)


def mbgnbd_loglik(params, x, tx, T) -> np.ndarray:
    """MBG/NBD individual log-likelihood, Batislam et al. (2007), section 2.

    L = B(a, b+x+1)/B(a,b) Γ(r+x)α^r/(Γ(r)(α+T)^(r+x)) + B(a+1, b+x)/B(a,b) Γ(r+x)α^r/(Γ(r)(α+t_x)^(r+x))
    """
    r, alpha, a, b = params
    x = np.asarray(x, float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    a3 = betaln(a, b + x + 1.0) - (r + x) * np.log(alpha + T)
    a4 = betaln(a + 1.0, b + x) - (r + x) * np.log(alpha + tx)
    return a1 + np.logaddexp(a3, a4)


def paretonbd_loglik(params, x, tx, T) -> np.ndarray:
    """Pareto/NBD individual log-likelihood, Fader & Hardie (2005) note eq. (18) (lifetimes' code)."""
    from lifetimes import ParetoNBDFitter

    return ParetoNBDFitter._conditional_log_likelihood(tuple(params), np.asarray(x, float), tx, T)


LOGLIK = {"bgnbd": bgnbd_loglik, "mbgnbd": mbgnbd_loglik, "paretonbd": paretonbd_loglik}


def group_rows(*cols) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Unique rows of the given equal-length columns (sorted), the inverse index mapping every
    input row to its unique row, and the count of each unique row (hash grouping, O(n))."""
    frame = pd.DataFrame({i: np.asarray(c) for i, c in enumerate(cols)})
    inverse = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
    counts = np.bincount(inverse)
    rep = np.empty(len(counts), dtype=np.int64)
    rep[inverse] = np.arange(len(inverse))
    return [np.asarray(c)[rep] for c in cols], inverse, counts


def coarsen(x, tx, T, w, max_rows, extra=None):
    """At most `max_rows` weighted rows standing for (x, t_x, T[, extra]): t_x and T are binned
    with a width (in time units) doubling from 1 until the groups fit, and each group sits at
    its members' weighted mean t_x and T (so t_x <= T still holds). Returns x, t_x, T, weights,
    the inverse index of every input row, and the group's `extra` (None without one)."""
    x, tx, T, w = (np.asarray(v, float) for v in (x, tx, T, w))
    (ux, utx, uT, *ue), inv0, _ = group_rows(x, tx, T, *([extra] if extra is not None else []))
    uw = np.bincount(inv0, weights=w)
    k = 1.0
    while True:
        bins = [ux, np.floor(utx / k), np.floor(uT / k), *ue]
        (gx, _, _, *ge), inv1, _ = group_rows(*bins)
        if len(gx) <= max_rows or k > 1e6:
            break
        k *= 2.0
    gw = np.bincount(inv1, weights=uw)
    gtx = np.bincount(inv1, weights=utx * uw) / gw
    gT = np.bincount(inv1, weights=uT * uw) / gw
    return gx, gtx, gT, gw, inv1[inv0], (ge[0] if ge else None)


def compress(x, tx, T) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group identical (x, t_x, T) rows: returns unique x, t_x, T, their weights, and the inverse
    index mapping every input row to its unique row."""
    (ux, utx, uT), inverse, counts = group_rows(
        np.asarray(x, float), np.asarray(tx, float), np.asarray(T, float)
    )
    return ux, utx, uT, counts.astype(float), inverse


# --- fitting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """One maximum-likelihood fit. `cov_log` is the covariance of the log-parameters
    (inverse Hessian of the weighted negative log-likelihood), None when not positive definite."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    converged: bool
    degenerate: bool
    penalizer: float
    message: str
    cov_log: tuple[tuple[float, ...], ...] | None
    n_iter: int


def _num_grad(f, u, h=1e-6):
    g = np.zeros_like(u)
    for i in range(len(u)):
        e = np.zeros_like(u)
        e[i] = h
        g[i] = (f(u + e) - f(u - e)) / (2 * h)
    return g


def _jac_of(grad, u, g0, h=1e-6):
    """Symmetrised forward-difference Jacobian of a gradient function (a Hessian); g0 = grad(u)."""
    cols = []
    for i in range(len(u)):
        e = np.zeros_like(u)
        e[i] = h
        cols.append((grad(u + e) - g0) / h)
    H = np.column_stack(cols)
    return (H + H.T) / 2


def _num_hessian(f, u, h=1e-4):
    """Hessian of f by forward differences of its central-difference gradient."""
    return _jac_of(lambda v: _num_grad(f, v, h), u, _num_grad(f, u, h), h)


@dataclass(frozen=True)
class _Objective:
    """What the optimiser and the covariance need of one model's likelihood, in log-parameters
    u and scaled time: `fun(u)` is the mean penalised negative log-likelihood and its gradient,
    `log_lik(u)` the total (unpenalised) log-likelihood, `hessian(u)` the Hessian of the total
    penalised negative log-likelihood."""

    fun: Callable[[np.ndarray], tuple[float, np.ndarray]]
    log_lik: Callable[[np.ndarray], float]
    hessian: Callable[[np.ndarray], np.ndarray]


def _bgnbd_objective(x, txs, Ts, w, penalizer) -> _Objective:
    """BG/NBD: analytic gradient (`_bgnbd_value_grad`), Hessian by differences of it."""
    prepared = _bgnbd_prepare(x, txs, Ts, w)
    wsum = w.sum()

    def total_vg(u):  # value and gradient of the penalised total negative LL
        with np.errstate(all="ignore"):
            v, g = _bgnbd_value_grad(np.exp(u), prepared)
        if not np.isfinite(v):
            return 1e300, np.zeros(4)
        return -v + penalizer * wsum * float(u @ u), -g + 2 * penalizer * wsum * u

    def fun(u):
        v, g = total_vg(u)
        return v / wsum, np.where(np.isfinite(g), g, 0.0) / wsum

    def log_lik(u):
        return float(-total_vg(u)[0] + penalizer * wsum * float(u @ u))

    def hessian(u):
        return _jac_of(lambda v: total_vg(v)[1], u, total_vg(u)[1])

    return _Objective(fun, log_lik, hessian)


def _numeric_objective(model, x, txs, Ts, w, penalizer) -> _Objective:
    """MBG/NBD and Pareto/NBD: central-difference gradient, Hessian by differences of it."""
    ll_fn = LOGLIK[model]
    wsum = w.sum()

    def total_ll(u):
        with np.errstate(all="ignore"):
            v = float((w * ll_fn(np.exp(u), x, txs, Ts)).sum())
        return v if np.isfinite(v) else -1e300

    def objective(u):
        return -total_ll(u) / wsum + penalizer * float(u @ u)

    def fun(u):
        return objective(u), _num_grad(objective, u)

    def hessian(u):
        return _num_hessian(lambda v: -total_ll(v) + penalizer * wsum * float(v @ v), u)

    return _Objective(fun, total_ll, hessian)


def _start(model, x, Ts, w, scale, initial) -> np.ndarray:
    """Starting log-parameters: all parameters 1 in scaled time (BG/NBD: r = 1 and
    alpha = 1 / mean rate), or `initial` (in unscaled time) when given."""
    u0 = np.zeros(4)
    rate = float((w * x).sum() / (w * Ts).sum()) if (w * Ts).sum() > 0 else 0.0
    if initial is None and model == "bgnbd" and rate > 0:
        u0[1] = np.clip(-np.log(rate), -LOG_BOUND / 2, LOG_BOUND / 2)
    if initial is not None:
        u0 = np.log(np.asarray(initial, float))
        for i in TIME_PARAMS[model]:
            u0[i] += np.log(scale)
    return u0


def _covariance(H) -> tuple[tuple[float, ...], ...] | None:
    """Inverse of the Hessian H, symmetrised; None unless H is finite, positive definite and
    not too ill-conditioned (condition number below 1e12)."""
    if not np.all(np.isfinite(H)):
        return None
    eig = np.linalg.eigvalsh(H)
    if not (eig.min() > 0 and eig.max() / eig.min() < 1e12):
        return None
    h_inv = np.linalg.inv(H)
    return tuple(tuple(float(c) for c in row) for row in (h_inv + h_inv.T) / 2)


def _is_degenerate(model, u, cov) -> bool:
    """A log-parameter beyond DEGENERATE_LOG, no covariance, (BG/NBD, MBG/NBD) a = 1, or
    (Pareto/NBD) its no-dropout edge: a chance below NO_DROPOUT that a customer drops out
    within the data's span (u in scaled time, max T = 1: 1 - (beta / (beta + 1))^s). That
    edge is the NBD limit, the one BG/NBD's is (`no_dropout_limit`, kept on the evidence
    only), whether or not the optimiser stopped inside the box (s = 2e-4, beta = 5e5 days
    on 150 NBD customers with scipy 1.17)."""
    if np.any(np.abs(u) > DEGENERATE_LOG) or cov is None:
        return True
    if model == "paretonbd":
        s, beta = np.exp(u[2]), np.exp(u[3])
        return bool(-np.expm1(-s * np.log1p(1.0 / beta)) < NO_DROPOUT)
    # a = 1 makes E[X(t)] of eq. (10) 0/0
    return bool(model in ("bgnbd", "mbgnbd") and abs(np.exp(u[2]) - 1.0) < 1e-6)


def fit_purchase_model(model, x, tx, T, weights=None, *, penalizer=0.0, initial=None) -> FitResult:
    """Maximise the weighted log-likelihood sum(w_i ln L(x_i, t_x,i, T_i)) of `model`.

    Times are scaled so that max(T) = 1 for the optimisation (as lifetimes does) and the time
    parameters are rescaled afterwards. `penalizer` adds penalizer * sum(log(theta_scaled)^2)
    to the mean negative log-likelihood (ridge towards 1 in scaled units). Optimiser: L-BFGS-B
    on log-parameters in [-16, 16], analytic gradient for BG/NBD, central differences otherwise.
    The covariance comes from a finite-difference Hessian of the total (penalised) objective:
    the penalty acts as a Gaussian prior on the log-parameters, so this is a Laplace
    approximation around the penalised optimum.
    """
    x = np.asarray(x, float)
    tx = np.asarray(tx, float)
    T = np.asarray(T, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    scale = 1.0 / T.max() if T.max() > 0 else 1.0
    txs, Ts = tx * scale, T * scale
    make = _bgnbd_objective if model == "bgnbd" else partial(_numeric_objective, model)
    obj = make(x, txs, Ts, w, penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(
            obj.fun,
            _start(model, x, Ts, w, scale, initial),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
            options={"maxiter": 500 if model == "bgnbd" else 200, "ftol": 1e-13, "gtol": 1e-9},
        )
        u = res.x
        ll = obj.log_lik(u)
        H = obj.hessian(u)
    cov = _covariance(H)
    grad_ok = bool(res.success) or bool(np.max(np.abs(obj.fun(u)[1])) < 1e-3)
    converged = bool(np.isfinite(ll) and ll > -1e299 and (res.success or grad_ok))
    theta = np.exp(u)
    for i in TIME_PARAMS[model]:
        theta[i] /= scale
    params = {k: float(v) for k, v in zip(PARAM_NAMES[model], theta)}
    # time rescaled by c multiplies each customer's likelihood by c^-x (x event densities)
    ll += float((w * x).sum() * np.log(scale))
    return FitResult(
        model,
        params,
        ll,
        converged,
        _is_degenerate(model, u, cov),
        float(penalizer),
        str(res.message),
        cov,
        int(res.nit),
    )


NO_DROPOUT = 1e-6
"""A BG/NBD or MBG/NBD fit whose mean dropout chance per purchase, a / (a + b), is below this
is at the models' no-dropout edge: the NBD model (Ehrenberg) of purchases without churn."""


def no_dropout_limit(fr: FitResult, x, tx, T, weights=None) -> FitResult | None:
    """A converged BG/NBD or MBG/NBD maximum whose only degeneracy is that nobody drops out
    (a / (a + b) below NO_DROPOUT, `a` or `b` at the edge of the box): the store's purchases
    show no churn, and the edge is the MLE the data give (vanilla lifetimes predicts from
    it; a penalised refit moves away from it only by the penalty). Kept as a candidate, not
    degenerate, with the covariance of (r, alpha) alone (the dropout parameters are fixed at
    the edge, so interval draws vary the purchase rate only). None when `fr` is not that."""
    if fr.model not in ("bgnbd", "mbgnbd") or not (fr.converged and fr.degenerate):
        return None
    r, alpha, a, b = (fr.params[k] for k in ("r", "alpha", "a", "b"))
    scale = 1.0 / float(np.max(T)) if np.max(T) > 0 else 1.0
    if not (
        a / (a + b) < NO_DROPOUT
        and abs(np.log(r)) < DEGENERATE_LOG
        and abs(np.log(alpha * scale)) < DEGENERATE_LOG
    ):
        return None

    def nll(v):  # the purchase rate's (log r, log alpha), the dropout held at the edge
        total = total_loglik(fr.model, [np.exp(v[0]), np.exp(v[1]), a, b], x, tx, T, weights)
        return -total if np.isfinite(total) else 1e300

    sub = _covariance(_num_hessian(nll, np.log([r, alpha])))
    if sub is None:
        return None
    cov = np.zeros((4, 4))
    cov[:2, :2] = sub
    return replace(
        fr,
        degenerate=False,
        message=f"no-dropout edge of the MLE (a/(a+b) = {a / (a + b):.1e}): {fr.message}",
        cov_log=tuple(tuple(float(c) for c in row) for row in cov),
    )


def total_loglik(model, params, x, tx, T, weights=None) -> float:
    """Weighted total log-likelihood (params as a dict or sequence in PARAM_NAMES order)."""
    p = [params[k] for k in PARAM_NAMES[model]] if isinstance(params, dict) else params
    w = np.ones(len(np.atleast_1d(x))) if weights is None else np.asarray(weights, float)
    with np.errstate(all="ignore"):
        return float((w * LOGLIK[model](p, x, tx, T)).sum())
