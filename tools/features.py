"""Per-customer behavioural features at a cutoff date, for the churn and value models.

Every feature uses only data on or before `as_of`, so the same function builds training
features at an inner cutoff and scoring features at the real one (no leakage). Each
feature belongs to one reason group (`FEATURE_REASON`), which is how the churn model's
per-feature contributions become reasons a merchant acts on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = np.timedelta64(1, "D")

# feature -> churn reason it speaks to (None: context, not a reason)
FEATURE_REASON: dict[str, str | None] = {
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
REASONS = ("price_sensitivity", "service_problems", "quality_returns", "fading_engagement",
           "cycle_overdue", "one_time_buyer")
REASON_LABEL = {
    "price_sensitivity": "price sensitivity",
    "service_problems": "service problems",
    "quality_returns": "product quality / returns",
    "fading_engagement": "fading engagement",
    "cycle_overdue": "purchase cycle overdue",
    "one_time_buyer": "one-time buyer",
}
NO_HISTORY_DAYS = 9999.0
# a ticket about the product rather than the service (topic by keywords, case-insensitive)
QUALITY_WORDS = (r"quality|faulty|defect|broke|broken|fell apart|damaged|not as described|"
                 r"stopped working|poorly made|cheap|ripped|leak|smell|expired|wrong size|return")  # 'never' for days-since features (trees split on it cleanly)


def _days(values) -> np.ndarray:
    return values.astype("datetime64[D]").astype(np.int64)


def occasions(orders: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Day-level purchase occasions up to `as_of` (inclusive): one customer, one day, one
    occasion (the BG/NBD convention). Only lines with amount >= 0 make occasions; value is
    the day's sum of those lines; `discounted` says any line carried a discount."""
    cutoff = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    o = orders.loc[(orders["order_date"] < cutoff) & (orders["amount"] >= 0)]
    disc = o["discount"].to_numpy() > 0 if "discount" in o else np.zeros(len(o), bool)
    df = pd.DataFrame({"customer_id": o["customer_id"].to_numpy(),
                       "day": _days(o["order_date"].to_numpy()),
                       "value": o["amount"].to_numpy(), "discounted": disc})
    return df.groupby(["customer_id", "day"], sort=True, observed=True).agg(
        value=("value", "sum"), discounted=("discounted", "max")).reset_index()


def build_features(
    orders: pd.DataFrame,
    *,
    as_of,
    events: pd.DataFrame | None = None,
    tickets: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features for every customer with a purchase on or before `as_of`, indexed by id.

    No NaN in the result: 'never happened' is `NO_HISTORY_DAYS` for day counts and 0 for
    counts and shares. Customer ids are replaced by integer codes for the aggregation
    (grouping on strings sorts them again and again: 10x slower on a million customers).
    """
    as_of = pd.Timestamp(as_of).normalize()
    o = orders.loc[orders["order_date"] < as_of + pd.Timedelta(days=1)]
    key, uniq = pd.factorize(o["customer_id"])
    o = o.assign(customer_id=key)
    f = _build(o, as_of=as_of, events=_recode(events, uniq), tickets=_recode(tickets, uniq),
               products=products)
    f.index = pd.Index(np.asarray(uniq)[f.index.to_numpy()], name="customer_id")
    return f


def _recode(df: pd.DataFrame | None, uniq) -> pd.DataFrame | None:
    """The same integer codes for another table's customer ids (unknown ids dropped)."""
    if df is None or df.empty:
        return df
    code = pd.Index(uniq).get_indexer(df["customer_id"])
    return df.assign(customer_id=code).loc[code >= 0]


def _build(orders, *, as_of, events, tickets, products) -> pd.DataFrame:
    as_of = pd.Timestamp(as_of).normalize()
    t0 = _days(np.array([as_of.to_datetime64()]))[0]
    occ = occasions(orders, as_of=as_of)
    g = occ.groupby("customer_id", sort=True)
    first, last, n = g["day"].min(), g["day"].max(), g["day"].size()
    f = pd.DataFrame(index=first.index)
    f.index.name = "customer_id"
    f["n_occasions"] = n.astype(float)
    f["one_time"] = (n == 1).astype(float)
    f["recency_days"] = (t0 - last).astype(float)
    f["tenure_days"] = (t0 - first).astype(float)
    span = (last - first).astype(float)
    f["avg_gap_days"] = np.where(n > 1, span / (n - 1).clip(lower=1), np.nan)
    gaps = occ["day"].diff().where(occ["customer_id"].eq(occ["customer_id"].shift()))
    gstats = gaps.groupby(occ["customer_id"]).agg(["std", "last"])
    f["gap_cv"] = (gstats["std"] / f["avg_gap_days"]).fillna(0.0)
    f["last_gap_days"] = gstats["last"].fillna(NO_HISTORY_DAYS)
    pop_gap = float(np.nanmedian(f["avg_gap_days"])) if f["avg_gap_days"].notna().any() else 90.0
    f["avg_gap_days"] = f["avg_gap_days"].fillna(pop_gap)
    f["overdue_ratio"] = f["recency_days"] / f["avg_gap_days"].clip(lower=1.0)
    f["avg_order_value"] = g["value"].mean()
    recent = occ["day"] > t0 - 90
    prior = (occ["day"] > t0 - 180) & ~recent
    f["occasions_90d"] = recent.groupby(occ["customer_id"]).sum().astype(float)
    f["occasion_trend"] = f["occasions_90d"] - prior.groupby(occ["customer_id"]).sum()
    rev_recent = occ["value"].where(occ["day"] > t0 - 180, 0).groupby(occ["customer_id"]).sum()
    rev_prior = occ["value"].where((occ["day"] > t0 - 360) & (occ["day"] <= t0 - 180), 0)
    f["revenue_trend"] = rev_recent - rev_prior.groupby(occ["customer_id"]).sum()
    f["discount_share"] = g["discounted"].mean()
    last_disc = occ.groupby("customer_id")["discounted"].last()
    f["last_order_discounted"] = last_disc.astype(float)

    o = orders
    net = o.groupby("customer_id")["amount"].sum()
    f["revenue_to_date"] = net.reindex(f.index).fillna(0.0)
    if "discount" in o:
        gross = o["amount"].clip(lower=0) + o["discount"].fillna(0)
        f["discount_rate"] = (o["discount"].fillna(0).groupby(o["customer_id"]).sum()
                              / gross.groupby(o["customer_id"]).sum().clip(lower=1e-9)).reindex(f.index).fillna(0.0)
    else:
        f["discount_rate"] = 0.0
    ret = o["amount"] < 0
    f["return_lines"] = ret.groupby(o["customer_id"]).sum().reindex(f.index).fillna(0).astype(float)
    returned = (-o["amount"].where(ret, 0)).groupby(o["customer_id"]).sum()
    bought = o["amount"].clip(lower=0).groupby(o["customer_id"]).sum()
    f["return_share"] = (returned / bought.clip(lower=1e-9)).reindex(f.index).fillna(0.0).clip(upper=5)
    ret90 = ret & (o["order_date"] > as_of - pd.Timedelta(days=90))
    f["returns_90d"] = ret90.groupby(o["customer_id"]).sum().reindex(f.index).fillna(0).astype(float)

    _ticket_features(f, tickets, as_of)
    _event_features(f, events, as_of)
    _category_features(f, o, products)
    return f.fillna(0.0)


def _ticket_features(f: pd.DataFrame, tickets: pd.DataFrame | None, as_of: pd.Timestamp) -> None:
    cols = ("tickets", "quality_tickets", "unresolved_tickets", "unresolved_severe",
            "min_sentiment", "days_since_ticket")
    if tickets is None or tickets.empty:
        for c in cols:
            f[c] = NO_HISTORY_DAYS if c == "days_since_ticket" else 0.0
        return
    t = tickets.loc[tickets["opened_at"] <= as_of + pd.Timedelta(days=1)]
    resolved = t["resolved_at"].notna() & (t["resolved_at"] <= as_of + pd.Timedelta(days=1))
    severe = t["severity"].astype(str).str.lower().isin(["high", "urgent", "critical", "severe"])
    quality = t["text"].astype(str).str.contains(QUALITY_WORDS, case=False, regex=True)
    f["quality_tickets"] = quality.groupby(t["customer_id"]).sum().reindex(f.index).fillna(0).astype(float)
    t, resolved, severe = t.loc[~quality], resolved[~quality], severe[~quality]
    by = t["customer_id"]
    f["tickets"] = by.value_counts().reindex(f.index).fillna(0).astype(float)
    f["unresolved_tickets"] = (~resolved).groupby(by).sum().reindex(f.index).fillna(0).astype(float)
    f["unresolved_severe"] = (~resolved & severe).groupby(by).sum().reindex(f.index).fillna(0).astype(float)
    f["min_sentiment"] = t["sentiment"].astype(float).groupby(by).min().reindex(f.index).fillna(0.0)
    last = t.groupby("customer_id")["opened_at"].max()
    f["days_since_ticket"] = ((as_of - last).dt.days).reindex(f.index).fillna(NO_HISTORY_DAYS).astype(float)


def _event_features(f: pd.DataFrame, events: pd.DataFrame | None, as_of: pd.Timestamp) -> None:
    if events is None or events.empty:
        for c in ("events_30d", "events_90d", "engagement_trend", "clicks_90d", "engagement_fade"):
            f[c] = 0.0
        f["days_since_event"] = NO_HISTORY_DAYS
        return
    e = events.loc[events["timestamp"] <= as_of + pd.Timedelta(days=1)]
    age = (as_of - e["timestamp"]).dt.days.to_numpy()
    by = e["customer_id"].to_numpy()

    def count(mask) -> pd.Series:
        return pd.Series(mask, index=by).groupby(level=0).sum().reindex(f.index).fillna(0).astype(float)

    f["events_30d"] = count(age <= 30)
    f["events_90d"] = count(age <= 90)
    f["engagement_trend"] = f["events_90d"] - count((age > 90) & (age <= 180))
    f["clicks_90d"] = count((age <= 90) & (e["type"].to_numpy() == "email_click"))
    # fading engagement: engagement fell off while the customer was still buying. Events per
    # 90 days in the quarter before the last order minus those of the two quarters before.
    last_order = (as_of - pd.Timedelta(days=1) * f["recency_days"]).reindex(by).to_numpy()
    before = (last_order - e["timestamp"].to_numpy()) / np.timedelta64(1, "D")
    near = count((before >= -30) & (before <= 90))
    far = count((before > 90) & (before <= 270)) / 2.0
    f["engagement_fade"] = (far - near).clip(lower=0)
    last = pd.Series(age, index=by).groupby(level=0).min()
    f["days_since_event"] = last.reindex(f.index).fillna(NO_HISTORY_DAYS).astype(float)


def _category_features(f: pd.DataFrame, o: pd.DataFrame, products: pd.DataFrame | None) -> None:
    if products is None or "product_id" not in o or "category" not in products:
        f["categories"] = 0.0
        f["top_category_share"] = 0.0
        return
    buys = o.loc[o["amount"] > 0, ["customer_id", "product_id"]]
    cats = products.drop_duplicates("product_id").set_index("product_id")["category"]
    cat = pd.Categorical(buys["product_id"].map(cats))
    pairs = pd.DataFrame({"c": buys["customer_id"].to_numpy(), "k": cat.codes})
    pairs = pairs[pairs["k"] >= 0]
    per = pairs.groupby(["c", "k"], sort=False).size()
    by_c = per.groupby(level=0)
    f["categories"] = by_c.size().reindex(f.index).fillna(0).astype(float)
    share = by_c.max() / by_c.sum().clip(lower=1)
    f["top_category_share"] = share.reindex(f.index).fillna(0.0)


def labels(orders: pd.DataFrame, *, start, horizon_days: int, customers: pd.Index) -> pd.DataFrame:
    """What happened in (start, start + horizon]: purchase occasions, net revenue, none at all."""
    start = pd.Timestamp(start).normalize() + pd.Timedelta(days=1)
    end = start + pd.Timedelta(days=horizon_days)
    o = orders.loc[(orders["order_date"] >= start) & (orders["order_date"] < end)]
    o = o.loc[o["customer_id"].isin(customers)]
    occ = o.loc[o["amount"] >= 0].assign(day=o["order_date"].dt.normalize())
    n = occ.drop_duplicates(["customer_id", "day"]).groupby("customer_id").size()
    rev = o.groupby("customer_id")["amount"].sum()
    out = pd.DataFrame(index=customers)
    out["orders"] = n.reindex(customers).fillna(0).astype(float)
    out["revenue"] = rev.reindex(customers).fillna(0.0)
    out["no_purchase"] = (out["orders"] == 0).astype(int)
    return out
