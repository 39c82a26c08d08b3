"""The Customers & segments tab: the filters and their choices in words, the scored customers
they match (top-N by value at stake), the segment table, one customer's card and order history."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from agent.display import channel_label, date_words, money, product_label, reason_label, tier_label
from agent.outreach.consent import KINDS, state_column
from tools.insights.kpis import value_at_stake
from ui.views.common import ALL, money_head, pct_col
from ui.views.words import codes_in_words

TABLE_COLUMNS = [
    "customer_id",
    "first_name",
    "segment",
    "clv_tier",
    "predicted_clv",
    "clv_low",
    "clv_high",
    "churn_probability",
    "churn_reason",
    "orders_to_date",
    "revenue_to_date",
    "accepts_email",
    "next_best_product",
]


CONSENT_FILTERS = [ALL, "email", "sms", "none", "unknown"]
"""email / sms: the customer's data says yes; none: yes on neither; unknown: a channel the data
does not say (agent.outreach.consent: unknown is not a refusal)."""


ALL_WORDS = "All"


CONSENT_WORDS = {
    ALL: ALL_WORDS,
    "email": "email: yes",
    "sms": "SMS: yes",
    "none": "neither email nor SMS",
    "unknown": "consent not known",
}


LABELLERS: dict[str, Callable[[str], str]] = {
    "segment": str,
    "clv_tier": tier_label,
    "churn_reason": reason_label,
    "consent": lambda c: CONSENT_WORDS.get(c, c),
}


def filter_choices(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Dropdown choices for the customer table filters."""
    pick = lambda col: (
        [ALL] + sorted(scores[col].dropna().astype(str).unique().tolist())
        if col in scores
        else [ALL]
    )
    return {
        "segment": pick("segment"),
        "clv_tier": pick("clv_tier"),
        "churn_reason": pick("churn_reason"),
        "consent": list(CONSENT_FILTERS),
    }


def labelled(kind: str, codes: list[str]) -> list[tuple[str, str]]:
    """A filter's choices as (words, code): the dropdown shows the words the tables and the
    text use (agent.display), and gives back the code."""
    words = LABELLERS.get(kind, str)
    return [(ALL_WORDS if c == ALL else words(c), c) for c in codes]


def scores_table(
    scores: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    first_names=None,
    segment: str = ALL,
    clv_tier: str = ALL,
    churn_reason: str = ALL,
    consent: str = ALL,
    top_n: int = 50,
    product_names: dict | None = None,
) -> pd.DataFrame:
    """Top-N scored customers (highest value at stake first) after the filters. The only
    personal field shown is the first name (when `first_names` maps id -> name)."""
    return top_rows(
        filter_scores(
            scores,
            customers,
            first_names=first_names,
            segment=segment,
            clv_tier=clv_tier,
            churn_reason=churn_reason,
            consent=consent,
        ),
        top_n,
        product_names=product_names,
    )


def match_count(matched: int, total: int, shown: int, currency: str | None = None) -> str:
    """The line over the customers table: how many customers the filters match, and the
    currency its amounts are in."""
    word = "customer matches" if matched == 1 else "customers match"
    line = f"**{matched:,} {word}** the filters (of {total:,} scored)"
    if 0 < shown < matched:
        line += f"; the {shown:,} with the most value at stake are shown"
    return line + "." + (f" Amounts in {currency}." if currency else "")


def filter_scores(
    scores: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    first_names=None,
    segment: str = ALL,
    clv_tier: str = ALL,
    churn_reason: str = ALL,
    consent: str = ALL,
) -> pd.DataFrame:
    """Every scored customer the filters match, with consent (yes / no / unknown) and first
    name joined on."""
    df = scores.copy()
    df["customer_id"] = df["customer_id"].astype(str)
    if customers is not None and len(customers):
        c = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates(
            "customer_id"
        )
        keep = [k for k in KINDS.values() if k in c]
        df = df.merge(c[["customer_id", *keep]], on="customer_id", how="left")
    for col in KINDS.values():
        st = state_column(df[col]) if col in df else [None] * len(df)
        df[col] = ["yes" if v is True else "no" if v is False else "unknown" for v in st]
    df["first_name"] = df["customer_id"].map(first_names or {}).fillna("")
    for col, val in (("segment", segment), ("clv_tier", clv_tier), ("churn_reason", churn_reason)):
        if val and val != ALL and col in df:
            df = df[df[col].astype(str) == val]
    email, sms = df["accepts_email"], df["accepts_sms"]
    if consent == "email":
        df = df[email == "yes"]
    elif consent == "sms":
        df = df[sms == "yes"]
    elif consent == "none":
        df = df[(email != "yes") & (sms != "yes")]
    elif consent == "unknown":
        df = df[(email == "unknown") | (sms == "unknown")]
    return df


def top_rows(
    df: pd.DataFrame, top_n: int = 50, *, product_names: dict | None = None
) -> pd.DataFrame:
    """The table shown: the top-N of `filter_scores` by value at stake, rounded; the next best
    product by name (`product_names`: id -> name), the id only where there is no name."""
    df = df.assign(value_at_stake=value_at_stake(df))
    df = df.sort_values("value_at_stake", ascending=False).head(int(top_n))
    cols = [c for c in TABLE_COLUMNS if c in df] + ["value_at_stake"]
    out = df[cols].copy()
    if "next_best_product" in out and product_names:
        out["next_best_product"] = [
            product_label(p, product_names) for p in out["next_best_product"]
        ]
    for c in ("predicted_clv", "clv_low", "clv_high", "revenue_to_date", "value_at_stake"):
        if c in out:
            out[c] = out[c].astype(float).round(2)
    out["churn_probability"] = out["churn_probability"].astype(float).round(3)
    return out.reset_index(drop=True)


def segment_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Segment sizes and value: customers, share, predicted value, average churn."""
    g = (
        scores.groupby("segment")
        .agg(
            customers=("customer_id", "size"),
            predicted_value=("predicted_clv", "sum"),
            avg_clv=("predicted_clv", "mean"),
            avg_churn=("churn_probability", "mean"),
        )
        .reset_index()
    )
    g["share"] = (g["customers"] / g["customers"].sum()).round(3)
    g["predicted_value"] = g["predicted_value"].round(2)
    g["avg_clv"] = g["avg_clv"].round(2)
    g["avg_churn"] = g["avg_churn"].round(3)
    return g.sort_values("predicted_value", ascending=False)[
        ["segment", "customers", "share", "predicted_value", "avg_clv", "avg_churn"]
    ].reset_index(drop=True)


def customer_markdown(info: dict | str, nbp: dict | str | None = None) -> str:
    """One customer: scores with interval, churn drivers, consent, next best product."""
    if isinstance(info, str):
        return info
    s, h = info["scores"], info["history"]
    lo, hi = s["clv_interval_90"]
    cur = info.get("currency")
    lines = [
        f"### Customer {info['customer_id']}",
        f"- Segment **{s['segment']}**, **{tier_label(s['clv_tier'])}**"
        + (" — **at risk**" if s.get("at_risk") else ""),
        f"- Predicted value **{money(s['predicted_clv'], cur)}** (90% interval {lo:,.2f}–{hi:,.2f})",
        f"- Churn risk **{s['churn_probability'] * 100:.1f}%** (the chance of no purchase in the "
        f"horizon); {s['expected_orders']:.1f} orders expected",
        f"- {h['purchase_occasions']} purchase occasions, {money(h['revenue_to_date'], cur)} spent; "
        f"last purchase on {date_words(h['last_purchase'])} ({h['days_since_last_purchase']} days ago); "
        f"next one expected around {date_words(h['expected_next_purchase'])}"
        + (f" ({h['days_overdue']} days overdue)" if h.get("days_overdue") else ""),
    ]
    consent = info.get("consent") or {}
    if consent:
        word = lambda v: "yes" if v is True else "no" if v is False else "unknown"  # noqa: E731
        kind = lambda k: "SMS" if k == "accepts_sms" else k.replace("accepts_", "")  # noqa: E731
        lines.append(
            "- Consent: "
            + ", ".join(f"{kind(k)} {word(v)}" for k, v in consent.items())
            + (f" ({info['consent_note']})" if info.get("consent_note") else "")
        )
    lines.append("\n**Churn drivers**")
    drivers = info.get("drivers") or []
    lines += [f"- {codes_in_words(d['words'])}" for d in drivers] or ["- no clear driver"]
    if isinstance(nbp, dict) and nbp.get("next_best_product_id"):
        name = (nbp.get("store_text") or {}).get("product_name") or nbp["next_best_product_id"]
        price = (
            f" (price {money(nbp['price'], nbp.get('currency') or cur)})"
            if nbp.get("price") is not None
            else ""
        )
        lines += ["\n**Next best product**", f"- {name}{price}: {nbp['why']}"]
    return "\n".join(lines)


def orders_table(orders: pd.DataFrame) -> pd.DataFrame:
    """A customer's order lines, newest first (product name where known)."""
    cols = [
        c
        for c in (
            "order_date",
            "order_id",
            "product_id",
            "product_name",
            "quantity",
            "amount",
            "discount",
            "channel",
        )
        if c in orders
    ]
    out = orders[cols].sort_values("order_date", ascending=False) if len(orders) else orders[cols]
    if "order_date" in out:
        out = out.assign(order_date=pd.to_datetime(out["order_date"]).dt.strftime("%Y-%m-%d"))
    return out.reset_index(drop=True)


CUSTOMER_HEADINGS = [
    "Customer",
    "First name",
    "Value at stake",
    "Churn risk",
    "Segment",
    "Main churn reason",
    "Value tier",
    "Predicted value",
    "Orders",
    "Next best product",
]


SEGMENT_HEADINGS = [
    "Segment",
    "Customers",
    "Share",
    "Predicted value",
    "Average value",
    "Average churn risk",
]


ORDER_HEADINGS = ["Date", "Order", "Product", "Quantity", "Amount", "Discount", "Channel"]


def customers_view(table: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """`top_rows` as shown: the key columns first (who, value at stake, risk), words for the
    codes, percentages for the probabilities, the currency in the money headings."""
    cols = [
        ("customer_id", "Customer"),
        ("first_name", "First name"),
        ("value_at_stake", money_head("Value at stake", currency)),
        ("churn_probability", "Churn risk"),
        ("segment", "Segment"),
        ("churn_reason", "Main churn reason"),
        ("clv_tier", "Value tier"),
        ("predicted_clv", money_head("Predicted value", currency)),
        ("clv_low", money_head("Low estimate", currency)),
        ("clv_high", money_head("High estimate", currency)),
        ("orders_to_date", "Orders"),
        ("revenue_to_date", money_head("Spent to date", currency)),
        ("accepts_email", "Email consent"),
        ("next_best_product", "Next best product"),
    ]
    out = pd.DataFrame(
        {label_: table[c] for c, label_ in cols if c in table},
        columns=[label_ for c, label_ in cols if c in table or not len(table)],
    )
    if len(table):
        if "Churn risk" in out:
            out["Churn risk"] = pct_col(table["churn_probability"])
        if "Main churn reason" in out:
            out["Main churn reason"] = table["churn_reason"].map(reason_label)
        if "Value tier" in out:
            out["Value tier"] = table["clv_tier"].map(tier_label)
    return out.reset_index(drop=True)


def segments_view(table: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """`segment_table` as shown."""
    out = pd.DataFrame(
        {
            "Segment": table["segment"],
            "Customers": table["customers"],
            "Share": pct_col(table["share"], 1),
            money_head("Predicted value", currency): table["predicted_value"],
            money_head("Average value", currency): table["avg_clv"],
            "Average churn risk": pct_col(table["avg_churn"]),
        }
    )
    return out.reset_index(drop=True)


def orders_view(orders: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """`orders_table` as shown."""
    t = orders_table(orders)
    names = {
        "order_date": "Date",
        "order_id": "Order",
        "product_name": "Product",
        "quantity": "Quantity",
        "amount": money_head("Amount", currency),
        "discount": "Discount",
        "channel": "Channel",
    }
    if "product_name" not in t and "product_id" in t:
        t = t.rename(columns={"product_id": "product_name"})
    t = t.drop(columns=[c for c in t.columns if c not in names])
    if "order_date" in t:
        t["order_date"] = t["order_date"].map(date_words)
    if "channel" in t:
        t["channel"] = t["channel"].map(channel_label)
    return t.rename(columns=names)
