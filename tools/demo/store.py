"""A realistic synthetic store with known truth: `generate_store` and `simulate_campaign_response`.

The purchase process is a heterogeneous buy-till-you-die process, so that BG/NBD (Fader, Hardie
& Lee 2005, "Counting your customers the easy way") is a fair but not a perfect model:

- acquisition: customers arrive over `years` before `end_date` with density ∝ exp(g·t)
  (a growing shop); each one's first purchase is their acquisition;
- repeat purchases: a Poisson process with rate λ ~ Gamma(r, scale) per day (mean gap ~80 days),
  modulated by seasonality (November–December × `season_boost`) by thinning (Lewis & Shedler 1979):
  candidate times are drawn at λ·boost and kept with probability s(t)/boost;
- dropout: after each repeat purchase the customer dies with probability p ~ Beta(a, b);
- spend: a per-customer spend level ν ~ Gamma (Gamma-Gamma-like heterogeneity) steers which
  products they choose (the price closest to their level among popular candidates) and how many;
- lines: 1–4 per order (mean ~1.55); a preferred category per customer and a *companion*
  product per product give a next-best-product model something to find; ~25% of orders
  carry a discount (per-customer propensity ~ Beta(2, 6)); ~3% of lines are returned later as
  a negative line with its own order id (`R…` with the number of the original `O…` order).

On top, about 13.5% of customers with two or more orders get a *planted churn cause*: at a
`cause_date` 3–9 months before `end_date` they stop buying, and the data show why beforehand
(see `CAUSES`). Ordinary customers carry the same kinds of signal as noise (resolved tickets,
occasional unresolved ones, returns, discounts, quiet spells), so no signal is perfect.
The truth is in `ground_truth.csv` and `manifest.json`. The simulation runs in vectorised
rounds over the still-active customers: no Python loop per customer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tools.demo import signals as sig

GENERATOR_VERSION = "demo-1.0"
CAUSES = ("price_sensitivity", "service_problems", "quality_returns", "fading_engagement")
CAUSE_SIGNALS = {
    "price_sensitivity": "~95% of their orders discounted (20-30%); no purchase once discounts stop",
    "service_problems": "one high-severity, negative, unresolved ticket 1-14 days before cause_date",
    "quality_returns": "returns on their last 2-3 orders; 60% also a quality-complaint ticket",
    "fading_engagement": "email opens/clicks/site visits fall linearly to zero over 90-180 days",
}


class DemoParams(TypedDict):
    """The shape of PARAMS (a plain dict at run time)."""

    acquisition_growth_per_year: float
    purchase_rate_gamma_shape_r: float
    purchase_rate_mean_per_day: float
    dropout_beta_a: float
    dropout_beta_b: float
    spend_level_gamma_shape: float
    season_boost_nov_dec: float
    discount_propensity_beta: list[float]
    return_rate_per_line: float
    lines_per_order_probs: list[float]
    companion_prob: float
    preferred_category_prob: float
    events_per_day_mean: float
    planted_share_of_repeat_customers: float
    cause_days_before_end: list[int]


# The true population parameters (time unit: days). Written to manifest.json.
PARAMS: DemoParams = {
    "acquisition_growth_per_year": 0.7,
    "purchase_rate_gamma_shape_r": 1.5,
    "purchase_rate_mean_per_day": 1 / 80,
    "dropout_beta_a": 1.2,
    "dropout_beta_b": 4.8,
    "spend_level_gamma_shape": 3.0,
    "season_boost_nov_dec": 1.6,
    "discount_propensity_beta": [2.0, 6.0],
    "return_rate_per_line": 0.03,
    "lines_per_order_probs": [0.62, 0.25, 0.09, 0.04],
    "companion_prob": 0.55,
    "preferred_category_prob": 0.65,
    "events_per_day_mean": 1 / 45,
    "planted_share_of_repeat_customers": 0.135,
    "cause_days_before_end": [90, 270],
}
CHANNELS = np.array(["web", "app", "pos"])
DAY_S = 86_400


def generate_store(
    out: str | Path,
    *,
    customers: int = 5000,
    seed: int = 7,
    fmt: str = "csv",
    end_date: str = "2026-10-31",
    years: float = 2.0,
) -> dict[str, int]:
    """Write a synthetic store into `out` and return its row counts: customers, orders
    (distinct sale orders), order_lines (rows of the orders file, returns included),
    return_lines, products, events, tickets.

    Same arguments, same bytes. Files: orders (one row per order line, returns negative),
    customers, products, events, tickets, ground_truth.csv and manifest.json. With
    `fmt="parquet"` orders and events are written as Parquet, the rest as CSV. Nothing is
    dated after `end_date`.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    if not years > 0:
        raise ValueError(f"years must be positive, got {years}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    end_s = int((pd.Timestamp(end_date).normalize() + pd.Timedelta(days=1)).timestamp())
    horizon = float(years) * 365.25
    start_s = end_s - round(horizon * DAY_S)
    horizon = (end_s - start_s) / DAY_S

    products, parr = sig.make_products(rng)
    cu = _draw_customers(rng, customers, horizon, parr)
    season = _season_table(start_s, horizon)
    o_cust, o_t, dead_at = _simulate_purchases(rng, cu, horizon, season)
    planted, cause = _plant_causes(rng, cu, o_cust, o_t, dead_at, horizon)
    cu["accepts_email"] |= planted == 3  # fading engagement shows in email opens and clicks
    keep = ~((planted[o_cust] >= 0) & (o_t >= np.nan_to_num(cause, nan=np.inf)[o_cust]))
    o_cust, o_t = o_cust[keep], o_t[keep]
    chrono = np.lexsort((o_cust, o_t))
    o_cust, o_t = o_cust[chrono], o_t[chrono]  # order i is order number i + 1

    lines, o_channel = _order_lines(rng, cu, planted, o_cust, o_t, parr)
    ret_line, ret_t = _returns(rng, planted, cause, o_cust, o_t, lines, horizon)
    tk = _tickets(rng, planted, cause, dead_at, o_cust, o_t, lines, ret_line, ret_t, horizon)
    ev = _events(rng, cu, planted, cause, dead_at, horizon)

    width_o = max(7, len(str(o_cust.size)))
    cust_ids = _ids("C", np.arange(1, customers + 1), max(6, len(str(customers))))
    counts = _write_orders(
        out,
        fmt,
        start_s,
        cust_ids,
        products,
        o_cust,
        o_t,
        o_channel,
        lines,
        ret_line,
        ret_t,
        width_o,
    )
    _write_csv(out / "customers.csv", _customers_table(rng, cu, cust_ids, start_s))
    _write_csv(out / "products.csv", pa.Table.from_pandas(products, preserve_index=False))
    ev_table = pa.table(
        {
            "customer_id": cust_ids.take(pa.array(ev[0])),
            "timestamp": _ts(start_s, ev[1]),
            "type": pa.array(sig.EVENT_TYPES).take(pa.array(ev[2])),
        }
    )
    if fmt == "parquet":
        pq.write_table(ev_table, out / "events.parquet")
    else:
        _write_csv(out / "events.csv", ev_table)
    order_ref = _ids("O", tk["order"] + 1, width_o).to_numpy(zero_copy_only=False).astype(object)
    product_ref = products["name"].to_numpy(dtype=object)[tk["product"]]
    text = sig.ticket_text(rng, tk["severity"], tk["quality"], order_ref, product_ref)
    _write_csv(
        out / "tickets.csv",
        pa.table(
            {
                "customer_id": cust_ids.take(pa.array(tk["cust"])),
                "opened_at": _ts(start_s, tk["opened"]),
                "resolved_at": _ts(start_s, tk["resolved"]),
                "severity": pa.array(sig.SEVERITIES[tk["severity"]]),
                "sentiment": pa.array(tk["sentiment"]),
                "text": pa.array(text, pa.string()),
            }
        ),
    )
    names = np.array(["", *CAUSES], dtype=object)[planted + 1]
    died_at = np.where(planted >= 0, cause, np.where(np.isfinite(dead_at), dead_at, np.nan))
    _write_csv(
        out / "ground_truth.csv",
        pa.table(
            {
                "customer_id": cust_ids,
                "planted_cause": pa.array(names, pa.string()),
                "cause_date": _ts(start_s, cause),
                "acquired_at": _ts(start_s, cu["acq"]),
                "purchase_rate_per_day": pa.array(np.round(cu["lam"], 6)),
                "dropout_probability": pa.array(np.round(cu["p"], 4)),
                "spend_level": pa.array(np.round(cu["spend"], 4)),
                "discount_propensity": pa.array(
                    np.round(np.where(planted == 0, 0.95, cu["disc"]), 4)
                ),
                "preferred_category": pa.array(np.array(list(sig.CATEGORIES))[cu["pref_cat"]]),
                "died": pa.array(np.isfinite(died_at)),
                "died_at": _ts(start_s, died_at),
            }
        ),
    )
    counts = {
        "customers": customers,
        **counts,
        "products": len(products),
        "events": ev_table.num_rows,
        "tickets": int(tk["cust"].size),
    }
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "end_date": str(end_date),
        "years": years,
        "start": str(np.datetime64(start_s, "s")).replace("T", " "),
        "customers": customers,
        "format": fmt,
        "time_unit": "days",
        "params": PARAMS,
        "bgnbd_equivalent": {
            "r": PARAMS["purchase_rate_gamma_shape_r"],
            "alpha_days": PARAMS["purchase_rate_gamma_shape_r"]
            / PARAMS["purchase_rate_mean_per_day"],
            "a": PARAMS["dropout_beta_a"],
            "b": PARAMS["dropout_beta_b"],
            "alpha_days_season_averaged": round(
                PARAMS["purchase_rate_gamma_shape_r"]
                / (PARAMS["purchase_rate_mean_per_day"] * float(season.mean())),
                2,
            ),
        },
        "companion_of": dict(
            zip(products["product_id"], products["product_id"].to_numpy()[parr["companion"]])
        ),
        "planted_causes": {c: int((planted == i).sum()) for i, c in enumerate(CAUSES)},
        "cause_signals": CAUSE_SIGNALS,
        "row_counts": counts,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


# --- the process ---------------------------------------------------------------------------


def _draw_customers(
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


def _season_table(start_s: int, horizon: float) -> np.ndarray:
    """Seasonal multiplier per day since start: `season_boost` in November and December."""
    days = np.arange(int(np.ceil(horizon)) + 1)
    month = (
        ((start_s + days * DAY_S).astype("datetime64[s]").astype("datetime64[M]").astype(np.int64))
        % 12
    ) + 1
    return np.where(month >= 11, PARAMS["season_boost_nov_dec"], 1.0)


def _simulate_purchases(
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


def _plant_causes(
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


def _order_lines(
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


def _returns(
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


def _tickets(
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


def _events(
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


# --- writing -----------------------------------------------------------------------------------


def _ids(prefix: str | pa.Array, nums: np.ndarray, width: int) -> pa.Array:
    """'C' + zero-padded number, vectorised in Arrow: _ids('C', [123], 6) -> ['C000123']."""
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(nums, dtype=np.int64)), pa.string()), width=width, padding="0"
    )
    return pc.binary_join_element_wise(prefix, digits, "")


def _ts(start_s: int, t: np.ndarray) -> pa.Array:
    """Days since start -> timestamp[s] (NaN -> null); written as 'YYYY-MM-DD HH:MM:SS'."""
    t = np.asarray(t, dtype=np.float64)
    blank = ~np.isfinite(t)
    secs = start_s + np.floor(np.where(blank, 0.0, t) * DAY_S).astype(np.int64)
    return pa.array(secs.astype("datetime64[s]"), mask=blank)


def _write_csv(path: Path, table: pa.Table) -> None:
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))


def _money(x: np.ndarray, fmt: str) -> pa.Array:
    """Two decimals: decimal in CSV ('12.30'), float64 in Parquet."""
    a = pa.array(np.round(x, 2))
    return pc.cast(a, pa.decimal128(14, 2)) if fmt == "csv" else a


def _write_orders(
    out: Path,
    fmt: str,
    start_s: int,
    cust_ids: pa.Array,
    products: pd.DataFrame,
    o_cust: np.ndarray,
    o_t: np.ndarray,
    o_channel: np.ndarray,
    lines: dict,
    ret_line: np.ndarray,
    ret_t: np.ndarray,
    width: int,
) -> dict[str, int]:
    """Sale lines and return lines in date order; returns reuse the order number with 'R'."""
    lo = lines["order"]
    rl = lo[ret_line]
    is_ret = np.r_[np.zeros(lo.size, bool), np.ones(ret_line.size, bool)]
    num = np.r_[lo, rl] + 1
    no = np.r_[lines["no"], lines["no"][ret_line]]
    t = np.r_[o_t[lo], ret_t]
    sign = np.where(is_ret, -1, 1)
    prod = np.r_[lines["product"], lines["product"][ret_line]]
    qty = np.r_[lines["qty"], lines["qty"][ret_line]] * sign
    amount = np.r_[lines["amount"], lines["amount"][ret_line]] * sign
    discount = np.r_[lines["discount"], np.zeros(ret_line.size)]
    idx = np.lexsort((no, num, is_ret, t))
    cust = o_cust[num[idx] - 1]
    table = pa.table(
        {
            "customer_id": cust_ids.take(pa.array(cust)),
            "order_id": _ids(pc.if_else(pa.array(is_ret[idx]), "R", "O"), num[idx], width),
            "order_date": _ts(start_s, t[idx]),
            "amount": _money(amount[idx], fmt),
            "product_id": pa.array(products["product_id"].to_numpy(dtype=object)).take(
                pa.array(prod[idx])
            ),
            "product_name": pa.array(products["name"].to_numpy(dtype=object)).take(
                pa.array(prod[idx])
            ),
            "quantity": pa.array(qty[idx]),
            "discount": _money(discount[idx], fmt),
            "channel": pa.array(CHANNELS).take(pa.array(o_channel[num[idx] - 1])),
        }
    )
    if fmt == "parquet":
        pq.write_table(table, out / "orders.parquet")
    else:
        _write_csv(out / "orders.csv", table)
    return {
        "orders": int(o_cust.size),
        "order_lines": table.num_rows,
        "return_lines": int(ret_line.size),
    }


def _customers_table(
    rng: np.random.Generator, cu: dict, cust_ids: pa.Array, start_s: int
) -> pa.Table:
    n = len(cust_ids)
    first = pa.array(sig.FIRST_NAMES).take(pa.array(rng.integers(0, sig.FIRST_NAMES.size, n)))
    last = pa.array(sig.LAST_NAMES).take(pa.array(rng.integers(0, sig.LAST_NAMES.size, n)))
    number = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    email = pc.binary_join_element_wise(
        pc.utf8_lower(first), ".", pc.utf8_lower(last), number, "@example.com", ""
    )
    phone = _ids("+1555", rng.integers(0, 10_000_000, n), 7)
    return pa.table(
        {
            "customer_id": cust_ids,
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": phone,
            "accepts_email": pa.array(cu["accepts_email"]),
            "accepts_sms": pa.array(cu["accepts_sms"]),
            "created_at": _ts(start_s, cu["created"]),
            "tags": pa.array(sig.TAGS).take(pa.array(rng.choice(sig.TAGS.size, n, p=sig.TAG_P))),
            "note": pa.array(sig.NOTES).take(pa.array(rng.choice(sig.NOTES.size, n, p=sig.NOTE_P))),
        }
    )


# --- measured campaigns ---------------------------------------------------------------


def simulate_campaign_response(
    store_dir: str | Path,
    treated_ids: Iterable[str],
    control_ids: Iterable[str],
    *,
    start_date: str,
    weeks: int = 8,
    true_uplift: float = 0.10,
    seed: int = 0,
    append: bool = False,
) -> pd.DataFrame:
    """Orders placed in [start_date, start_date + weeks) by a campaign's treated and control
    customers, with a known true effect.

    Each customer buys at least once in the window with probability
        base = alive · (1 − exp(−λ · days))        (λ and death from ground_truth.csv;
                                                     dead means died on or before start_date)
        treated: min(1, base + true_uplift),  control: base,
    so the expected difference in repurchase rate, treated − control, is `true_uplift`
    (slightly less when some treated bases are near 1). A buyer places one order of one or
    two lines from their preferred category, at a uniform time in the window, on the web.
    The result has the orders.csv columns plus `group` (treated/control); with `append=True`
    the rows (without `group`) are also appended to the store's orders file.
    """
    store = Path(store_dir)
    truth = pd.read_csv(
        store / "ground_truth.csv", keep_default_na=False, dtype={"customer_id": str}
    )
    products = pd.read_csv(store / "products.csv")
    start = pd.Timestamp(start_date)
    days = 7.0 * weeks
    treated = pd.Index(pd.unique(pd.Series(list(treated_ids), dtype=str)))
    control = pd.Index(pd.unique(pd.Series(list(control_ids), dtype=str))).difference(
        treated, sort=False
    )
    ids = treated.append(control)
    t = truth.set_index("customer_id").reindex(ids)
    if t["purchase_rate_per_day"].isna().any():
        missing = ids[t["purchase_rate_per_day"].isna().to_numpy()][:3].tolist()
        raise ValueError(f"customer ids not in the store's ground truth, e.g. {missing}")
    died_at = pd.to_datetime(t["died_at"].replace("", None))
    alive = ~(died_at.notna() & (died_at <= start)).to_numpy()
    base = alive * -np.expm1(-t["purchase_rate_per_day"].to_numpy(float) * days)
    is_treated = np.r_[np.ones(treated.size, bool), np.zeros(control.size, bool)]
    prob = np.where(is_treated, np.minimum(base + true_uplift, 1.0), base)
    rng = np.random.default_rng(seed)
    buys = rng.random(ids.size) < prob
    buyer = np.flatnonzero(buys)
    when = np.sort(rng.random(buyer.size)) * days
    buyer = buyer[rng.permutation(buyer.size)]
    n_lines = 1 + (rng.random(buyer.size) < 0.35)
    b = np.repeat(buyer, n_lines)
    by_cat = np.argsort(products["category"].to_numpy(dtype=str), kind="stable")
    cat_names, cat_start, cat_count = np.unique(
        products["category"].to_numpy(dtype=str)[by_cat], return_index=True, return_counts=True
    )
    pref = t["preferred_category"].to_numpy(dtype=str)[b]
    c = np.searchsorted(cat_names, pref).clip(0, cat_names.size - 1)
    c = np.where(cat_names[c] == pref, c, 0)
    slot = rng.integers(0, 1 << 30, b.size)
    first_line = np.r_[True, b[1:] != b[:-1]] if b.size else np.zeros(0, bool)
    slot[~first_line] = slot[np.flatnonzero(~first_line) - 1] + 1  # a second, different product
    pick = by_cat[cat_start[c] + slot % cat_count[c]]
    o_num = _max_order_number(store) + np.repeat(np.arange(1, buyer.size + 1), n_lines)
    when_l = np.repeat(when, n_lines)
    frame = pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[b],
            "order_id": [f"O{k:07d}" for k in o_num],
            "order_date": (start + pd.to_timedelta(np.floor(when_l * DAY_S), unit="s")).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "amount": products["price"].to_numpy()[pick].round(2),
            "product_id": products["product_id"].to_numpy()[pick],
            "product_name": products["name"].to_numpy()[pick],
            "quantity": 1,
            "discount": 0.0,
            "channel": "web",
            "group": np.where(is_treated[b], "treated", "control"),
        }
    )
    if append:
        _append_orders(store, frame.drop(columns="group"))
    return frame


def _max_order_number(store: Path) -> int:
    if (store / "orders.parquet").exists():
        col = pd.read_parquet(store / "orders.parquet", columns=["order_id"])["order_id"]
    else:
        col = pd.read_csv(store / "orders.csv", usecols=["order_id"], dtype=str)["order_id"]
    nums = pd.to_numeric(col.str[1:], errors="coerce")
    return int(nums.max()) if nums.notna().any() else 0


def _append_orders(store: Path, frame: pd.DataFrame) -> None:
    if (store / "orders.parquet").exists():
        old = pd.read_parquet(store / "orders.parquet")
        new = frame.assign(
            order_date=pd.to_datetime(frame["order_date"]).astype(old["order_date"].dtype)
        )
        pd.concat([old, new], ignore_index=True).to_parquet(store / "orders.parquet", index=False)
    else:
        frame.to_csv(store / "orders.csv", mode="a", header=False, index=False, float_format="%.2f")
