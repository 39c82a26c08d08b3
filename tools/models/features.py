"""Per-customer behavioural features at a cutoff date, for the churn and value models.

Every feature uses only data on or before `as_of`, so the same function builds training
features at an inner cutoff and scoring features at the real one (no leakage). Each
feature belongs to one reason group (`FEATURE_REASON`), which is how the churn model's
per-feature contributions become reasons a merchant acts on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tools.ingest.keys import day_keys, factorize_sorted
from tools.schema import ChurnReason, purchase_mask

DAY = np.timedelta64(1, "D")

# feature -> churn reason it speaks to (None: context, not a reason)
FEATURE_REASON: dict[str, ChurnReason | None] = {
    "recency_days": "cycle_overdue",
    "overdue_ratio": "cycle_overdue",
    "avg_gap_days": "cycle_overdue",
    "gap_cv": "cycle_overdue",
    "last_gap_days": "cycle_overdue",
    "n_occasions": "one_time_buyer",
    "one_time": "one_time_buyer",
    "tenure_days": None,
    "revenue_to_date": None,
    "avg_order_value": None,
    "occasions_90d": "cycle_overdue",
    "occasion_trend": "cycle_overdue",
    "revenue_trend": "cycle_overdue",
    "discount_share": "price_sensitivity",
    "discount_rate": "price_sensitivity",
    "last_order_discounted": "price_sensitivity",
    "return_lines": "quality_returns",
    "return_share": "quality_returns",
    "returns_90d": "quality_returns",
    "tickets": "service_problems",
    "quality_tickets": "quality_returns",
    "unresolved_tickets": "service_problems",
    "unresolved_severe": "service_problems",
    "min_sentiment": "service_problems",
    "days_since_ticket": "service_problems",
    "events_30d": "fading_engagement",
    "events_90d": "fading_engagement",
    "engagement_trend": "fading_engagement",
    "days_since_event": "fading_engagement",
    "engagement_fade": "fading_engagement",
    "clicks_90d": "fading_engagement",
    "categories": None,
    "top_category_share": None,
}
NO_HISTORY_DAYS = 9999.0
# a ticket about the product rather than the service (topic by keywords, case-insensitive)
QUALITY_WORDS = (
    r"quality|faulty|defect|broke|broken|fell apart|damaged|not as described|"
    r"stopped working|poorly made|cheap|ripped|leak|smell|expired|wrong size|return"
)  # 'never' for days-since features (trees split on it cleanly)


def _days(values) -> np.ndarray:
    return values.astype("datetime64[D]").astype(np.int64)


def occasions(orders: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Day-level purchase occasions up to `as_of` (inclusive): one customer, one day, one
    occasion (the BG/NBD convention). Only lines with amount >= 0 make occasions; value is
    the day's sum of those lines; `discounted` says any line carried a discount. Sorted by
    customer, then day."""
    cutoff = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    keep = (orders["order_date"] < cutoff).to_numpy() & purchase_mask(orders)
    ids = orders["customer_id"].to_numpy()[keep]
    if is_code(ids):  # already integer codes (build_features, tools.scoring.score)
        code, uniq = ids.astype(np.int64), None
    else:
        code, uniq = factorize_sorted(ids)
    day = _days(orders["order_date"].to_numpy()[keep])
    value = orders["amount"].to_numpy(float)[keep]
    disc = (
        (orders["discount"].to_numpy(float)[keep] > 0)
        if "discount" in orders
        else np.zeros(len(day), bool)
    )
    key, _, _ = day_keys(code, day)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.array([], int)
    cust = code[order][starts]
    return pd.DataFrame(
        {
            "customer_id": cust if uniq is None else np.asarray(uniq)[cust],
            "day": day[order][starts],
            "value": np.add.reduceat(value[order], starts) if len(starts) else np.array([], float),
            "discounted": (
                np.maximum.reduceat(disc[order], starts) if len(starts) else np.array([], bool)
            ).astype(bool),
        }
    )


def build_features(
    orders: pd.DataFrame,
    *,
    as_of,
    events: pd.DataFrame | None = None,
    tickets: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features for every customer with an order line on or before `as_of`, indexed by id.

    A customer whose lines by then are all refunds (returns of purchases made before the
    data begins) has a row too: n_occasions 0, first and last purchase on the day of the
    first line (as in `tools.models.rfm.rfm_summary`), no order value, and their returns.
    No NaN in the result: 'never happened' is `NO_HISTORY_DAYS` for day counts and 0 for
    counts and shares. Customer ids are replaced by integer codes for the aggregation
    (grouping on strings sorts them again and again: 10x slower on a million customers).
    Ids that are already small non-negative integers (the codes `tools.scoring.score` scores with)
    are used as codes as they are.
    """
    as_of = pd.Timestamp(as_of).normalize()
    # `returned_in_full` is deliberately not read: a day whose order was later returned in full
    # is still the customer's activity here (a recent order sent back says something), while the
    # RFM of the purchase models leaves it out. Reading it (one purchase test for both) lowered
    # the demo backtest's churn AUC below vanilla lifetimes' (0.759 against 0.761), so the
    # features keep it; tools/scoring/engine/sql.py reproduces this.
    cols = [
        c for c in ("customer_id", "order_date", "amount", "discount", "product_id") if c in orders
    ]
    keep = (orders["order_date"] < as_of + pd.Timedelta(days=1)).to_numpy()
    o = orders if keep.all() else orders.loc[keep, cols]
    ids = o["customer_id"].to_numpy()
    if is_code(ids):  # used as they are
        key, uniq = ids.astype(np.int64, copy=False), None
        top = int(ids.max()) if len(ids) else -1
        events, tickets = _as_codes(events, top), _as_codes(tickets, top)
    else:
        key, uniq = pd.factorize(o["customer_id"])
        events, tickets = _recode(events, uniq), _recode(tickets, uniq)
    # only the columns used, with the codes for ids: a frame over the caller's columns, not a
    # copy of them (two copies of a million customers' lines were 0.4 GiB of the peak)
    coded = pd.DataFrame({**{c: o[c] for c in cols}, "customer_id": key}, copy=False)
    f = _build(coded, as_of=as_of, events=events, tickets=tickets, products=products)
    code = f.index.to_numpy()
    f.index = pd.Index(code if uniq is None else np.asarray(uniq)[code], name="customer_id")
    return f


def is_code(ids: np.ndarray) -> bool:
    """Integer ids small enough to index arrays by (at most 4 per row, plus slack)."""
    return np.issubdtype(ids.dtype, np.integer) and (
        len(ids) == 0 or (int(ids.min()) >= 0 and int(ids.max()) <= 4 * len(ids) + 1024)
    )


def _as_codes(df: pd.DataFrame | None, top: int) -> pd.DataFrame | None:
    """Another table of the same coded customers: rows outside 0..top left out."""
    if df is None or df.empty:
        return df
    ids = df["customer_id"].to_numpy()
    if not np.issubdtype(ids.dtype, np.integer):
        return df.iloc[:0].assign(customer_id=np.zeros(0, np.int64))  # ids of another kind
    ok = (ids >= 0) & (ids <= top)
    return df if ok.all() else df.loc[ok]


def _recode(df: pd.DataFrame | None, uniq) -> pd.DataFrame | None:
    """The same integer codes for another table's customer ids (unknown ids dropped)."""
    if df is None or df.empty:
        return df
    code = pd.Index(uniq).get_indexer(df["customer_id"])
    return df.assign(customer_id=code).loc[code >= 0]


def _sum(key: np.ndarray, values, n: int) -> np.ndarray:
    """Per-code sums (codes are dense integers 0..n-1): np.bincount, not a pandas groupby,
    which hashes the key again on every call (most of the feature time on a large store)."""
    return np.bincount(key, weights=np.asarray(values, dtype=float), minlength=n)


def _build(orders, *, as_of, events, tickets, products) -> pd.DataFrame:
    as_of = pd.Timestamp(as_of).normalize()
    t0 = _days(np.array([as_of.to_datetime64()]))[0]
    n_codes = int(orders["customer_id"].max()) + 1 if len(orders) else 0  # codes may be sparse
    occ = occasions(orders, as_of=as_of)  # sorted by customer code, then day
    c, day, value = (
        occ["customer_id"].to_numpy(),
        occ["day"].to_numpy(),
        occ["value"].to_numpy(float),
    )
    disc = occ["discounted"].to_numpy(float)
    counts = np.bincount(c, minlength=n_codes)
    line_code = orders["customer_id"].to_numpy()
    # every customer with a line by as_of, also one whose lines are all refunds (no occasion)
    present = np.flatnonzero(np.bincount(line_code, minlength=n_codes))
    n = counts[present].astype(float)
    has = n > 0
    pad = len(day)  # the index of a padding entry (0) in day_ / disc_, for no occasion
    day_, disc_ = np.append(day, 0), np.append(disc, 0.0)
    start = np.where(has, np.concatenate([[0], np.cumsum(counts)[:-1]])[present], pad)
    end = np.where(has, start + n.astype(np.int64) - 1, pad)
    prev = np.where(n > 1, end - 1, pad)
    first, last = day_[start], day_[end]
    if not has.all():  # without an occasion, first and last purchase are the first line's
        # day (the convention of tools.models.rfm.rfm_summary: the purchase model and features agree)
        none = ~has[np.searchsorted(present, line_code)]
        first_line = (
            pd.Series(_days(orders["order_date"].to_numpy()[none])).groupby(line_code[none]).min()
        )
        first = np.where(has, first, first_line.reindex(present).fillna(0).to_numpy(np.int64))
        last = np.where(has, last, first)
    f = pd.DataFrame(index=pd.Index(present, name="customer_id"))
    f["n_occasions"] = n
    f["one_time"] = (n == 1).astype(float)
    f["recency_days"] = (t0 - last).astype(float)
    f["tenure_days"] = (t0 - first).astype(float)
    span = (last - first).astype(float)
    with np.errstate(all="ignore"):
        avg_gap = np.where(n > 1, span / np.maximum(n - 1, 1), np.nan)
    f["avg_gap_days"] = avg_gap  # (filled below; the column order is the models' feature order)
    # gaps between consecutive occasions of a customer: their sample std (ddof 1) and the last
    same = np.r_[False, c[1:] == c[:-1]]
    gap = np.where(same, np.r_[0, np.diff(day)], 0).astype(float)
    n_gaps = n - 1
    gsum, gsq = _sum(c, gap, n_codes)[present], _sum(c, gap * gap, n_codes)[present]
    with np.errstate(all="ignore"):
        var = (gsq - gsum * gsum / n_gaps) / (n_gaps - 1)
        gstd = np.where(n_gaps > 1, np.sqrt(np.clip(var, 0, None)), np.nan)
        f["gap_cv"] = np.nan_to_num(gstd / avg_gap, nan=0.0, posinf=0.0, neginf=0.0)
    f["last_gap_days"] = np.where(n > 1, (day_[end] - day_[prev]).astype(float), NO_HISTORY_DAYS)
    pop_gap = float(np.nanmedian(avg_gap)) if np.isfinite(avg_gap).any() else 90.0
    f["avg_gap_days"] = np.where(np.isnan(avg_gap), pop_gap, avg_gap)
    f["overdue_ratio"] = f["recency_days"] / f["avg_gap_days"].clip(lower=1.0)
    per_occasion = np.maximum(n, 1)  # a customer without an occasion: 0, not 0 / 0
    f["avg_order_value"] = _sum(c, value, n_codes)[present] / per_occasion
    recent = day > t0 - 90
    prior = (day > t0 - 180) & ~recent
    f["occasions_90d"] = _sum(c, recent, n_codes)[present]
    f["occasion_trend"] = f["occasions_90d"] - _sum(c, prior, n_codes)[present]
    rev_recent = _sum(c, np.where(day > t0 - 180, value, 0.0), n_codes)[present]
    rev_prior = _sum(c, np.where((day > t0 - 360) & (day <= t0 - 180), value, 0.0), n_codes)[
        present
    ]
    f["revenue_trend"] = rev_recent - rev_prior
    f["discount_share"] = _sum(c, disc, n_codes)[present] / per_occasion
    f["last_order_discounted"] = disc_[end]  # 0 (the padding) without an occasion

    o = orders
    key = o["customer_id"].to_numpy()
    amount = o["amount"].to_numpy(float)
    f["revenue_to_date"] = _sum(key, amount, n_codes)[present]
    bought = np.clip(amount, 0, None)
    if "discount" in o:
        d = o["discount"].fillna(0).to_numpy(float)
        f["discount_rate"] = _sum(key, d, n_codes)[present] / np.clip(
            _sum(key, bought + d, n_codes)[present], 1e-9, None
        )
    else:
        f["discount_rate"] = 0.0
    ret = amount < 0
    f["return_lines"] = _sum(key, ret, n_codes)[present]
    returned = _sum(key, np.where(ret, -amount, 0.0), n_codes)[present]
    f["return_share"] = np.clip(
        returned / np.clip(_sum(key, bought, n_codes)[present], 1e-9, None), None, 5
    )
    ret90 = ret & (o["order_date"] > as_of - pd.Timedelta(days=90)).to_numpy()
    f["returns_90d"] = _sum(key, ret90, n_codes)[present]

    _ticket_features(f, tickets, as_of)
    _event_features(f, events, as_of)
    _category_features(f, o, products)
    return f.fillna(0.0)


def _ticket_features(f: pd.DataFrame, tickets: pd.DataFrame | None, as_of: pd.Timestamp) -> None:
    cols = (
        "tickets",
        "quality_tickets",
        "unresolved_tickets",
        "unresolved_severe",
        "min_sentiment",
        "days_since_ticket",
    )
    if tickets is None or tickets.empty:
        for c in cols:
            f[c] = NO_HISTORY_DAYS if c == "days_since_ticket" else 0.0
        return
    t = tickets.loc[tickets["opened_at"] <= as_of + pd.Timedelta(days=1)]
    resolved = t["resolved_at"].notna() & (t["resolved_at"] <= as_of + pd.Timedelta(days=1))
    severe = t["severity"].astype(str).str.lower().isin(["high", "urgent", "critical", "severe"])
    text = pa.array(t["text"].astype(str).to_numpy(dtype=object), type=pa.string())
    quality = pd.Series(
        pc.match_substring_regex(text, QUALITY_WORDS, ignore_case=True).to_numpy(
            zero_copy_only=False
        ),
        index=t.index,
    )
    f["quality_tickets"] = (
        quality.groupby(t["customer_id"]).sum().reindex(f.index).fillna(0).astype(float)
    )
    t, resolved, severe = t.loc[~quality], resolved[~quality], severe[~quality]
    by = t["customer_id"]
    f["tickets"] = by.value_counts().reindex(f.index).fillna(0).astype(float)
    f["unresolved_tickets"] = (~resolved).groupby(by).sum().reindex(f.index).fillna(0).astype(float)
    f["unresolved_severe"] = (
        (~resolved & severe).groupby(by).sum().reindex(f.index).fillna(0).astype(float)
    )
    f["min_sentiment"] = t["sentiment"].astype(float).groupby(by).min().reindex(f.index).fillna(0.0)
    last = t.groupby("customer_id")["opened_at"].max()
    f["days_since_ticket"] = (
        ((as_of - last).dt.days).reindex(f.index).fillna(NO_HISTORY_DAYS).astype(float)
    )


def _event_features(f: pd.DataFrame, events: pd.DataFrame | None, as_of: pd.Timestamp) -> None:
    if events is None or events.empty:
        for c in ("events_30d", "events_90d", "engagement_trend", "clicks_90d", "engagement_fade"):
            f[c] = 0.0
        f["days_since_event"] = NO_HISTORY_DAYS
        return
    e = events.loc[events["timestamp"] <= as_of + pd.Timedelta(days=1)]
    age = (as_of - e["timestamp"]).dt.days.to_numpy()
    by = e["customer_id"].to_numpy()
    n_codes = max(int(f.index.max()) + 1 if len(f) else 0, int(by.max()) + 1 if len(by) else 0)

    def count(mask) -> np.ndarray:
        return _sum(by, mask, n_codes)[f.index.to_numpy()]

    f["events_30d"] = count(age <= 30)
    f["events_90d"] = count(age <= 90)
    f["engagement_trend"] = f["events_90d"] - count((age > 90) & (age <= 180))
    f["clicks_90d"] = count((age <= 90) & (e["type"].to_numpy() == "email_click"))
    # fading engagement: engagement fell off while the customer was still buying. Events per
    # 90 days in the quarter before the last order minus those of the two quarters before.
    last_order = np.full(n_codes, np.nan)
    last_order[f.index.to_numpy()] = f["recency_days"].to_numpy()
    exact_age = (as_of - e["timestamp"]).to_numpy() / DAY
    before = exact_age - last_order[by]  # days from the event to the customer's last order
    near = count((before >= -30) & (before <= 90))
    far = count((before > 90) & (before <= 270)) / 2.0
    f["engagement_fade"] = (far - near).clip(min=0)
    newest = np.full(n_codes, np.inf)
    np.minimum.at(newest, by, age.astype(float))
    newest = newest[f.index.to_numpy()]
    f["days_since_event"] = np.where(np.isfinite(newest), newest, NO_HISTORY_DAYS)


def _category_features(f: pd.DataFrame, o: pd.DataFrame, products: pd.DataFrame | None) -> None:
    if products is None or "product_id" not in o or "category" not in products:
        f["categories"] = 0.0
        f["top_category_share"] = 0.0
        return
    buy = (o["amount"] > 0).to_numpy()
    # products -> category codes once (a few hundred products), then each line's by code:
    # no per-line string look-up or multi-key groupby over millions of lines
    p_codes, p_ids = pd.factorize(o["product_id"].to_numpy()[buy])
    cats = products.drop_duplicates("product_id").set_index("product_id")["category"]
    k_codes, _ = pd.factorize(pd.Index(p_ids).map(cats).to_numpy())  # NaN (unknown) -> -1
    k = np.where(p_codes >= 0, k_codes[np.maximum(p_codes, 0)] if len(k_codes) else -1, -1)
    c = o["customer_id"].to_numpy()[buy][k >= 0].astype(np.int64)
    k = k[k >= 0].astype(np.int64)
    n_k = int(k.max()) + 1 if len(k) else 1
    pair, per = np.unique(c * n_k + k, return_counts=True)  # sorted by customer, then category
    pc_ = pair // n_k
    first = np.flatnonzero(np.r_[True, pc_[1:] != pc_[:-1]]) if len(pair) else np.zeros(0, np.int64)
    cust = pc_[first]
    n_codes = max(int(f.index.max()) + 1 if len(f) else 0, int(cust.max()) + 1 if len(cust) else 0)
    categories, share = np.zeros(n_codes), np.zeros(n_codes)
    if len(first):
        categories[cust] = np.diff(np.r_[first, len(pair)])
        share[cust] = np.maximum.reduceat(per, first) / np.maximum(np.add.reduceat(per, first), 1)
    f["categories"] = categories[f.index.to_numpy()]
    f["top_category_share"] = share[f.index.to_numpy()]


def labels(orders: pd.DataFrame, *, start, horizon_days: int, customers: pd.Index) -> pd.DataFrame:
    """What happened in (start, start + horizon]: purchase occasions, net revenue, none at all."""
    start = pd.Timestamp(start).normalize() + pd.Timedelta(days=1)
    end = start + pd.Timedelta(days=horizon_days)
    o = orders.loc[(orders["order_date"] >= start) & (orders["order_date"] < end)]
    o = o.loc[o["customer_id"].isin(customers)]
    occ = o.loc[purchase_mask(o)].assign(day=o["order_date"].dt.normalize())
    n = occ.drop_duplicates(["customer_id", "day"]).groupby("customer_id").size()
    rev = o.groupby("customer_id")["amount"].sum()
    out = pd.DataFrame(index=customers)
    out["orders"] = n.reindex(customers).fillna(0).astype(float)
    out["revenue"] = rev.reindex(customers).fillna(0.0)
    out["no_purchase"] = (out["orders"] == 0).astype(int)
    return out
