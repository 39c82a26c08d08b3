"""How values are written for a person: money in the store's currency, products by name.

The one place these are defined; the CLI, the chat answers, the brief, the drafts and the app
import them from here.

    money(1234.5, "GBP")            -> "1,234.50 GBP"
    money(1234.5, None, decimals=0) -> "1,235"          (the currency is not known)
    store_currency(store, settings) -> "GBP"            (the file's, else the setting's, else None)
    product_names(orders, products) -> {"85123A": "WHITE HANGING HEART T-LIGHT HOLDER", ...}
    product_label("85123A", names)  -> "WHITE HANGING HEART T-LIGHT HOLDER"  (the id only without a name)
    reason_label("cycle_overdue")   -> "purchase cycle overdue"   (channel_label, tier_label alike)
    plain_words("... (--horizon-days)") -> "..."    (flags and column names of a warning in words)
    percent(0.571)                  -> "57%"
    date_words("2025-04-22")        -> "22 April 2025"
"""

from __future__ import annotations

import math
import re

from agent.settings import Settings
from tools.schema import currency_code


def store_currency(file_currency, settings: Settings | None = None) -> str | None:
    """The store's currency: what its files say, else the `currency` of `settings`
    (RETENTION_CURRENCY, `--currency`, the app's Settings tab), else None."""
    code = currency_code(file_currency)
    if code:
        return code
    return currency_code(getattr(settings, "currency", None))


def money(value, currency=None, *, decimals: int = 2, signed: bool = False) -> str:
    """An amount of money as a person reads it: "1,234.50 GBP"; without a known currency just
    the number. `signed` writes a leading + for gains."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    sign = "+" if signed else ""
    text = f"{float(value):{sign},.{int(decimals)}f}"
    try:
        code = currency_code(currency)
    except ValueError:
        code = None
    return f"{text} {code}" if code else text


def product_names(orders, products=None) -> dict[str, str]:
    """product_id -> name: the products table's name, else the orders' product_name (the latest
    line's by order date: the name the shop uses now). Blank names are no names."""
    names: dict[str, str] = {}
    if orders is not None and {"product_id", "product_name"} <= set(orders.columns):
        o = orders.dropna(subset=["product_id", "product_name"])
        if "order_date" in o.columns:
            o = o.sort_values("order_date", kind="stable")
        o = o.drop_duplicates("product_id", keep="last")
        for pid, name in zip(o["product_id"].astype(str), o["product_name"].astype(str)):
            name = " ".join(name.split())
            if name:
                names[pid] = name
    if products is not None and {"product_id", "name"} <= set(products.columns):
        p = products.dropna(subset=["product_id", "name"])
        for pid, name in zip(p["product_id"].astype(str), p["name"].astype(str)):
            name = " ".join(name.split())
            if name:
                names[pid] = name
    return names


def product_label(product_id, names: dict[str, str] | None) -> str:
    """What a person is shown for a product: its name, the id only where there is no name."""
    if product_id is None or (isinstance(product_id, float) and math.isnan(product_id)):
        return ""
    pid = str(product_id)
    return (names or {}).get(pid) or pid


# --- the merchant's words for the codes in scores, plans and drafts ---------------------------
# One vocabulary: the app's filters, tables and text, the brief and the chat answers all say
# a code with these words (a filter option and the text next to it never disagree).


def _reason_words() -> dict[str, str]:
    from tools.schema import NO_REASON, REASON_LABEL  # the churn model's own words

    return {**{str(k): v for k, v in REASON_LABEL.items()}, NO_REASON: "no clear reason"}


REASON_LABEL = _reason_words()
"""churn_reason code -> words ("cycle_overdue" -> "purchase cycle overdue")."""
CHANNEL_LABEL = {
    "email": "email",
    "personal_email": "personal email",
    "sms": "SMS",
    "phone": "phone call",
    "direct_mail": "direct mail",
    "onsite": "on-site message",
}
"""channel code -> words ("personal_email" -> "personal email")."""
TIER_LABEL = {"high": "high value", "medium": "medium value", "low": "low value"}
"""clv_tier code -> words (high = the top 20% by predicted value)."""
COLUMN_LABEL = {
    "clv_low": "the low end of the value range",
    "clv_high": "the high end of the value range",
    "predicted_clv": "predicted value",
    "churn_probability": "churn risk",
    "p_alive": "chance still active",
    "value_at_stake": "value at stake",
    "expected_orders": "expected orders",
    "expected_next_order_date": "expected next order date",
    "orders_to_date": "orders to date",
    "revenue_to_date": "revenue to date",
    "avg_days_between_orders": "average days between orders",
    "churn_reason": "main churn reason",
    "churn_drivers": "churn drivers",
    "clv_tier": "value tier",
    "next_best_product": "next best product",
}
"""A scores column -> words ("clv_low" -> "the low end of the value range")."""
FLAG_LABEL = {
    "--horizon-days": "the prediction window",
    "--as-of": "the scoring date",
    "--margin": "the gross margin",
    "--discount-rate": "the discount rate",
    "--model": "the scoring model",
    "--currency": "the currency (in Settings)",
}
"""A command-line flag -> what the app calls the same thing ("--horizon-days" -> "the prediction window")."""
PHRASE_LABEL = {
    "(clv_low, clv_high)": "(the low and high ends of the value range)",
    "Their `fallback` and `model` columns say which.": "The scores file says which, customer by customer.",
    "(their `model` column says so)": "(the scores file says so, customer by customer)",
    "(its `model` column says so)": "(the scores file says so, customer by customer)",
}
"""Whole phrases of the scoring warnings whose words above would read badly one by one."""
STATUS_LABEL = {
    "pending": "pending",
    "edited": "edited",
    "approved": "approved",
    "rejected": "rejected",
    "blocked": "blocked",
    "exported": "exported",
}
"""A draft's status as shown (the queue's own words)."""


def label(code, vocabulary: dict[str, str] | None = None) -> str:
    """A code as a person reads it: its words in `vocabulary`, else the code with spaces for
    underscores ("one_time_buyer" -> "one time buyer"); "" for nothing."""
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return ""
    text = str(code)
    return (vocabulary or {}).get(text) or text.replace("_", " ")


def reason_label(code) -> str:
    return label(code, REASON_LABEL)


def channel_label(code) -> str:
    return label(code, CHANNEL_LABEL)


def tier_label(code) -> str:
    return label(code, TIER_LABEL)


def percent(value, *, decimals: int = 0, signed: bool = False) -> str:
    """A share (0.57) as a person reads it: "57%"; "–" for nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value) * 100:{'+' if signed else ''}.{int(decimals)}f}%"


def date_words(value) -> str:
    """A day as a person reads it: "22 April 2025"; "" for nothing."""
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return ""
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    if pd.isna(day):
        return ""
    return f"{day.day} {day:%B %Y}"


_FLAG_ASIDE = re.compile(r"\s*\((?:--[a-z][a-z-]*(?:[ =][^\s),]+)?(?:,\s*|\s+or\s+)?)+\)")
"""A flag in brackets after the words for it: "a shorter prediction window (--horizon-days)"."""


def plain_words(text: str) -> str:
    """A message written for the command line (a scoring warning, a tool's note) as the app
    shows it: a flag in brackets after its words dropped, other flags and the scores' column
    names said in words (PHRASE_LABEL, FLAG_LABEL, COLUMN_LABEL: the CLI keeps the flags)."""
    text = str(text or "")
    for phrase, words in PHRASE_LABEL.items():
        text = text.replace(phrase, words)
    text = _FLAG_ASIDE.sub("", text)
    for flag, words in sorted(FLAG_LABEL.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", words, text)
    for col, words in COLUMN_LABEL.items():
        text = re.sub(rf"`?\b{re.escape(col)}\b`?", words, text)
    return text


def fmt(value, kind: str = "num", currency: str | None = None) -> str:
    """The one way a number is written in the brief; `currency` is written after money
    ("money", and "signed" changes of money) when the store's currency is known."""
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "money":
        return money(value, currency, decimals=0)
    if kind == "signed":
        # no change is "0", not "+0.00"
        text = "0" if value == 0 else f"{value:+,.0f}" if abs(value) >= 1 else f"{value:+.2f}"
        return f"{text} {currency}" if currency else text
    if kind == "signed_pct":
        return f"{round(value * 100, 1) + 0.0:+.1f} pts"  # + 0.0: never "-0.0"
    if kind == "ratio":
        return f"{value:.2f}"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"
