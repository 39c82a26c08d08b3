"""Per-customer formulas of the fitted purchase models: P(alive), expected purchases,
P(no purchase) and one simulated draw of the purchases in a horizon.

Every formula takes the model id, its parameters `p` in `PARAM_NAMES` order and the
sufficient statistics (x = repeat purchase occasions, t_x = recency, T = age, one time unit):
- ``bgnbd``: BG/NBD, Fader, Hardie & Lee (2005a) "Counting your customers the easy way",
  Marketing Science 24(2); E[X(t) | history] eq. (10); P(alive) from Fader, Hardie & Lee,
  "Computing P(alive) using the BG/NBD model" (Hardie's note 021).
- ``mbgnbd``: MBG/NBD, Batislam, Denizel & Filiztekin (2007) IJRM 24(3) (P(alive): their
  Appendix A eq. (5)).
- ``paretonbd``: Pareto/NBD, Fader & Hardie (2005) "A note on deriving the Pareto/NBD model"
  (note 009): P(alive) section 5.1, E[X(t) | history] eq. (41).
"""

from __future__ import annotations

import numpy as np
from scipy.special import hyp2f1

PARAM_NAMES = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "paretonbd": ("r", "alpha", "s", "beta"),
}


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
