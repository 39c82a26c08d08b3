"""Predictive draws behind the CLV intervals: revenue in a horizon per unit of spend scale.

`draw_thetas` samples purchase-model parameters from the asymptotic normal of their logs,
`interval_factors` simulates the purchase process (`clv_formulas.simulate_purchases`) and the
Gamma-Gamma spend for each group of customers with the same statistics and returns their
quantiles, optionally mixed with another churn model's P(no purchase). The method is
described in `tools.models.clv_predict.predict_clv`.
"""

from __future__ import annotations

import warnings

import numpy as np

from tools.models.clv_fit import coarsen
from tools.models.clv_formulas import PARAM_NAMES, simulate_purchases


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
    (method in `tools.models.clv_predict.predict_clv`). `params` is a
    `tools.models.clv_params.ClvParams`. `interval` is
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
