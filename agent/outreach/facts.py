"""The facts a draft may use, and the store text among them checked before it is used.

`customer_facts` reads, per customer, what the store's data says: the last order's date and
number, the year of the first order, the product bought most recently and most often, the
scores' next best product (by name) and the average order value. `StoreFacts` are the store's
name, sender and sign-off. `facts_for` gives one draft's facts: store text among them (product
names, the order number, the store's own words: STORE_TEXT_FACTS) goes through
`guardrails.check_store_text` once per distinct text (`Vetting`), and text that fails is left
out, with the flags saying why (`left_out_flags`); a last order long past is marked stale so
that it is never written as current.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from agent.outreach.guardrails import Flag, check_store_text
from agent.outreach.render import PERSONAL_PLACEHOLDER, clean_fact


@dataclass(frozen=True)
class StoreFacts:
    """Store-level facts a message may use (not personal data)."""

    store_name: str = "our store"
    sender_name: str = "the team"
    sender_role: str = ""
    sign_off: str = ""

    @classmethod
    def from_settings(cls, settings) -> StoreFacts:
        """The store's name, sender and sign-off as the merchant set them (agent.settings)."""
        return cls(
            store_name=getattr(settings, "store_name", None) or "our store",
            sender_name=getattr(settings, "sender_name", None) or "the team",
            sign_off=getattr(settings, "sign_off", None) or "",
        )


def customer_facts(
    orders: pd.DataFrame | None,
    *,
    products: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Facts per customer from the data: last_order_date, last_order_id, first_order_year,
    last_product_name, favourite_product (most lines bought), recommended_product (the scores'
    next_best_product, by name, left empty when no name is known: a product id means nothing
    to a customer) and order_value (average order value). Names come from the products table,
    else the orders' product_name; they are store data, cleaned by `_clean` like every fact."""
    from agent.display import product_names

    names = product_names(orders, products)
    out = pd.DataFrame(index=pd.Index([], name="customer_id", dtype=str))
    if orders is not None and len(orders):
        o = orders.loc[orders["amount"] >= 0].copy()
        o["customer_id"] = o["customer_id"].astype(str)
        o = o.sort_values("order_date")
        if "product_name" not in o.columns and "product_id" in o.columns:
            o["product_name"] = o["product_id"].astype(str).map(names)
        g = o.groupby("customer_id")
        out = pd.DataFrame(
            {
                "last_order_date": g["order_date"].max(),
                "first_order_year": g["order_date"].min().dt.year.astype(str),
            }
        )
        # how long ago the last order was (as of the data's last day) and the customer's usual
        # interval between purchase days: a purchase long past is never written as current
        days = o["order_date"].dt.normalize()
        span = (g["order_date"].max() - g["order_date"].min()).dt.days
        n_days = days.groupby(o["customer_id"]).nunique()
        out["days_since_last_order"] = (
            o["order_date"].max().normalize() - out["last_order_date"].dt.normalize()
        ).dt.days
        out["usual_interval_days"] = (span / (n_days - 1).where(n_days > 1)).astype(float)
        if "order_id" in o.columns:
            out["last_order_id"] = g["order_id"].last().astype(str)
        if "product_name" in o.columns:
            pn = o.dropna(subset=["product_name"])
            out["last_product_name"] = pn.groupby("customer_id")["product_name"].last()
            fav = pn.groupby(["customer_id", "product_name"]).size().reset_index(name="n")
            fav = fav.sort_values(["customer_id", "n"], ascending=[True, False])
            out["favourite_product"] = fav.drop_duplicates("customer_id").set_index("customer_id")[
                "product_name"
            ]
    if scores is not None and len(scores):
        s = scores.set_index(scores["customer_id"].astype(str))
        out = out.reindex(out.index.union(s.index))
        if "next_best_product" in s.columns:
            nbp = s["next_best_product"].fillna("").astype(str)
            out["recommended_product"] = nbp.map(lambda p: names.get(p, ""))
        if {"revenue_to_date", "orders_to_date"} <= set(s.columns):
            n = s["orders_to_date"].astype(float)
            out["order_value"] = (s["revenue_to_date"].astype(float) / n.where(n > 0)).where(n > 0)
    return out


STORE_TEXT_FACTS = {
    "last_product_name": "product name",
    "favourite_product": "product name",
    "recommended_product": "product name",
    "order_number": "order number",
    "store_name": "store name",
    "sender_name": "sender name",
    "sender_role": "sender role",
    "sign_off": "sign-off",
}
"""The facts that are text from the store's files (or settings), checked before they are used."""
ORDER_NUMBER = re.compile(r"#?[A-Za-z0-9][A-Za-z0-9_/.-]{0,23}")


class Vetting:
    """`check_store_text` once per distinct text (product names repeat across customers)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], tuple[str, list[Flag]]] = {}

    def __call__(self, value: Any, what: str) -> tuple[str, list[Flag]]:
        text = clean_fact(value, 10_000)
        if not text:
            return "", []
        key = (text, what)
        if key not in self.seen:
            flags = check_store_text(text, what)
            if what == "order number" and not flags and not ORDER_NUMBER.fullmatch(text):
                flags = [
                    Flag(
                        "store_text",
                        "review",
                        f"the order number {text[:40]!r} from the store's data "
                        "was left out of the draft: it is not a short code",
                    )
                ]
            self.seen[key] = ("" if flags else text, flags)
        return self.seen[key]


def facts_for(
    cid: str, row: Mapping, facts: pd.DataFrame, store: StoreFacts, vet: Vetting | None = None
) -> tuple[dict[str, str], dict[str, list[Flag]]]:
    """The facts of one customer's draft, and the store text left out of them: {fact: flags}
    (`product_name` stands for the product it would have been)."""
    vet = vet or Vetting()
    f = facts.loc[cid].to_dict() if cid in facts.index else {}
    last = f.get("last_order_date")
    last = pd.Timestamp(last) if last is not None and last == last else None
    raw = {
        "last_product_name": f.get("last_product_name"),
        "favourite_product": f.get("favourite_product"),
        "recommended_product": f.get("recommended_product"),
        "order_number": f.get("last_order_id"),
        "store_name": store.store_name,
        "sender_name": store.sender_name,
        "sender_role": store.sender_role,
        "sign_off": getattr(store, "sign_off", ""),
    }
    vetted: dict[str, str] = {}
    left_out: dict[str, list[Flag]] = {}
    for key, value in raw.items():
        vetted[key], flags = vet(value, STORE_TEXT_FACTS[key])
        if flags:
            left_out[key] = flags
    source = "last_product_name" if clean_fact(raw["last_product_name"]) else "favourite_product"
    product = vetted["last_product_name"] or vetted["favourite_product"]
    if source in left_out:
        left_out["product_name"] = left_out[source]
    return {
        "store_name": vetted["store_name"] or "our store",
        "sender_name": vetted["sender_name"] or "the team",
        "sender_role": vetted["sender_role"],
        "sign_off": vetted["sign_off"],
        "product_name": product,
        "last_product_name": vetted["last_product_name"],
        "favourite_product": vetted["favourite_product"],
        "recommended_product": vetted["recommended_product"],
        "last_order_date": f"{last.day} {last:%B %Y}" if last is not None else "",
        "last_order_month": f"{last:%B %Y}" if last is not None else "",
        "first_order_year": clean_fact(f.get("first_order_year")),
        "order_number": vetted["order_number"],
        "unsubscribe_link": "",  # the email platform adds its own unsubscribe footer
        "reason_label": row.get("churn_reason", ""),
        "last_order_stale": "yes"
        if _stale(f.get("days_since_last_order"), f.get("usual_interval_days"))
        else "",
    }, left_out


STALE_AFTER_DAYS = 120
"""A last order this old (with no usual interval to go by) is not "around now"."""
STALE_AT_MOST_DAYS = 365


def _stale(days, usual) -> bool:
    """Whether a last order `days` ago is too long past to be written as current ("may be
    getting low around now"): past twice the customer's usual interval (at least 60 days),
    past STALE_AFTER_DAYS without one, and always past a year."""
    if days is None or days != days:
        return False
    days = float(days)
    if usual is not None and usual == usual and usual > 0:
        return days > max(2.0 * float(usual), 60.0) or days > STALE_AT_MOST_DAYS
    return days > STALE_AFTER_DAYS


def left_out_flags(
    left_out: Mapping[str, list[Flag]], skeleton: str | None, *, llm: bool
) -> list[Flag]:
    """The flags of the store text this draft would have used: every fact for a language model
    (it is given them all), else the skeleton's placeholders plus the facts every template may
    add (the recommended product, the store's name)."""
    used = (
        set(left_out)
        if llm
        else ({*PERSONAL_PLACEHOLDER.findall(skeleton or ""), "recommended_product", "store_name"})
    )
    out: dict[tuple[str, str], Flag] = {}
    for key in sorted(left_out):
        if key in used and not (key == "product_name" and "product_name" not in used):
            for flag in left_out[key]:
                out.setdefault((flag.rule, flag.message), flag)
    return list(out.values())
