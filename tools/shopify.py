"""Shopify's orders export, read as it comes.

The export has one row per line item; order-level fields (Email, Created at, Subtotal,
Total, Currency, Cancelled at, Refunded Amount, ...) are filled only on the first row of
each order, whose key is `Name` (e.g. `#1001`). This module turns it into the generic
orders shape (one row per line, canonical column names) that `tools.load` validates.

- A line's amount is its share of the order's Subtotal (after discounts, before shipping
  and tax), so order-level discount codes are spread over the lines; the difference from
  quantity x price is the line's discount.
- An order with a Refunded Amount gets one refund line (negative amount) on the order
  date; the export carries no refund date.
- Cancelled or voided orders are not purchases: their rows go to the rejects with that reason.
- Customers are known by email: the customers table maps email to customer id when it is
  loaded; otherwise the id is a hash of the email, so no address becomes an id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.parse import parse_numbers
from tools.read import LINE_COL
from tools.schema import normalise_header
from tools.validate import REASON_COL, email_customer_id

SHOPIFY_ORDER_MARKERS = frozenset({"name", "lineitemquantity", "lineitemprice", "createdat"})
ORDER_LEVEL = ("email", "financialstatus", "currency", "subtotal", "total", "createdat",
               "cancelledat", "refundedamount", "source", "customerid")


def from_shopify_orders(frame: pd.DataFrame, customers: pd.DataFrame | None, file: str):
    """Returns (generic orders frame as strings, rejected rows with reasons, warnings)."""
    col = {normalise_header(c): c for c in reversed(list(frame.columns))}
    get = lambda key: frame[col[key]] if key in col else pd.Series("", index=frame.index)
    name = get("name").str.strip()
    level = pd.DataFrame({k: get(k).where(get(k).str.strip() != "") for k in ORDER_LEVEL},
                         index=frame.index)
    level = level.groupby(name, sort=False).transform("first").fillna("")
    warnings = ["Shopify orders export detected: one row per line item, keyed by Name"]

    email = level["email"].str.strip().str.lower()
    if level["customerid"].str.strip().ne("").any():
        cid = level["customerid"].str.strip()
    else:
        cid = email.map(email_customer_id)
        if customers is not None and len(customers) and "email" in customers:
            lookup = customers.loc[customers["email"] != ""].drop_duplicates("email")
            known = email.map(lookup.set_index("email")["customer_id"])
            cid = known.fillna(cid)

    status = level["financialstatus"].str.strip().str.lower()
    cancelled = level["cancelledat"].str.strip().ne("")
    voided = status.eq("voided")
    reject = cancelled | voided
    rejects = frame.loc[reject].copy()
    rejects[REASON_COL] = np.where(cancelled[reject], "order cancelled", "payment voided")

    qty, _ = parse_numbers(get("lineitemquantity"))
    price, _ = parse_numbers(get("lineitemprice"))
    line_disc, _ = parse_numbers(get("lineitemdiscount"))
    subtotal, _ = parse_numbers(level["subtotal"])
    gross = (qty * price).fillna(0.0)
    order_gross = gross.groupby(name).transform("sum")
    share = np.where(order_gross > 0, gross / order_gross.where(order_gross > 0, 1.0), 0.0)
    amount = pd.Series(np.where(subtotal.notna(), subtotal.fillna(0) * share,
                                gross - line_disc.fillna(0)), index=frame.index).round(2)
    # a line that cannot be priced keeps its raw text so validation names the bad value
    amount_text = amount.map("{:.2f}".format).where(qty.notna() & price.notna(), get("lineitemprice"))

    out = pd.DataFrame({
        LINE_COL: frame[LINE_COL],
        "customer_id": cid,
        "order_id": name,
        "order_date": level["createdat"],
        "amount": amount_text,
        "product_id": get("lineitemsku"),
        "product_name": get("lineitemname"),
        "quantity": get("lineitemquantity"),
        "discount": (gross - amount).clip(lower=0).round(2).map("{:.2f}".format),
        "channel": level["source"],
        "currency": level["currency"],
    }, index=frame.index).loc[~reject]

    refunded, _ = parse_numbers(level["refundedamount"])
    first_rows = ~name.duplicated() & ~reject & (refunded.fillna(0) > 0)
    if first_rows.any():
        refunds = out.loc[first_rows[~reject]].copy()
        refunds["order_id"] = refunds["order_id"] + "-refund"
        refunds["amount"] = (-refunded[first_rows]).map("{:.2f}".format)
        refunds[["product_id", "product_name", "quantity"]] = ""
        refunds["discount"] = "0.00"
        out = pd.concat([out, refunds])
        warnings.append(f"{int(first_rows.sum())} refunds dated on their order date (the export has no refund date)")
    return out.reset_index(drop=True), rejects, warnings
