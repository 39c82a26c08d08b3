"""The demo store's simulated process, in vectorised rounds over the still-active customers.

Latent traits per customer (`draw_customers`), seasonality (`season_table`), the
buy-till-you-die purchases (`simulate_purchases`), the planted churn causes
(`plant_causes`), order lines, returned lines, support tickets and engagement events: the steps
`tools.demo.store.generate_store` runs, in that order, on one random generator (the model is
described in `tools.demo.store`). Numbers only: writing the files is the store's job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.demo import signals as sig
from tools.demo.params import CAUSES, DAY_S, PARAMS


def draw_customers(
    rng: np.random.Generator, n: int, horizon: float, parr: dict
) -> dict[str, np.ndarray]:
    """Per-customer latent traits: acquisition time, λ, p, spend level, tastes, consent."""
    g = PARAMS["acquisition_growth_per_year"] / 365.25
    acq = np.log1p(rng.random(n) * np.expm1(g * horizon)) / g  # inverse CDF of ∝ exp(g t)
    r, mean = PARAMS["purchase_rate_gamma_shape_r"], PARAMS["purchase_rate_mean_per_day"]
    lam = rng.gamma(r, mean / r, n)
    p = rng.beta(PARAMS["dropout_beta_a"], PARAMS["dropout_beta_b"], n)
    k = PARAMS["spend_level_gamma_shape"]
    spend = rng.gamma(k, 1 / k, n)
    pref_cat = np.searchsorted(np.cumsum(parr["cat_weight"]), rng.random(n), side="right").clip(
        0, 7
    )
    disc_a, disc_b = PARAMS["discount_propensity_beta"]
    disc = rng.beta(disc_a, disc_b, n)
    chan = np.searchsorted([0.6, 0.85], rng.random(n), side="right")
    accepts_email = rng.random(n) < 0.7
    accepts_sms = rng.random(n) < np.where(accepts_email, 0.45, 0.12)
    engage = PARAMS["events_per_day_mean"] * rng.gamma(2.0, 0.5, n) * (lam / mean) ** 0.25
    created = np.maximum(acq - rng.exponential(2.0, n), 0.0)
    return {
        "acq": acq,
        "lam": lam,
        "p": p,
        "spend": spend,
        "pref_cat": pref_cat,
        "disc": disc,
        "chan": chan,
        "accepts_email": accepts_email,
        "accepts_sms": accepts_sms,
        "engage": engage,
        "created": created,
    }


def season_table(start_s: int, horizon: float) -> np.ndarray:
    """Seasonal multiplier per day since start: `season_boost` in November and December."""
    days = np.arange(int(np.ceil(horizon)) + 1)
    month = (
        ((start_s + days * DAY_S).astype("datetime64[s]").astype("datetime64[M]").astype(np.int64))
        % 12
    ) + 1
    return np.where(month >= 11, PARAMS["season_boost_nov_dec"], 1.0)


def simulate_purchases(
    rng: np.random.Generator, cu: dict, horizon: float, season: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repeat purchases in rounds over the active customers (thinned Poisson + Beta dropout).

    Returns (customer index, time) of every purchase, first ones included, and the time of
    death (inf for customers still alive at the end)."""
    n = cu["acq"].size
    boost = season.max()
    t = cu["acq"].copy()
    dead_at = np.full(n, np.inf)
    got_c, got_t = [np.arange(n)], [t.copy()]
    active = np.arange(n)
    while active.size:
        t_new = t[active] + rng.exponential(1.0, active.size) / (cu["lam"][active] * boost)
        inside = t_new < horizon
        active, t_new = active[inside], t_new[inside]
        t[active] = t_new
        bought = rng.random(active.size) * boost < season[t_new.astype(np.int64)]
        died = bought & (rng.random(active.size) < cu["p"][active])
        got_c.append(active[bought])
        got_t.append(t_new[bought])
        dead_at[active[died]] = t_new[died]
        active = active[~died]
    return np.concatenate(got_c), np.concatenate(got_t), dead_at


def plant_causes(
    rng: np.random.Generator,
    cu: dict,
    o_cust: np.ndarray,
    o_t: np.ndarray,
    dead_at: np.ndarray,
    horizon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ~13.5% of repeat customers (alive at the end, ≥ 2 orders before their cause date,
    acquired ≥ 150 days before it) and give each a cause (index into CAUSES) and a date."""
    n = cu["acq"].size
    lo, hi = PARAMS["cause_days_before_end"]
    cause_all = horizon - rng.uniform(lo, hi, n)
    n_orders = np.bincount(o_cust, minlength=n)
    before = np.bincount(o_cust[o_t < cause_all[o_cust]], minlength=n)
    cand = np.flatnonzero(np.isinf(dead_at) & (before >= 2) & (cu["acq"] <= cause_all - 150))
    target = int(np.round(PARAMS["planted_share_of_repeat_customers"] * (n_orders >= 2).sum()))
    chosen = rng.permutation(cand)[:target]
    planted = np.full(n, -1, dtype=np.int64)
    planted[chosen] = np.arange(chosen.size) % len(CAUSES)
    return planted, np.where(planted >= 0, cause_all, np.nan)


def order_lines(
    rng: np.random.Generator,
    cu: dict,
    planted: np.ndarray,
    o_cust: np.ndarray,
    o_t: np.ndarray,
    parr: dict,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Lines of every order: product (preferred category, spend level, companions), quantity,
    discount and amount; plus each order's channel."""
    n_o = o_cust.size
    n_lines = 1 + np.searchsorted(
        np.cumsum(PARAMS["lines_per_order_probs"]), rng.random(n_o), side="right"
    )
    n_lines = n_lines.clip(1, 4)
    channel = np.where(rng.random(n_o) < 0.8, cu["chan"][o_cust], rng.integers(0, 3, n_o))
    price_sens = planted[o_cust] == 0
    flag = rng.random(n_o) < np.where(price_sens, 0.95, cu["disc"][o_cust])
    rate = np.where(
        price_sens, rng.choice([0.2, 0.25, 0.3], n_o), rng.choice([0.1, 0.15, 0.2, 0.25], n_o)
    )
    rate = rate * flag
    l_order = np.repeat(np.arange(n_o), n_lines)
    first = np.cumsum(n_lines) - n_lines
    l_no = np.arange(l_order.size) - first[l_order]
    l_cust = o_cust[l_order]
    any_cat = np.searchsorted(
        np.cumsum(parr["cat_weight"]), rng.random(l_order.size), side="right"
    ).clip(0, 7)
    cat = np.where(
        rng.random(l_order.size) < PARAMS["preferred_category_prob"],
        cu["pref_cat"][l_cust],
        any_cat,
    )
    medians = np.array([v[0] for v in sig.CATEGORIES.values()])
    prod = sig.sample_products(rng, cat, medians[cat] * cu["spend"][l_cust], parr)
    use_comp = (l_no > 0) & (rng.random(l_order.size) < PARAMS["companion_prob"])
    prod = np.where(use_comp, parr["companion"][prod[first[l_order]]], prod)
    keep = ~pd.Series(l_order * 1000 + prod).duplicated().to_numpy()  # one line per product
    l_order, l_no, prod, l_cust = l_order[keep], l_no[keep], prod[keep], l_cust[keep]
    qty = 1 + np.minimum(rng.poisson(0.25 * cu["spend"][l_cust]), 5)
    gross = parr["price"][prod] * qty
    discount = np.round(gross * rate[l_order], 2)
    lines = {
        "order": l_order,
        "no": l_no,
        "product": prod,
        "qty": qty,
        "discount": discount,
        "amount": np.round(gross - discount, 2),
    }
    return lines, channel


def returned_lines(
    rng: np.random.Generator,
    planted: np.ndarray,
    cause: np.ndarray,
    o_cust: np.ndarray,
    o_t: np.ndarray,
    lines: dict,
    horizon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which lines come back and when: ~3% of all lines 3–25 days later, plus the first line
    (and half the time the second) of each quality_returns customer's last 2–3 orders."""
    n_o = o_cust.size
    by_cust = np.lexsort((o_t, o_cust))
    counts = np.bincount(o_cust, minlength=planted.size)
    ends = np.cumsum(counts)
    rank_from_end = np.empty(n_o, dtype=np.int64)
    rank_from_end[by_cust] = ends[o_cust[by_cust]] - 1 - np.arange(n_o)
    last_k = rng.integers(2, 4, planted.size)
    q_order = (planted[o_cust] == 2) & (rank_from_end < last_k[o_cust])
    gap = np.nan_to_num(cause[o_cust], nan=horizon) - o_t
    delay = np.where(
        q_order, np.minimum(rng.uniform(2, 12, n_o), 0.9 * gap), rng.uniform(3, 25, n_o)
    )
    lo, no = lines["order"], lines["no"]
    chosen = rng.random(lo.size) < PARAMS["return_rate_per_line"]
    chosen |= q_order[lo] & ((no == 0) | ((no == 1) & (rng.random(lo.size) < 0.5)))
    ret_line = np.flatnonzero(chosen)
    ret_t = o_t[lo[ret_line]] + delay[lo[ret_line]]
    c = o_cust[lo[ret_line]]
    ok = (ret_t < horizon) & ~((planted[c] >= 0) & (ret_t >= np.nan_to_num(cause[c], nan=np.inf)))
    return ret_line[ok], ret_t[ok]


def support_tickets(
    rng: np.random.Generator,
    planted: np.ndarray,
    cause: np.ndarray,
    dead_at: np.ndarray,
    o_cust: np.ndarray,
    o_t: np.ndarray,
    lines: dict,
    ret_line: np.ndarray,
    ret_t: np.ndarray,
    horizon: float,
) -> dict[str, np.ndarray]:
    """Support tickets: noise for everyone (~4% per order, resolved mostly), the unresolved
    high-severity ticket of service_problems customers and quality complaints."""
    n = planted.size
    first_line = np.searchsorted(lines["order"], np.arange(o_cust.size))
    by_cust = np.lexsort((o_t, o_cust))
    counts = np.bincount(o_cust, minlength=n)
    starts = np.cumsum(counts) - counts
    k = rng.poisson(0.04 * counts * np.where(np.isfinite(dead_at), 1.5, 1.0))
    c = np.repeat(np.arange(n), k)
    order = by_cust[starts[c] + (rng.random(c.size) * counts[c]).astype(np.int64)]
    sev = np.searchsorted([0.65, 0.93], rng.random(c.size), side="right")
    opened = o_t[order] + rng.uniform(1, 20, c.size)
    resolved = opened + rng.exponential(np.array([1.5, 3.0, 6.0])[sev])
    resolved[rng.random(c.size) < np.array([0.04, 0.08, 0.15])[sev]] = np.nan
    parts = [
        (c, opened, resolved, sev, sig.ticket_sentiment(rng, sev), np.zeros(c.size, bool), order)
    ]
    svc = np.flatnonzero(planted == 1)  # unresolved, high, negative, just before they stop
    last_order = by_cust[starts[svc] + counts[svc] - 1]
    parts.append(
        (
            svc,
            cause[svc] - rng.uniform(1, 14, svc.size),
            np.full(svc.size, np.nan),
            np.full(svc.size, 2),
            np.round(rng.uniform(-0.95, -0.6, svc.size), 2),
            np.zeros(svc.size, bool),
            last_order,
        )
    )
    rc = o_cust[lines["order"][ret_line]]
    q = np.flatnonzero(planted[rc] == 2)
    q = q[np.lexsort((ret_t[q], rc[q]))]
    q = q[np.r_[rc[q][1:] != rc[q][:-1], True]] if q.size else q  # each one's last return
    q = q[rng.random(q.size) < 0.6]
    qc = rc[q]
    q_open = np.minimum(ret_t[q] + rng.uniform(0, 2, q.size), cause[qc] - 0.01)
    parts.append(
        (
            qc,
            q_open,
            q_open + rng.exponential(3.0, q.size),
            np.full(q.size, 1),
            np.round(rng.uniform(-0.8, -0.3, q.size), 2),
            np.ones(q.size, bool),
            lines["order"][ret_line[q]],
        )
    )
    cust, opened, resolved, sev, sent, quality, ref = (np.concatenate(x) for x in zip(*parts))
    product = lines["product"][first_line[ref]]
    product[quality] = lines["product"][ret_line[q]]
    ok = opened < horizon
    resolved = np.where(resolved < horizon, resolved, np.nan)
    idx = np.flatnonzero(ok)[np.lexsort((cust[ok], opened[ok]))]
    return {
        "cust": cust[idx],
        "opened": opened[idx],
        "resolved": resolved[idx],
        "severity": sev[idx],
        "sentiment": sent[idx],
        "quality": quality[idx],
        "order": ref[idx],
        "product": product[idx],
    }


def engagement_events(
    rng: np.random.Generator,
    cu: dict,
    planted: np.ndarray,
    cause: np.ndarray,
    dead_at: np.ndarray,
    horizon: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Engagement events: a Poisson stream per customer at their engagement rate while alive,
    12% of it after a natural death (30% after a planted cause), and for fading_engagement
    customers a linear fade to zero over the 90–180 days before cause_date, nothing after."""
    n = planted.size
    ids = np.arange(n)
    rate = cu["engage"] * np.where(planted == 3, 1.5, 1.0)
    stop = np.minimum(np.nan_to_num(cause, nan=np.inf), np.minimum(dead_at, horizon))
    fading = planted == 3
    fade_start = np.maximum(stop - rng.uniform(90, 180, n), cu["created"])
    alive_end = np.where(fading, fade_start, stop)
    segs = [sig.poisson_segments(rng, ids, cu["created"], alive_end, rate)]
    after = np.where(planted >= 0, 0.3, 0.12) * np.where(fading, 0.0, 1.0)
    segs.append(sig.poisson_segments(rng, ids, stop, np.full(n, horizon), rate * after))
    f = np.flatnonzero(fading)
    segs.append(sig.poisson_segments(rng, f, fade_start[f], stop[f], rate[f], ramp_down=True))
    c = np.concatenate([s[0] for s in segs])
    t = np.concatenate([s[1] for s in segs])
    order = np.lexsort((c, t))
    c, t = c[order], t[order]
    return c, t, sig.event_types(rng, cu["accepts_email"][c])
