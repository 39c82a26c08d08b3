"""The column vocabulary, written down once.

Every table that leaves `tools.ingest.load` uses these names and dtypes; every other module in
tools/ reads them from here rather than spelling strings of its own.
"""

from __future__ import annotations

import math
import re
import typing

import numpy as np

# --- canonical tables -------------------------------------------------------------------
# orders: one row per order line (an order-level file is one line per order).
ORDERS_REQUIRED = ("customer_id", "order_id", "order_date", "amount")
ORDERS_OPTIONAL = (
    "product_id",
    "product_name",
    "quantity",
    "discount",
    "channel",
    "currency",
)
CUSTOMERS_COLUMNS = (
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "accepts_email",
    "accepts_sms",
    "created_at",
    "tags",
    "note",
)
PRODUCTS_COLUMNS = ("product_id", "name", "category", "price", "unit_cost")
EVENTS_COLUMNS = ("customer_id", "timestamp", "type")
TICKETS_COLUMNS = (
    "customer_id",
    "opened_at",
    "resolved_at",
    "severity",
    "sentiment",
    "text",
)

# An order's identity across several export files of one store (Shopify's order Id, else
# the order id): the same order in overlapping exports counts once (`tools.ingest.load`).
ORDER_KEY_COL = "_order_key"

# Ids that stand for "no customer" in real exports: a guest checkout, a blank cell written
# out by a spreadsheet or by pandas. Compared after `normalise_placeholder`. A row with one of
# these is rejected with the reason, never loaded as one giant customer.
PLACEHOLDER_IDS = frozenset(
    {
        "",
        "nan",
        "none",
        "null",
        "nil",
        "na",
        "n/a",
        "#n/a",
        "blank",
        "(blank)",
        "<blank>",
        "empty",
        "missing",
        "guest",
        "guestcheckout",
        "guest checkout",
        "unknown",
        "unknowncustomer",
        "anonymous",
        "anon",
        "notavailable",
        "not available",
        "undefined",
        "-",
        "--",
        "?",
        ".",
        "nocustomer",
        "no customer",
        "noid",
    }
)

# Order lines that are not merchandise (postage, fees, manual adjustments, tips, gift cards):
# revenue like any line, never a product to recommend. Matched as whole words in the line's
# product name or id (Online Retail's POST, DOTCOM POSTAGE, BANK CHARGES, AMAZONFEE, "Manual";
# Shopify's "Tip", "Shipping protection", gift cards).
NON_PRODUCT_PATTERN = (
    r"(?i)^(?:post|dot|cruk|amazonfee|bank charges)$"  # codes, as the whole value
    r"|\b(?:postage|shipping|carriage|delivery charge|freight|handling fee|fee|fees|amazon fee|"
    r"bank charges?|manual|discount|adjust bad debt|adjustment|samples|tip|tips|gift ?cards?|"
    r"e-?gift ?card|voucher|deposit|commission|package protection|shipping protection|"
    r"shipping insurance|surcharge)\b"
)

# An optional orders column: True on the lines of an order that was returned or refunded in
# full (Shopify's refunded orders, an invoice cancelled by a later return of the same items).
# The lines and their refund stay (revenue nets to zero; the returns are a churn signal), but
# such an order is no purchase occasion: `purchase_mask` is the one test for a purchase line.
RETURNED_COL = "returned_in_full"


def purchase_mask(orders) -> np.ndarray:
    """Lines that are purchases: amount >= 0 (a refund or return is negative; zero is a free
    order), and not of an order returned in full (`RETURNED_COL`)."""
    buy = orders["amount"].to_numpy(dtype=float) >= 0
    if RETURNED_COL in orders.columns:
        buy &= ~orders[RETURNED_COL].to_numpy(dtype=bool)
    return buy


# One order line beyond this (in any currency) is a broken value, not a purchase.
MAX_PLAUSIBLE_AMOUNT = 1e10

# "At risk", everywhere (tools, assistant, brief, app, CLI): churn_probability above this,
# i.e. more likely to make no purchase in the horizon than to buy. Value at stake is
# `tools.insights.kpis.value_at_stake` (churn probability x predicted CLV), computed there only.
AT_RISK_PROBABILITY = 0.5

PERSONAL_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "name",
    "phone",
    "note",
    "address",
    "address1",
    "address2",
    "city",
    "zip",
    "postcode",
)
"""Customer columns that are personal data: kept inside the session for local rendering, never
in a tool result and never sent to a model (DESIGN.md, invariants)."""
PERSONAL_PLACEHOLDERS = ("first_name", "last_name")
"""The personal fields a draft carries as placeholders ({first_name}), filled only at render time."""

# --- consent words ---------------------------------------------------------------------------
# The one list of how a consent or yes/no cell says yes, no or nothing (the loader, the
# consent rules of outreach and the guardrails all read these).
TRUE_WORDS = frozenset(
    {
        "true",
        "yes",
        "y",
        "1",
        "t",
        "subscribed",
        "opted_in",
        "optin",
        "opt_in",
        "opt-in",
        "on",
        "accepted",
        "accepts",
        "confirmed",
    }
)
"""Yes, in a consent or yes/no column (the one list: the loader and agent.outreach.consent use it)."""
FALSE_WORDS = frozenset(
    {
        "false",
        "no",
        "n",
        "0",
        "f",
        "",
        "unsubscribed",
        "not_subscribed",
        "opted_out",
        "optout",
        "off",
        "none",
        "pending",
        "never_subscribed",
    }
)
CONSENT_UNKNOWN_WORDS = frozenset({"", "unknown", "nan", "none", "null", "n/a", "na", "<na>", "?"})
"""A consent cell that says nothing: unknown, not refused (the loader and agent.outreach.consent)."""

# --- synonyms ------------------------------------------------------------------------------
# Keys are canonical names; values are header spellings seen in the wild, compared after
# `normalise_header` (lower case, letters and digits only). First match in file order wins.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "orders": {
        "customer_id": (
            "customerid",
            "customer",
            "customerno",
            "customernumber",
            "clientid",
            "userid",
            "buyerid",
            "accountid",
            "custid",
        ),
        "order_id": (
            "orderid",
            "invoiceno",
            "invoice",
            "invoiceid",
            "invoicenumber",
            "ordernumber",
            "orderno",
            "ordername",
            "name",
            "transactionid",
            "receiptid",
            "order",
        ),
        "order_date": (
            "orderdate",
            "invoicedate",
            "createdat",
            "date",
            "orderdatetime",
            "purchasedate",
            "transactiondate",
            "timestamp",
            "ordertime",
            "processedat",
            "datetime",
        ),
        "amount": (
            "amount",
            "total",
            "ordertotal",
            "totalprice",
            "revenue",
            "sales",
            "value",
            "netsales",
            "grandtotal",
            "linetotal",
            "totalamount",
            "orderamount",
        ),
        "quantity": ("quantity", "qty", "lineitemquantity", "units", "itemquantity"),
        "unit_price": ("unitprice", "price", "lineitemprice", "itemprice", "priceeach"),
        "product_id": (
            "productid",
            "stockcode",
            "sku",
            "lineitemsku",
            "itemid",
            "variantid",
            "itemcode",
        ),
        "product_name": (
            "productname",
            "description",
            "lineitemname",
            "itemname",
            "product",
            "title",
        ),
        "discount": ("discount", "discountamount", "lineitemdiscount", "discounts"),
        "channel": ("channel", "source", "saleschannel"),
        "currency": ("currency", "currencycode"),
        "email": ("email", "customeremail"),
    },
    "customers": {
        "customer_id": ("customerid", "id", "clientid", "userid", "custid", "customer"),
        "email": ("email", "emailaddress", "customeremail"),
        "first_name": ("firstname", "givenname", "forename"),
        "last_name": ("lastname", "surname", "familyname"),
        "phone": ("phone", "phonenumber", "mobile", "defaultaddressphone"),
        "accepts_email": (
            "acceptsemail",
            "acceptsemailmarketing",
            "acceptsmarketing",
            "emailconsent",
            "emailoptin",
            "marketingoptin",
        ),
        "accepts_sms": ("acceptssms", "acceptssmsmarketing", "smsconsent", "smsoptin"),
        "created_at": ("createdat", "signupdate", "joined", "registeredat", "created"),
        "tags": ("tags", "labels"),
        "note": ("note", "notes", "comment"),
    },
    "products": {
        "product_id": ("productid", "sku", "stockcode", "id", "variantsku", "itemid"),
        "name": ("name", "title", "productname", "description"),
        "category": ("category", "producttype", "type", "collection"),
        "price": ("price", "unitprice", "variantprice", "listprice"),
        "unit_cost": ("unitcost", "cost", "costperitem", "cogs"),
    },
    "events": {
        "customer_id": ("customerid", "clientid", "userid", "profileid"),
        "timestamp": ("timestamp", "time", "date", "occurredat", "eventtime", "datetime"),
        "type": ("type", "event", "eventtype", "metric", "action"),
    },
    "tickets": {
        "customer_id": ("customerid", "clientid", "userid", "requesterid"),
        "opened_at": ("openedat", "createdat", "opened", "created", "date"),
        "resolved_at": ("resolvedat", "closedat", "resolved", "solvedat"),
        "severity": ("severity", "priority"),
        "sentiment": ("sentiment", "satisfaction", "csat"),
        "text": ("text", "subject", "description", "body", "message"),
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "orders": ORDERS_REQUIRED,
    "customers": ("customer_id",),
    "products": ("product_id",),
    "events": ("customer_id", "timestamp", "type"),
    "tickets": ("customer_id", "opened_at"),
}


def is_placeholder_id(value: str) -> bool:
    """'(blank)', 'NaN', 'Guest', '0', '000', '-1' ... : an id that names nobody."""
    v = " ".join(str(value).strip().lower().split())
    return v in PLACEHOLDER_IDS or (v != "" and set(v) <= {"0"}) or v in ("-1", "-0")


def normalise_header(name: object) -> str:
    """'Customer ID' -> 'customerid'; 'Lineitem quantity' -> 'lineitemquantity'."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


# --- currency -------------------------------------------------------------------------------------

UNKNOWN_CURRENCY = "store currency"
"""What a tool result says when neither the store's files nor the settings name a currency."""


def currency_code(value) -> str | None:
    """A currency as an upper-case ISO-4217-style code, or None (unknown, empty, the placeholder)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().upper()
    if not text or text == UNKNOWN_CURRENCY.upper():
        return None
    if not re.fullmatch(r"[A-Z]{3}", text):
        raise ValueError(f"currency {value!r} is not a three-letter code such as USD, GBP or EUR")
    return text


# --- segments ---------------------------------------------------------------------------------

Segment = typing.Literal[
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
]
"""The named RFM segments, best first (`tools.insights.segments` assigns them)."""
SEGMENTS: tuple[Segment, ...] = typing.get_args(Segment)


# --- churn reasons, CLV tiers, contact channels -------------------------------------------------

ChurnReason = typing.Literal[
    "price_sensitivity",
    "service_problems",
    "quality_returns",
    "fading_engagement",
    "cycle_overdue",
    "one_time_buyer",
]
"""Why a customer is likely to lapse: the churn model's driver groups (`tools.models.churn`)."""
CHURN_REASONS: tuple[ChurnReason, ...] = typing.get_args(ChurnReason)
CHURN_CAUSES: tuple[ChurnReason, ...] = (
    "price_sensitivity",
    "service_problems",
    "quality_returns",
    "fading_engagement",
)
"""The reasons that are causes a merchant can act on (price, service, quality, engagement), not
symptoms (an overdue cycle, one order only): the causes the demo store plants and the ones a
customer's evidence may lift over a symptom (`tools.models.reasons.with_evidence`)."""
NO_REASON = "none"
"""The `churn_reason` of a customer with no clear driver."""
REASON_LABEL: dict[str, str] = {
    "price_sensitivity": "price sensitivity",
    "service_problems": "service problems",
    "quality_returns": "product quality / returns",
    "fading_engagement": "fading engagement",
    "cycle_overdue": "purchase cycle overdue",
    "one_time_buyer": "one-time buyer",
}
"""A churn reason in a merchant's words (keyed by every `ChurnReason`: a test checks it)."""

ClvTier = typing.Literal["high", "medium", "low"]
"""A customer's CLV tier, by percentile of predicted CLV (`tools.insights.segments.clv_tiers`)."""
CLV_TIERS: tuple[ClvTier, ...] = typing.get_args(ClvTier)

ContactChannel = typing.Literal["email", "sms"]
"""How a draft reaches a customer; each has its own consent column (`accepts_email`, `accepts_sms`)."""
CONTACT_CHANNELS: tuple[ContactChannel, ...] = typing.get_args(ContactChannel)
