"""A realistic synthetic store with known truth: `generate_store` writes one.

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
The truth is in `ground_truth.csv` and `manifest.json` (the parameters in `params`). The
simulation (`process`) runs in vectorised rounds over the still-active customers: no Python
loop per customer. Campaign responses are simulated in `campaigns`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tools.demo import signals as sig
from tools.demo.params import CAUSE_SIGNALS, CAUSES, CHANNELS, DAY_S, GENERATOR_VERSION, PARAMS
from tools.demo.process import (
    draw_customers,
    engagement_events,
    order_lines,
    plant_causes,
    returned_lines,
    season_table,
    simulate_purchases,
    support_tickets,
)


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
    cu = draw_customers(rng, customers, horizon, parr)
    season = season_table(start_s, horizon)
    o_cust, o_t, dead_at = simulate_purchases(rng, cu, horizon, season)
    planted, cause = plant_causes(rng, cu, o_cust, o_t, dead_at, horizon)
    cu["accepts_email"] |= planted == 3  # fading engagement shows in email opens and clicks
    keep = ~((planted[o_cust] >= 0) & (o_t >= np.nan_to_num(cause, nan=np.inf)[o_cust]))
    o_cust, o_t = o_cust[keep], o_t[keep]
    chrono = np.lexsort((o_cust, o_t))
    o_cust, o_t = o_cust[chrono], o_t[chrono]  # order i is order number i + 1

    lines, o_channel = order_lines(rng, cu, planted, o_cust, o_t, parr)
    ret_line, ret_t = returned_lines(rng, planted, cause, o_cust, o_t, lines, horizon)
    tk = support_tickets(rng, planted, cause, dead_at, o_cust, o_t, lines, ret_line, ret_t, horizon)
    ev = engagement_events(rng, cu, planted, cause, dead_at, horizon)

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
