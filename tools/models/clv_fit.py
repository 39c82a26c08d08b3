"""Likelihoods, fitting and per-customer formulas of the purchase and spend models.

Everything here works on plain numpy arrays of sufficient statistics (x = repeat purchase
occasions, t_x = recency, T = age, all in one time unit) and, for fitting, on COMPRESSED
statistics: identical (x, t_x, T) rows are grouped with an integer weight and the weighted
log-likelihood is maximised; it equals the sum of the per-customer log-likelihoods
(`tests/tools/test_clv.py` checks this), so the estimates are those of the raw fit.

Models (all have four positive parameters, fitted in log space):
- ``bgnbd``: BG/NBD, Fader, Hardie & Lee (2005a) "Counting your customers the easy way",
  Marketing Science 24(2); likelihood eq. (6), E[X(t) | history] eq. (10); P(alive) from
  Fader, Hardie & Lee, "Computing P(alive) using the BG/NBD model" (Hardie's note 021).
- ``mbgnbd``: MBG/NBD, Batislam, Denizel & Filiztekin (2007) IJRM 24(3): BG/NBD where a
  customer may also drop out right after the first purchase (P(alive): their Appendix A eq. (5)).
- ``paretonbd``: Pareto/NBD, Schmittlein, Morrison & Colombo (1987); Fader & Hardie (2005)
  "A note on deriving the Pareto/NBD model" (note 009): likelihood eq. (18) with A0 eqs.
  (19)-(20) (lifetimes' implementation is reused), P(alive) section 5.1, E[X(t) | history] eq. (41).
- Gamma-Gamma spend model, Fader, Hardie & Lee (2005b) "RFM and CLV", JMR 42(4), and
  Fader & Hardie "The Gamma-Gamma model of monetary value" (note 025): density of the mean
  repeat value eq. (1a), conditional expected value eq. (5).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

PARAM_NAMES = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "paretonbd": ("r", "alpha", "s", "beta"),
}
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


def _dot(a, b) -> float:
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
    value = float(_dot(wx, const) + _dot(w, lse) - r * _dot(d["wz"], ltz))
    ww3, ww4 = w * w3, w * w4
    d_r = (
        _dot(wx, digamma(r + xs) - digamma(r) + np.log(alpha))
        - _dot(ww3, lt)
        - _dot(ww4, lx)
        - _dot(d["wz"], ltz)
    )
    d_alpha = (
        wx.sum() * r / alpha
        - _dot(ww3 * rx, inv_t[d["iT"]])
        - _dot(ww4 * rx, inv_t[d["itx"]])
        - r * _dot(d["wz"], 1.0 / (alpha + d["Tz"]))
    )
    d_a = _dot(wx, digamma(ab) - digamma(ab + xs)) + ww4.sum() / a
    d_b = _dot(wx, digamma(ab) + digamma(b + xs) - digamma(b) - digamma(ab + xs)) - _dot(
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


def fit_purchase_model(model, x, tx, T, weights=None, *, penalizer=0.0, initial=None) -> FitResult:  # noqa: C901
    """Maximise the weighted log-likelihood sum(w_i ln L(x_i, t_x,i, T_i)) of `model`.

    Times are scaled so that max(T) = 1 for the optimisation (as lifetimes does) and the time
    parameters are rescaled afterwards. `penalizer` adds penalizer * sum(log(theta_scaled)^2)
    to the mean negative log-likelihood (ridge towards 1 in scaled units). Optimiser: L-BFGS-B
    on log-parameters in [-16, 16], analytic gradient for BG/NBD, central differences otherwise.
    The covariance comes from a finite-difference Hessian of the total (penalised) objective:
    the penalty acts as a Gaussian prior on the log-parameters, so this is a Laplace
    approximation around the penalised optimum.
    """
    ll_fn = LOGLIK[model]
    x = np.asarray(x, float)
    tx = np.asarray(tx, float)
    T = np.asarray(T, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    scale = 1.0 / T.max() if T.max() > 0 else 1.0
    txs, Ts = tx * scale, T * scale
    wsum = w.sum()

    def total_ll(u):
        with np.errstate(all="ignore"):
            v = float((w * ll_fn(np.exp(u), x, txs, Ts)).sum())
        return v if np.isfinite(v) else -1e300

    def objective(u):
        return -total_ll(u) / wsum + penalizer * float(u @ u)

    if model == "bgnbd":
        prepared = _bgnbd_prepare(x, txs, Ts, w)

        def total_vg(u):  # value and gradient of the penalised total negative LL
            with np.errstate(all="ignore"):
                v, g = _bgnbd_value_grad(np.exp(u), prepared)
            if not np.isfinite(v):
                return 1e300, np.zeros(4)
            return -v + penalizer * wsum * float(u @ u), -g + 2 * penalizer * wsum * u

        def fun(u):
            v, g = total_vg(u)
            return v / wsum, np.where(np.isfinite(g), g, 0.0) / wsum
    else:

        def fun(u):
            return objective(u), _num_grad(objective, u)

    u0 = np.zeros(4)  # all parameters 1 in scaled time, or r = 1, alpha = 1 / (mean rate)
    rate = float((w * x).sum() / (w * Ts).sum()) if (w * Ts).sum() > 0 else 0.0
    if initial is None and model == "bgnbd" and rate > 0:
        u0[1] = np.clip(-np.log(rate), -LOG_BOUND / 2, LOG_BOUND / 2)
    if initial is not None:
        u0 = np.log(np.asarray(initial, float))
        for i in TIME_PARAMS[model]:
            u0[i] += np.log(scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(
            fun,
            u0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
            options={"maxiter": 500 if model == "bgnbd" else 200, "ftol": 1e-13, "gtol": 1e-9},
        )
        u = res.x
        ll = (
            float(-total_vg(u)[0] + penalizer * wsum * float(u @ u))
            if model == "bgnbd"
            else total_ll(u)
        )
        if model == "bgnbd":
            H = _jac_of(lambda v: total_vg(v)[1], u, total_vg(u)[1])
        else:
            H = _num_hessian(lambda v: -total_ll(v) + penalizer * wsum * float(v @ v), u)
    cov: tuple[tuple[float, ...], ...] | None = None
    if np.all(np.isfinite(H)):
        eig = np.linalg.eigvalsh(H)
        if eig.min() > 0 and eig.max() / eig.min() < 1e12:
            h_inv = np.linalg.inv(H)
            cov = tuple(tuple(float(c) for c in row) for row in (h_inv + h_inv.T) / 2)
    grad_ok = bool(res.success) or bool(np.max(np.abs(fun(u)[1])) < 1e-3)
    converged = bool(np.isfinite(ll) and ll > -1e299 and (res.success or grad_ok))
    degenerate = bool(np.any(np.abs(u) > DEGENERATE_LOG) or cov is None)
    if model in ("bgnbd", "mbgnbd") and abs(np.exp(u[2]) - 1.0) < 1e-6:
        degenerate = True  # a = 1 makes E[X(t)] of eq. (10) 0/0
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
        degenerate,
        float(penalizer),
        str(res.message),
        cov,
        int(res.nit),
    )


def total_loglik(model, params, x, tx, T, weights=None) -> float:
    """Weighted total log-likelihood (params as a dict or sequence in PARAM_NAMES order)."""
    p = [params[k] for k in PARAM_NAMES[model]] if isinstance(params, dict) else params
    w = np.ones(len(np.atleast_1d(x))) if weights is None else np.asarray(weights, float)
    with np.errstate(all="ignore"):
        return float((w * LOGLIK[model](p, x, tx, T)).sum())


# --- per-customer formulas ----------------------------------------------------------------------


def p_alive(model, p, x, tx, T) -> np.ndarray:
    """P(alive at T | x, t_x, T).

    BG/NBD, Hardie's note 021: 1 / (1 + δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x)).
    MBG/NBD, Batislam et al. (2007) App. A eq. (5): 1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)).
    Pareto/NBD, note 009 section 5.1: 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0).
    """
    x = np.asarray(x, float)
    with np.errstate(all="ignore"):
        if model == "bgnbd":
            r, alpha, a, b = p
            z = (
                np.log(a)
                - np.log(b + np.maximum(x, 1) - 1)
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
            )
            return np.where(x > 0, 1.0 / (1.0 + np.exp(z)), 1.0)
        if model == "mbgnbd":
            r, alpha, a, b = p
            z = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
            return 1.0 / (1.0 + np.exp(z))
        if model == "paretonbd":
            from lifetimes import ParetoNBDFitter

            r, alpha, s, beta = p
            shape = np.broadcast(x, tx, T).shape  # lifetimes' A0 wants 1-d arrays
            x, tx, T = (np.ravel(v).astype(float) for v in np.broadcast_arrays(x, tx, T))
            log_a0 = ParetoNBDFitter._log_A_0((r, alpha, s, beta), x, tx, T)
            z = (
                np.log(s)
                - np.log(r + s + x)
                + (r + x) * np.log(alpha + T)
                + s * np.log(beta + T)
                + log_a0
            )
            # the closed form of A0 is a difference of two hypergeometric terms: exactly 0 at
            # t_x = T (P(alive) = 1: no time to have left unseen), lost to cancellation or
            # overflow near it (T = t_x = 0 with min(alpha, beta) small gives inf - inf).
            # There the integral it stands for is evaluated directly (`_pareto_log_tail`).
            bad = ~np.isfinite(z) & (tx < T)
            if bad.any():
                z = z.copy()
                z[bad] = (
                    np.log(s)
                    + (r + x[bad]) * np.log(alpha + T[bad])
                    + s * np.log(beta + T[bad])
                    + _pareto_log_tail(r, alpha, s, beta, x[bad], tx[bad], T[bad])
                )
            out = np.where(tx >= T, 1.0, 1.0 / (1.0 + np.exp(z)))
            return out.reshape(shape)
    raise ValueError(f"unknown model {model!r}")


def _pareto_log_tail(r, alpha, s, beta, x, tx, T) -> np.ndarray:
    """ln ∫_{t_x}^{T} (α+y)^-(r+x) (β+y)^-(s+1) dy, the integral behind A0 of note 009
    (s/(r+s+x) A0 = s ∫ ...: the chance of leaving unseen between the last purchase and T),
    by 48-point Gauss-Legendre in log space. Used where the closed form cancels."""
    half = (T - tx) / 2.0
    y = tx[:, None] + (np.asarray(_GL_NODES)[None, :] + 1.0) * half[:, None]
    log_f = -(r + x)[:, None] * np.log(alpha + y) - (s + 1.0) * np.log(beta + y)
    m = log_f.max(axis=1, keepdims=True)
    total = np.log((np.exp(log_f - m) * _GL_WEIGHTS[None, :]).sum(axis=1)) + m[:, 0]
    return total + np.log(half)


def expected_purchases(model, p, t, x, tx, T) -> np.ndarray:
    """E[X(T, T+t) | x, t_x, T] = P(alive) * E[X(t) | alive].

    BG/NBD, FHL (2005a) eq. (10): E[X|alive] = (a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x)
        2F1(r+x, b+x; a+b+x-1; t/(α+T+t))].
    MBG/NBD, Batislam et al. (2007): the same with b+x -> b+x+1 (one more survived dropout
        opportunity, as in lifetimes' ModifiedBetaGeoFitter).
    Pareto/NBD, note 009 eq. (41): E[X|alive] = (r+x)(β+T)/((α+T)(s-1))
        [1 - ((β+T)/(β+T+t))^(s-1)].
    """
    x = np.asarray(x, float)
    pa = p_alive(model, p, x, tx, T)
    with np.errstate(all="ignore"):
        if model in ("bgnbd", "mbgnbd"):
            r, alpha, a, b = p
            bb = b + x + (1.0 if model == "mbgnbd" else 0.0)
            z = t / (alpha + T + t)
            cond = (
                (a + bb - 1)
                / (a - 1)
                * (
                    1
                    - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, bb, a + bb - 1, z)
                )
            )
        else:
            r, alpha, s, beta = p
            if abs(s - 1.0) < 1e-9:
                cond = (r + x) / (alpha + T) * (beta + T) * np.log1p(t / (beta + T))
            else:
                cond = (
                    (r + x)
                    * (beta + T)
                    / ((alpha + T) * (s - 1))
                    * (1 - ((beta + T) / (beta + T + t)) ** (s - 1))
                )
    return pa * cond


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)


def prob_no_purchase(model, p, t, x, tx, T) -> np.ndarray:
    """P(X(T, T+t) = 0 | x, t_x, T): probability of no purchase in the next t.

    = (1 - P(alive)) + P(alive) P(0 | alive). Given alive at T the posterior is
    λ ~ Gamma(r+x, α+T) (and p ~ Beta(a, b+x) for BG/NBD, μ ~ Gamma(s, β+T) for Pareto/NBD),
    as in the derivation of FHL (2005a) eq. (10); the x = 0 case of the conditional PMF
    (Hardie's note 028, eq. (16), for Pareto/NBD; the same argument for BG/NBD).
    BG/NBD and MBG/NBD drop out only right after a purchase, so P(0 | alive) = E[e^(-λt)]
    = ((α+T)/(α+T+t))^(r+x) — the x = 0 term of the conditional PMF.
    Pareto/NBD: P(0 | alive, λ, μ) = e^(-(λ+μ)t) + ∫_0^t μ e^(-(λ+μ)u) du; averaging over the
    posterior gives ((α+T)/(α+T+t))^(r+x) ((β+T)/(β+T+t))^s
    + ∫_0^t s/(β+T+u) ((β+T)/(β+T+u))^s ((α+T)/(α+T+u))^(r+x) du (48-point Gauss-Legendre).
    """
    x = np.asarray(x, float)
    pa = p_alive(model, p, x, tx, T)
    r, alpha = p[0], p[1]
    with np.errstate(all="ignore"):
        surv_lam = ((alpha + T) / (alpha + T + t)) ** (r + x)
        if model in ("bgnbd", "mbgnbd"):
            p0 = surv_lam
        else:
            s, beta = p[2], p[3]
            u = (np.asarray(_GL_NODES) + 1.0) * t / 2.0
            A = np.asarray(alpha + T, float)[..., None]
            B = np.asarray(beta + T, float)[..., None]
            k = np.asarray(r + x, float)[..., None]
            f = s / (B + u) * (B / (B + u)) ** s * (A / (A + u)) ** k
            p0 = surv_lam * ((beta + T) / (beta + T + t)) ** s + (f * _GL_WEIGHTS).sum(-1) * t / 2
    return (1.0 - pa) + pa * np.clip(p0, 0.0, 1.0)


def simulate_purchases(model, p, t, x, tx, T, rng) -> np.ndarray:
    """One draw of X(T, T+t) per element (arrays broadcast; `p` entries may be arrays of draws).

    Alive ~ Bernoulli(P(alive)); given alive λ ~ Gamma(r+x, α+T). BG/NBD: K ~ Poisson(λt)
    potential purchases, the customer leaves after the G-th purchase, G ~ Geometric(p) with
    p ~ Beta(a, b+x) (b+x+1 for MBG/NBD), X = min(K, G). Pareto/NBD: lifetime τ ~ Exp(μ),
    μ ~ Gamma(s, β+T), X ~ Poisson(λ min(τ, t)).
    """
    x = np.asarray(x, float)
    pa = p_alive(model, p, x, tx, T)
    shape = np.broadcast(pa, x).shape
    alive = rng.random(shape) < pa
    r, alpha = p[0], p[1]
    lam = rng.gamma(np.broadcast_to(r + x, shape)) / (alpha + T)
    if model in ("bgnbd", "mbgnbd"):
        a, b = p[2], p[3]
        drop = rng.beta(
            np.broadcast_to(a, shape), np.broadcast_to(b + x + (model == "mbgnbd"), shape)
        )
        k = rng.poisson(_capped(lam * t))
        g = rng.geometric(np.clip(drop, 1e-12, 1.0))
        n = np.minimum(k, g)
    else:
        s, beta = p[2], p[3]
        mu = rng.gamma(np.broadcast_to(s, shape)) / (beta + T)
        tau = rng.exponential(size=shape) / np.maximum(mu, 1e-300)
        n = rng.poisson(_capped(lam * np.minimum(tau, t)))
    return np.where(alive, n, 0)


MAX_POISSON_MEAN = 1e9  # a parameter draw far in the tail can ask numpy for more than it draws


def _capped(mean) -> np.ndarray:
    """Poisson means made drawable: finite, non-negative, at most MAX_POISSON_MEAN."""
    return np.clip(np.nan_to_num(mean, nan=0.0, posinf=MAX_POISSON_MEAN), 0.0, MAX_POISSON_MEAN)


# --- interval ------------------------------------------------------------------------------


def draw_thetas(params, n: int, rng) -> np.ndarray:
    """`n` parameter vectors from the asymptotic normal of the log-parameters (point
    estimate repeated when there is no covariance), truncated at MAX_DRAW_SD standard
    deviations and a factor e^MAX_DRAW_LOG either side: a poorly identified fit's tail
    draws (a Pareto/NBD beta a million times its estimate) say nothing about the store
    and take scipy's hypergeometric function where it crashes."""
    theta = np.asarray([params.params[k] for k in PARAM_NAMES.get(params.model, ("rate",))], float)
    if params.cov_log is None or params.model == "pooled":
        return np.tile(theta, (n, 1))
    cov = np.asarray(params.cov_log)
    u = rng.multivariate_normal(np.log(theta), cov, size=n)
    half = np.minimum(MAX_DRAW_SD * np.sqrt(np.clip(np.diag(cov), 0, None)), MAX_DRAW_LOG)
    return np.exp(np.clip(u, np.log(theta) - half, np.log(theta) + half))


MAX_DRAW_SD = 3.0
MAX_DRAW_LOG = 3.0


def interval_factors(params, t, x, tx, T, x_gg, interval, n_draws, seed, max_groups, p0=None):
    """Per-customer lower/upper quantiles of R, revenue in the horizon per unit of spend scale
    (method in `tools.models.clv.predict_clv`). `params` is a `tools.models.clv.ClvParams`. `interval` is
    one central level (arrays of customers back) or a sequence of them (customers x levels).

    `p0` (one per customer, optional): P(no purchase in the horizon) from another churn
    model. The customer's revenue is then the mixture "nothing with probability p0, else
    the model's revenue given at least one purchase", whose quantile at level a is 0 for
    a <= p0 and the (a - p0) / (1 - p0) quantile of the model's positive draws above it;
    so the lower bound is positive wherever p0 < (1 - level) / 2."""
    rng = np.random.default_rng(seed)
    gx, gtx, gT, _, inv, gflag = coarsen(x, tx, T, np.ones(len(x)), max_groups, x_gg > 0)
    thetas = draw_thetas(params, n_draws, rng)
    N = np.empty((len(gx), n_draws))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for s in range(n_draws):
            if params.model == "pooled":
                expo = max(params.pooled_exposure, 1e-12)
                rate = rng.gamma(params.pooled_rate * expo + 0.5) / expo
                N[:, s] = rng.poisson(rate * t, size=len(gx))
            else:
                n = simulate_purchases(params.model, tuple(thetas[s]), t, gx, gtx, gT, rng)
                N[:, s] = np.where(np.isfinite(n), n, 0)
    if params.spend_model == "gamma_gamma":
        p, q = params.spend_params["p"], params.spend_params["q"]
        shape_nu = np.where(gflag, p * gx, 0.0)[:, None] + q
        num = rng.gamma(np.maximum(p * N, 1e-300))
        R = np.where(N > 0, num / rng.gamma(np.broadcast_to(shape_nu, N.shape)), 0.0)
    else:
        R = N
    levels = np.atleast_1d(np.asarray(interval, float))
    probs = np.concatenate([(1 - levels) / 2, 1 - (1 - levels) / 2])
    if p0 is None:
        qs = np.quantile(R, probs, axis=1).T[inv]
    else:
        qs = _mixture_quantiles(R, inv, np.clip(np.asarray(p0, float), 0.0, 1.0), probs)
    lo, hi = qs[:, : len(levels)], qs[:, len(levels) :]
    if np.ndim(interval) == 0:
        return lo[:, 0], hi[:, 0]
    return lo, hi


def _mixture_quantiles(R, inv, p0, probs) -> np.ndarray:
    """Quantiles (customers x probs) of "0 with probability p0, else a positive draw of the
    customer's group in R" (`interval_factors`); NaN where a group has no positive draw."""
    Rs = np.sort(R, axis=1)
    n = R.shape[1]
    pos = (R > 0).sum(axis=1)[inv].astype(float)
    out = np.zeros((len(inv), len(probs)))
    for j, a in enumerate(probs):
        c = np.clip((a - p0) / np.maximum(1.0 - p0, 1e-12), 0.0, 1.0)
        f = (n - pos) + c * np.maximum(pos - 1, 0)
        i0 = np.clip(np.floor(f).astype(int), 0, n - 1)
        i1 = np.clip(i0 + 1, 0, n - 1)
        w = f - np.floor(f)
        q = Rs[inv, i0] * (1 - w) + Rs[inv, i1] * w  # never a customers x draws array
        out[:, j] = np.where(a <= p0, 0.0, np.where(pos > 0, q, np.nan))
    return out


# --- Gamma-Gamma spend model ----------------------------------------------------------------


def gamma_gamma_loglik(params, x, m) -> np.ndarray:
    """ln f(m̄ | x; p, q, v), note 025 eq. (1a) (FHL 2005b):
    Γ(px+q)/(Γ(px)Γ(q)) v^q m̄^(px-1) x^(px) / (v + x m̄)^(px+q)."""
    p, q, v = params
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )


def _gamma_gamma_value_grad(params, xs, ix, wx, x, lm, lx, ms, w):
    """Weighted sum of eq. (1a) and its gradient w.r.t. log(p, q, v); Γ terms once per distinct x."""
    p, q, v = params
    pxs = p * xs
    lvm = np.log(v + x * ms)
    px = p * x
    value = float(
        _dot(wx, gammaln(pxs + q) - gammaln(pxs))
        - wx.sum() * gammaln(q)
        + _dot(w, q * np.log(v) + (px - 1) * lm + px * lx - (px + q) * lvm)
    )
    d_p = _dot(wx, xs * (digamma(pxs + q) - digamma(pxs))) + _dot(w, x * (lm + lx - lvm))
    d_q = _dot(wx, digamma(pxs + q)) - wx.sum() * digamma(q) + _dot(w, np.log(v) - lvm)
    d_v = _dot(w, q / v - (px + q) / (v + x * ms))
    return value, np.array([d_p, d_q, d_v]) * np.asarray(params)


def fit_gamma_gamma(x, m, weights=None) -> FitResult:
    """Fit the Gamma-Gamma model on repeat customers (x > 0, m̄ > 0) by maximum likelihood
    (L-BFGS-B on log-parameters, analytic gradient); money is scaled by mean(m̄) for the
    optimiser and v rescaled afterwards."""
    x = np.asarray(x, float)
    m = np.asarray(m, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    scale = 1.0 / m.mean()
    xs, ix = np.unique(x, return_inverse=True)
    wx = np.bincount(ix, weights=w, minlength=len(xs))
    ms = m * scale
    data = (xs, ix, wx, x, np.log(ms), np.log(x), ms, w)
    wsum = w.sum()

    def fun(u):
        with np.errstate(all="ignore"):
            v, g = _gamma_gamma_value_grad(np.exp(u), *data)
        if not np.isfinite(v):
            return 1e300, np.zeros(3)
        return -v / wsum, np.where(np.isfinite(g), -g / wsum, 0.0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(
            fun,
            np.zeros(3),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * 3,
            options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-9},
        )
    u = res.x
    p, q, v = np.exp(u)
    nll, grad = fun(u)
    ll = -nll * wsum + float((w * np.log(scale)).sum())
    converged = bool(np.isfinite(ll) and (res.success or np.max(np.abs(grad)) < 1e-4))
    degenerate = bool(np.any(np.abs(u) > DEGENERATE_LOG) or q <= 1.0)
    return FitResult(
        "gamma_gamma",
        {"p": float(p), "q": float(q), "v": float(v / scale)},
        ll,
        converged,
        degenerate,
        0.0,
        str(res.message),
        None,
        int(res.nit),
    )


def gamma_gamma_expected_value(params, x, m) -> np.ndarray:
    """E[M | m̄, x] = (v + x m̄) p / (p x + q - 1), note 025 eq. (5); x = 0 gives the
    population mean p v / (q - 1)."""
    p, q, v = params["p"], params["q"], params["v"]
    return (v + x * m) * p / (p * x + q - 1)
