"""The customer tools: who is at risk, customers ranked and filtered, one customer explained,
and the product to cross-sell to them.

Each row names a customer by id with their scores (CLV with its 90% interval, churn
probability, value at stake, reason, segment, tier) and consent per channel from the store's
files; no personal data. Registered in `agent.toolbox.tools.TOOLS`.
"""

from __future__ import annotations

import logging
from typing import Literal

import pandas as pd
from pydantic import Field

from agent.assistant.prompts import STORE_TEXT_NOTE, driver_words
from agent.toolbox.tools import (
    AT_RISK,
    Args,
    CustomerArgs,
    base_result,
    confirmed_consent,
    rounded,
    tool,
)
from tools.insights.kpis import at_risk_mask, value_at_stake
from tools.schema import REASON_LABEL, ChurnReason, ClvTier, Segment

log = logging.getLogger(__name__)


class AtRiskArgs(Args):
    segment: Segment | None = Field(None, description="Only this RFM segment.")
    clv_tier: ClvTier | None = Field(None, description="Only this CLV tier (high = top 20%).")
    reason: ChurnReason | None = Field(
        None, description="Only customers whose main churn reason is this."
    )
    limit: int = Field(10, ge=1, le=50, description="How many customers to list.")


@tool(AtRiskArgs)
def at_risk_customers(session, a: AtRiskArgs) -> dict:
    """Customers most worth saving: at risk (churn probability > 0.5), optionally filtered by
    segment, CLV tier or churn reason, ranked by churn_probability x predicted_clv (the value
    at stake). Each row: customer id, predicted CLV with its 90% interval, churn probability,
    main churn reason, segment, tier and consent per channel (yes, no or unknown)."""
    s = session.scores
    m = at_risk_mask(s)
    for col, val in (("segment", a.segment), ("clv_tier", a.clv_tier), ("churn_reason", a.reason)):
        if val is not None:
            m &= s[col] == val
    sub = s.loc[m]
    stake = value_at_stake(sub)
    top = sub.assign(value_at_stake=stake).nlargest(a.limit, "value_at_stake")
    return {
        **base_result(session),
        "filters": a.model_dump(exclude={"limit"}, exclude_none=True),
        "matching_customers": int(m.sum()),
        "matching_value_at_stake": rounded(stake.sum()),
        "customers": _customer_rows(session, top),
        "units": "value_at_stake = churn_probability x predicted_clv, in currency",
    }


def _customer_rows(session, top: pd.DataFrame) -> list[dict]:
    """Compact rows for listed customers (scores with value_at_stake), with consent per channel."""
    consent = _consent_table(session, top["customer_id"].astype(str))
    return [
        {
            "customer_id": r.customer_id,
            "value_at_stake": rounded(r.value_at_stake),
            "predicted_clv": rounded(r.predicted_clv),
            "clv_interval_90": [rounded(r.clv_low), rounded(r.clv_high)],
            "churn_probability": rounded(r.churn_probability, 3),
            "at_risk": bool(r.churn_probability > AT_RISK),
            "churn_reason": r.churn_reason,
            "reason_words": REASON_LABEL.get(r.churn_reason, r.churn_reason),
            "segment": r.segment,
            "clv_tier": r.clv_tier,
            "revenue_to_date": rounded(r.revenue_to_date),
            "consent": consent.get(str(r.customer_id), {"email": "unknown", "sms": "unknown"}),
        }
        for r in top.itertuples()
    ]


def _consent_table(session, ids: pd.Series) -> dict[str, dict[str, str]]:
    """{customer id: {"email": "yes"|"no"|"unknown", "sms": ...}} from the store's files."""
    from agent.outreach.consent import KINDS, state

    words = {True: "yes", False: "no", None: "unknown"}
    c = session.customers
    out = {cid: {k: "unknown" for k in KINDS} for cid in ids}
    if c is None or not len(c):
        return out
    hit = c.loc[c["customer_id"].astype(str).isin(set(ids))]
    for row in hit.to_dict("records"):
        cid = str(row["customer_id"])
        out[cid] = {k: words[state(row[col]) if col in row else None] for k, col in KINDS.items()}
    return out


class ListArgs(Args):
    sort_by: Literal["predicted_clv", "value_at_stake", "churn_probability", "revenue_to_date"] = (
        Field(
            "predicted_clv",
            description="Rank by predicted CLV (value), value at stake, churn probability "
            "or revenue to date.",
        )
    )
    at_risk_only: bool = Field(
        False, description="Only customers at risk (churn probability > 0.5)."
    )
    segment: Segment | None = Field(None, description="Only this RFM segment.")
    clv_tier: ClvTier | None = Field(None, description="Only this CLV tier (high = top 20%).")
    reason: ChurnReason | None = Field(
        None, description="Only customers whose main churn reason is this."
    )
    consent_channel: Literal["email", "sms", "any"] | None = Field(
        None, description="Filter on consent for this channel ('any': either channel)."
    )
    consent_state: Literal["yes", "no", "unknown", "not_given"] = Field(
        "yes",
        description="With consent_channel: consent given, refused, unknown, or not given (no or unknown).",
    )
    limit: int = Field(10, ge=1, le=50, description="How many customers to list.")


@tool(ListArgs)
def list_customers(session, a: ListArgs) -> dict:
    """Customers ranked by value (predicted CLV), value at stake, churn probability or revenue,
    optionally only those at risk, or of one segment, CLV tier, churn reason or consent state:
    "my best customer" is the first row by predicted CLV. Each row: id, predicted CLV with its
    90% interval, churn probability, value at stake, reason, segment, tier and consent."""
    s = session.scores
    m = at_risk_mask(s) if a.at_risk_only else pd.Series(True, index=s.index)
    for col, val in (("segment", a.segment), ("clv_tier", a.clv_tier), ("churn_reason", a.reason)):
        if val is not None:
            m &= s[col] == val
    if a.consent_channel is not None:
        ids = s["customer_id"].astype(str)
        table = _consent_table(session, ids)
        kinds = ("email", "sms") if a.consent_channel == "any" else (a.consent_channel,)
        states = [[table[c][k] for k in kinds] for c in ids]
        if a.consent_state == "not_given":
            ok = [all(x != "yes" for x in st) for st in states]
        else:
            ok = [any(x == a.consent_state for x in st) for st in states]
        m &= pd.Series(ok, index=s.index)
    sub = s.loc[m].assign(value_at_stake=value_at_stake(s.loc[m]))
    top = sub.sort_values([a.sort_by, "customer_id"], ascending=[False, True]).head(a.limit)
    return {
        **base_result(session),
        "filters": a.model_dump(exclude={"limit", "sort_by"}, exclude_defaults=True),
        "sort_by": a.sort_by,
        "matching_customers": int(m.sum()),
        "matching_value_at_stake": rounded(sub["value_at_stake"].sum()),
        "matching_at_risk": int(at_risk_mask(sub).sum()),
        "customers": _customer_rows(session, top),
        "units": "predicted_clv and value_at_stake (churn_probability x predicted_clv) in currency",
    }


@tool(CustomerArgs)
def explain_customer(session, a: CustomerArgs) -> dict:
    """One customer: purchase history summary, scores (CLV with its 90% interval, churn
    probability, segment, tier), the churn drivers in plain words with the facts behind them,
    consent flags and the next best product. Ids and features only, no personal data."""
    row = session.customer_row(a.customer_id)
    cid = row["customer_id"]
    o = session.rows_of("orders", cid)
    buys = o.loc[o["amount"] >= 0]
    days_since = (
        int((session.as_of - buys["order_date"].max().normalize()).days) if len(buys) else None
    )
    nxt = pd.Timestamp(row["expected_next_order_date"])
    disc = float((buys["discount"] > 0).mean()) if "discount" in buys and len(buys) else 0.0
    t = session.rows_of("tickets", cid)
    e = session.rows_of("events", cid)
    recent = e.loc[e["timestamp"] >= session.as_of - pd.Timedelta(days=90)] if len(e) else e
    earlier = (
        e.loc[
            (e["timestamp"] < session.as_of - pd.Timedelta(days=90))
            & (e["timestamp"] >= session.as_of - pd.Timedelta(days=365))
        ]
        if len(e)
        else e
    )
    facts = {
        "purchase_occasions": int(row["orders_to_date"]),
        "revenue_to_date": rounded(row["revenue_to_date"]),
        "first_purchase": str(buys["order_date"].min().date()) if len(buys) else None,
        "last_purchase": str(buys["order_date"].max().date()) if len(buys) else None,
        "days_since_last_purchase": days_since,
        "avg_days_between_purchases": rounded(row["avg_days_between_orders"], 1),
        "expected_next_purchase": str(nxt.date()),
        "days_overdue": max(0, int((session.as_of - nxt).days)),
        "returned_lines": int((o["amount"] < 0).sum()),
        "share_of_lines_discounted": rounded(disc, 3),
        "support_tickets": int(len(t)),
        "lowest_ticket_sentiment": (
            rounded(t["sentiment"].min(), 2)
            if "sentiment" in t and t["sentiment"].notna().any()
            else None
        ),
        "engagement_events_last_90_days": int(len(recent)),
        "engagement_events_91_to_365_days_ago": int(len(earlier)),
    }
    drivers = [d for d in str(row["churn_drivers"]).split("; ") if d and d != "none"]
    consent, consent_note = _consent_of(session, cid)
    names = session.product_names()
    bought = buys["product_id"].astype(str).value_counts().head(3) if "product_id" in buys else {}
    text = {
        "top_products": [
            session.quote(session.product_label(p), 60) for p in getattr(bought, "index", [])
        ],
        "next_best_product_name": session.quote(names.get(str(row["next_best_product"]), ""), 60),
    }
    if len(t) and "text" in t:
        text["latest_ticket"] = session.quote(t["text"].iloc[-1])
    return {
        **base_result(session),
        "customer_id": cid,
        "scores": {
            "predicted_clv": rounded(row["predicted_clv"]),
            "clv_interval_90": [rounded(row["clv_low"]), rounded(row["clv_high"])],
            "churn_probability": rounded(row["churn_probability"], 3),
            "p_alive": rounded(row["p_alive"], 3),
            "expected_orders": rounded(row["expected_orders"], 2),
            "segment": row["segment"],
            "clv_tier": row["clv_tier"],
            "at_risk": bool(row["churn_probability"] > AT_RISK),
        },
        "history": facts,
        "churn_reason": row["churn_reason"],
        "drivers": [{"reason": d, "words": driver_words(d, facts)} for d in drivers],
        "consent": consent,
        "consent_note": consent_note,
        "next_best_product_id": str(row["next_best_product"]),
        "store_text": text,
        "store_text_note": STORE_TEXT_NOTE,
    }


def _consent_of(session, cid: str) -> tuple[dict, str]:
    """({accepts_email: True/False/None, accepts_sms: ...}, a note): None is unknown (the
    store's files do not say), which is not a refusal; the note says so and names a merchant's
    confirmation of the channel when there is one (agent.outreach.consent)."""
    from agent.outreach.consent import KINDS, state

    c = session.customers
    row = None
    if c is not None and len(c):
        hit = c.loc[c["customer_id"].astype(str) == cid]
        row = hit.iloc[0] if len(hit) else None
    consent = {
        col: (state(row[col]) if row is not None and col in row.index else None)
        for col in KINDS.values()
    }
    unknown = [k for k, col in KINDS.items() if consent[col] is None]
    if not unknown:
        return consent, ""
    try:
        conf = confirmed_consent(session)
    except Exception as exc:  # the approvals database is not essential to an explanation
        log.warning("consent confirmations unreadable: %s", exc)
        conf = {}
    parts = [
        f"{k}: unknown (the store's files do not say)"
        + (f"; {conf[k].words()}" if k in conf else "")
        for k in unknown
    ]
    return consent, "; ".join(parts)


@tool(CustomerArgs)
def next_best_product(session, a: CustomerArgs) -> dict:
    """The product to cross-sell to a customer: the scores' next best product (not yet bought,
    most often bought with what they have), why, and its price and category."""
    row = session.customer_row(a.customer_id)
    cid, pid = row["customer_id"], str(row["next_best_product"])
    if not pid:
        return {
            **base_result(session),
            "customer_id": cid,
            "next_best_product_id": None,
            "why": "nothing left to suggest",
        }
    o = session.orders
    mine = (
        set(session.rows_of("orders", cid)["product_id"].astype(str))
        if "product_id" in o
        else set()
    )
    with_it = (
        o.loc[o["product_id"].astype(str).to_numpy() == pid, "order_id"] if "order_id" in o else []
    )
    co = (
        o.loc[o["order_id"].isin(set(with_it)), "product_id"].dropna().astype(str)
        if len(with_it)
        else pd.Series([], dtype=str)
    )  # lines without a product id name no product
    co = co[co.isin(mine) & (co != pid)].value_counts()
    why = (
        f"bought together with a product they own in {int(co.iloc[0])} order(s)"
        if len(co)
        else "a best seller they have not bought"
    )
    info: dict = {}
    p = session.products
    if p is not None and "product_id" in p:
        hit = p.loc[p["product_id"].astype(str) == pid]
        if len(hit):
            info = {
                k: (rounded(hit.iloc[0][k]) if k == "price" else None)
                for k in ("price",)
                if k in hit
            }
            if "category" in hit:
                info["category"] = session.quote(hit.iloc[0]["category"], 40)
    return {
        **base_result(session),
        "customer_id": cid,
        "next_best_product_id": pid,
        "price": info.get("price"),
        "why": why,
        "orders_containing_it": int(pd.Series(with_it).nunique()),
        "store_text": {
            "product_name": session.quote(session.product_label(pid), 60),
            "category": info.get("category"),
            "bought_with": session.quote(session.product_label(co.index[0]), 60)
            if len(co)
            else None,
        },
        "store_text_note": STORE_TEXT_NOTE,
    }
