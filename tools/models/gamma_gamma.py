"""The Gamma-Gamma spend model: likelihood, fit and conditional expected order value.

Fader, Hardie & Lee (2005b) "RFM and CLV: using iso-value curves for customer base
analysis", JMR 42(4), and Fader & Hardie "The Gamma-Gamma model of monetary value" (note
025): density of the mean repeat value eq. (1a), conditional expected value eq. (5). It is
fitted on the customers with a repeat purchase and a positive mean repeat value.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from tools.models.clv_fit import DEGENERATE_LOG, LOG_BOUND, FitResult, wdot


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
        wdot(wx, gammaln(pxs + q) - gammaln(pxs))
        - wx.sum() * gammaln(q)
        + wdot(w, q * np.log(v) + (px - 1) * lm + px * lx - (px + q) * lvm)
    )
    d_p = wdot(wx, xs * (digamma(pxs + q) - digamma(pxs))) + wdot(w, x * (lm + lx - lvm))
    d_q = wdot(wx, digamma(pxs + q)) - wx.sum() * digamma(q) + wdot(w, np.log(v) - lvm)
    d_v = wdot(w, q / v - (px + q) / (v + x * ms))
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
