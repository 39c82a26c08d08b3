"""Shopify's exports, read as they come (Shopify Help Center, "Exporting orders" and
"Exporting customers": the CSV columns).

Orders export: one row per line item. Order-level fields (Email, Financial Status, Total,
Cancelled at, Refunded Amount, Id, ...) are filled only on the first row of an order; the
rows of one order are consecutive and share its `Name` (e.g. `#1001`). This module turns it
into the generic orders shape (one row per line, canonical column names, as text) that
`tools.ingest.validate` checks, and says for every row it cannot use why.

- **Money.** A line's amount is its share (by quantity x price) of the order's `Total`,
  which is what the customer paid after discounts (with shipping and tax) and the figure a
  refund is taken from, so revenue net of refunds is what the file says, to the cent. The
  difference between the line's list value and its share of the `Subtotal` is its
  discount. Without a Total: Subtotal + Shipping + Taxes; without those: quantity x price
  less the line discount.
- **Refunds.** A refunded order keeps its lines and gets one refund line (negative amount,
  the export's `Refunded Amount`) on the order date: the export carries no refund date. A
  fully refunded order (status `refunded`, or refunded >= Total) is no purchase occasion: its
  lines are marked `returned_in_full` (`tools.schema.purchase_mask`); its refund stays a
  return, the churn signal it is.
- **Not purchases.** Cancelled (`Cancelled at` set) and voided orders, and test orders
  (Shopify's Bogus Gateway), are rejected with the reason.
- **Who bought.** `Email` is the customer's key (the customers export has no id column and
  joins on it); an order without one is known by its phone (`Phone`, `Billing Phone`,
  `Shipping Phone`), linked to the email of the same phone where another order or the
  customers export gives one. Ids are hashes (`email_customer_id`, `phone_customer_id`),
  so no address becomes an id; a customers file with its own ids is used for the join.
  An order with neither email nor phone is rejected: nobody can be told it was theirs.
- **One order, one key.** Shopify's order `Id` where the export has it (a Name can be
  reused across a store's history), else the Name: several overlapping exports of one store
  count each order once (`tools.ingest.load`).
- **Customers from orders.** Names (`Billing Name`), phone and email-marketing consent
  (`Accepts Marketing`, the latest order's) are collected per customer
  (`order_contacts`), and `customers_from_orders` merges them with the customers export,
  whose consent, a later state than any order's, wins where it says yes or no.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.ingest.parse import parse_consent, parse_numbers
from tools.ingest.read import LINE_COL
from tools.ingest.validate import email_customer_id, phone_customer_id, phone_key
from tools.schema import ORDER_KEY_COL, RETURNED_COL, normalise_header

SHOPIFY_ORDER_MARKERS = frozenset({"name", "lineitemquantity", "lineitemname", "createdat"})
ORDER_LEVEL = (
    "email",
    "financialstatus",
    "currency",
    "subtotal",
    "shipping",
    "taxes",
    "total",
    "createdat",
    "cancelledat",
    "refundedamount",
    "source",
    "customerid",
    "id",
    "acceptsmarketing",
    "billingname",
    "phone",
    "billingphone",
    "shippingphone",
    "paymentmethod",
    "tags",
)
CONTACT_COLUMNS = ("email", "phone", "billingphone", "shippingphone", "customerid")
MONEY_COLUMNS = ("total", "subtotal", "lineitemprice")


def is_shopify_orders(headers) -> bool:
    return {normalise_header(h) for h in headers} >= SHOPIFY_ORDER_MARKERS


def from_shopify_orders(frame: pd.DataFrame, customers: pd.DataFrame | None, file: str):
    """(generic orders frame as text with `_line` and `_order_key`, {line: reason} for the
    rows not used, warnings, per-order contacts for `customers_from_orders`)."""
    col = {normalise_header(c): c for c in reversed(list(frame.columns))}
    _check_usable(col, frame, file)
    get = lambda key: (
        frame[col[key]].astype(str).str.strip()
        if key in col
        else pd.Series("", index=frame.index, dtype=object)
    )
    name = get("name")
    level_raw = pd.DataFrame({k: get(k) for k in ORDER_LEVEL}, index=frame.index)
    # an order's rows are consecutive: a new order starts where the Name changes or a row
    # carries order-level fields of its own (a second order reusing a Name)
    starts = (name != name.shift()) | (level_raw["id"].ne("") & level_raw["financialstatus"].ne(""))
    group = starts.cumsum()
    level = level_raw.where(level_raw != "").groupby(group).transform("first").fillna("")
    warnings = ["Shopify orders export detected: one row per line item, keyed by Name"]
    reasons: dict[int, str] = {}
    lines = frame[LINE_COL]

    def reject(mask: pd.Series, text) -> None:
        whys = [text] * int(mask.sum()) if isinstance(text, str) else text[mask]
        for line, why in zip(lines[mask], whys):
            reasons.setdefault(int(line), why)

    status = level["financialstatus"].str.lower()
    qty, _ = parse_numbers(get("lineitemquantity"))
    price, _ = parse_numbers(get("lineitemprice"))
    line_disc, _ = parse_numbers(get("lineitemdiscount"))
    total, _ = parse_numbers(level["total"])
    subtotal, _ = parse_numbers(level["subtotal"])
    shipping, _ = parse_numbers(level["shipping"])
    taxes, _ = parse_numbers(level["taxes"])
    refunded, _ = parse_numbers(level["refundedamount"])
    paid = total.where(total.notna(), subtotal + shipping.fillna(0) + taxes.fillna(0))

    reject(level["cancelledat"].ne(""), "order cancelled")
    reject(status.eq("voided"), "payment voided")
    reject(level["paymentmethod"].str.lower().str.contains("bogus"), "test order (Bogus Gateway)")
    full = refunded.fillna(0).gt(0) & (
        status.eq("refunded") | (refunded >= paid.fillna(np.inf) - 0.005)
    )

    email = level["email"].str.lower()
    phone = level["phone"].where(level["phone"] != "", level["billingphone"])
    phone = phone.where(phone != "", level["shippingphone"])
    pkey = phone.map(phone_key)
    cid = _customer_ids(email, pkey, level["customerid"], customers)
    reject(cid.eq(""), "no email or phone on the order: the customer cannot be identified")

    gross = (qty * price).fillna(0.0)
    order_gross = gross.groupby(group).transform("sum")
    n_lines = gross.groupby(group).transform("size")
    share = np.where(
        order_gross > 0, gross / order_gross.where(order_gross > 0, 1.0), 1.0 / n_lines
    )
    amount = pd.Series(
        np.where(paid.notna(), paid.fillna(0) * share, gross - line_disc.fillna(0)),
        index=frame.index,
    )
    amount = _round_to_order(amount, group, paid)
    priced = paid.notna() | (qty.notna() & price.notna())
    # a line that cannot be priced keeps its raw text so validation names the bad value
    amount_text = amount.map("{:.2f}".format).where(priced, get("lineitemprice"))
    merch = np.where(subtotal.notna(), subtotal.fillna(0) * share, gross - line_disc.fillna(0))
    discount = (gross - merch).clip(lower=0).round(2)

    key = level["id"].where(level["id"] != "", name)
    out = pd.DataFrame(
        {
            LINE_COL: lines,
            "customer_id": cid,
            "order_id": name,
            "order_date": level["createdat"],
            "amount": amount_text,
            "product_id": get("lineitemsku"),
            "product_name": get("lineitemname"),
            "quantity": get("lineitemquantity"),
            "discount": discount.map("{:.2f}".format),
            "channel": level["source"],
            "currency": level["currency"],
            ORDER_KEY_COL: key,
            RETURNED_COL: full,
        },
        index=frame.index,
    )
    used = ~lines.isin(list(reasons))
    out = out.loc[used]

    first = ~group.duplicated() & used & (refunded.fillna(0) > 0)
    if first.any():
        refunds = out.loc[first[used]].copy()
        refunds["amount"] = (-refunded[first]).map("{:.2f}".format)
        refunds[["product_id", "product_name", "quantity"]] = ""
        refunds["discount"] = "0.00"
        refunds[RETURNED_COL] = False
        out = pd.concat([out, refunds])
        n_full = int((first & full).sum())
        warnings.append(
            f"{int(first.sum())} refunds dated on their order date (the export has no "
            f"refund date); {n_full} of them refund the whole order, which is then no "
            "purchase occasion"
        )
    pending = ~group.duplicated() & used & status.isin(["pending", "authorized"])
    if pending.any():
        warnings.append(
            f"{int(pending.sum())} orders awaiting payment (pending or authorized, "
            "e.g. cash on delivery) count as purchases"
        )
    contacts = _contacts(level, cid, email, phone, ~group.duplicated() & used)
    return out.reset_index(drop=True), reasons, warnings, contacts


def _check_usable(col: dict, frame: pd.DataFrame, file: str) -> None:
    """An export without any contact column or any money column cannot be used at all."""
    shown = ", ".join(repr(c) for c in list(frame.columns)[1:12])
    for needed, column, what in (
        (
            CONTACT_COLUMNS,
            "Email",
            "no Email or Phone column, so no order can be matched to a customer",
        ),
        (
            MONEY_COLUMNS,
            "Total",
            "no Total, Subtotal or Lineitem price column, so no order has an amount",
        ),
    ):
        if not any(c in col for c in needed):
            raise DataError(
                f"this Shopify orders export has {what}; the file has {shown}",
                file=file,
                column=column,
                hint="Export the orders again from Shopify admin (Orders > Export) "
                "with 'Plain CSV file' and all columns",
            )


def _round_to_order(amount: pd.Series, group: pd.Series, paid: pd.Series) -> pd.Series:
    """Line amounts to the cent that add up to the order's paid total exactly (the cents
    lost to rounding go to the order's largest line)."""
    cents = (amount * 100).round()
    gap = ((paid * 100).round() - cents.groupby(group).transform("sum")).where(paid.notna(), 0.0)
    top = cents.groupby(group).idxmax().to_numpy()
    cents.loc[top] += gap.loc[top].fillna(0.0)
    return cents / 100


def _customer_ids(
    email: pd.Series, pkey: pd.Series, own: pd.Series, customers: pd.DataFrame | None
) -> pd.Series:
    """Each order's customer id: the customers file's id for its email (or phone), else a
    hash of the email, else of the phone, linked to an email the same phone has elsewhere."""
    if own.ne("").any():
        return own
    by_email = email.map(email_customer_id)
    # a phone that also appears with an email (another order, or the customers export)
    link = pd.DataFrame({"p": pkey, "id": by_email})
    link = link[(link["p"] != "") & (link["id"] != "")]
    phone_to_id = link.drop_duplicates("p").set_index("p")["id"]
    if customers is not None and len(customers) and "email" in customers:
        known = customers.loc[customers["email"] != ""].drop_duplicates("email")
        by_email = email.map(known.set_index("email")["customer_id"]).fillna(by_email)
        if "phone" in customers:
            cp = customers["phone"].astype(str).map(phone_key)
            cust_phone = pd.Series(customers["customer_id"].to_numpy(), index=cp)
            cust_phone = cust_phone[cust_phone.index != ""]
            cust_phone = cust_phone[~cust_phone.index.duplicated()]
            phone_to_id = cust_phone.combine_first(phone_to_id)
    by_phone = pkey.map(phone_to_id).fillna(pkey.map(phone_customer_id))
    return by_email.where(email != "", by_phone).fillna("")


def _contacts(level, cid, email, phone, first) -> pd.DataFrame:
    names = level["billingname"].str.split(n=1, expand=True).reindex(columns=[0, 1]).fillna("")
    consent, _ = parse_consent(level["acceptsmarketing"])
    c = pd.DataFrame(
        {
            "customer_id": cid,
            "email": email,
            "phone": phone,
            "first_name": names[0],
            "last_name": names[1],
            "accepts_email": consent,
            "order_date": level["createdat"],
        }
    )
    return c.loc[first].reset_index(drop=True)


def customers_from_orders(contacts: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """One row per customer of the orders (and of the customers export): email, phone and
    names from the latest order that has them, email consent from the latest order that
    says; the customers export's values win where it has them (it is the later state)."""
    from tools.ingest.parse import parse_dates

    c = contacts.assign(_when=parse_dates(contacts["order_date"])[0]).sort_values("_when")
    c = c[c["customer_id"] != ""]
    text = c[["customer_id", "email", "phone", "first_name", "last_name"]].replace("", None)
    latest = text.groupby("customer_id").last()
    consent = c.dropna(subset=["accepts_email"]).groupby("customer_id")["accepts_email"].last()
    derived = latest.assign(accepts_email=consent.reindex(latest.index).astype("boolean"))
    derived["accepts_sms"] = pd.array([pd.NA] * len(derived), dtype="boolean")
    derived = derived.fillna({k: "" for k in ("email", "phone", "first_name", "last_name")})
    if customers is None or not len(customers):
        return derived.reset_index()
    export = customers.set_index(customers["customer_id"].astype(str)).drop(columns="customer_id")
    both = export.reindex(export.index.union(derived.index))
    for colname in derived.columns:
        if colname not in both:
            both[colname] = derived[colname].reindex(both.index)
            continue
        mine = both[colname]
        theirs = derived[colname].reindex(both.index)
        if str(mine.dtype) == "boolean":
            both[colname] = mine.fillna(theirs.astype("boolean"))
        else:
            both[colname] = mine.where(mine.notna() & (mine.astype(str) != ""), theirs).fillna("")
    return both.rename_axis("customer_id").reset_index()
