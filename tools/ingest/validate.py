"""Validation of each table kind: typed canonical columns, and a reason for every row that
cannot be used (the first problem found is the one reported). Used by `tools.ingest.tables`;
the column checks they share are `tools.ingest.columns`."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tools.errors import DataError
from tools.ingest.columns import (
    date_column,
    first_reason,
    id_column,
    id_values,
    normalise_category,
    number_column,
    text_values,
)
from tools.ingest.keys import earliest
from tools.ingest.parse import parse_consent, parse_numbers, trimmed_text
from tools.ingest.read import LINE_COL
from tools.schema import MAX_PLAUSIBLE_AMOUNT, RETURNED_COL

REASON_COL = "_reason"


# --- validators: one per kind --------------------------------------------------------------


def _validate_orders(canon: pd.DataFrame, cols, file, *, now, coded=None):
    coded = coded or {}
    reasons = pd.Series(None, index=canon.index, dtype=object)
    warnings: list[str] = []
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    if "customer_id" not in cols:
        canon = canon.assign(customer_id=canon["email"].map(email_customer_id, na_action="ignore"))
        warnings.append("no customer id column: customers are identified by their email")
    out["customer_id"], customer_code = id_column(
        canon, reasons, "customer_id", coded.get("customer_id")
    )
    out["order_date"] = date_column(
        canon,
        reasons,
        "order_date",
        cols,
        file,
        now=now,
        required=True,
        coded=coded.get("order_date"),
    )
    if "amount" in cols:
        out["amount"] = number_column(
            canon, reasons, "amount", cols, file, required=True, coded=coded.get("amount")
        )
    else:
        qty = number_column(
            canon, reasons, "quantity", cols, file, required=True, coded=coded.get("quantity")
        )
        price = number_column(
            canon, reasons, "unit_price", cols, file, required=True, coded=coded.get("unit_price")
        )
        out["amount"] = (qty * price).round(4)
        warnings.append("no amount column: amount = quantity x unit price")
    huge = ~np.isfinite(out["amount"].fillna(0.0)) | (out["amount"].abs() > MAX_PLAUSIBLE_AMOUNT)
    first_reason(
        reasons,
        huge,
        lambda idx: (
            "amount "
            + out.loc[idx, "amount"].map("{:.6g}".format)
            + f" is beyond any plausible order line (over {MAX_PLAUSIBLE_AMOUNT:.0e})"
        ),
    )
    order_code = None
    if "order_id" in cols:
        out["order_id"], order_code = id_column(canon, reasons, "order_id", coded.get("order_id"))
    else:
        out["order_id"] = out["customer_id"] + "@" + out["order_date"].astype(str)
        warnings.append("no order id column: one order per customer and timestamp")
    for opt in ("product_id", "product_name", "channel"):
        if opt in cols:
            out[opt] = text_values(canon, opt, coded.get(opt))
    if "product_name" in cols:  # a line without a product code is known by its name
        if "product_id" not in out:
            out["product_id"] = out["product_name"]
            warnings.append("no product code column: products are known by their names")
        elif out["product_id"].isna().any():
            out["product_id"] = out["product_id"].fillna(out["product_name"])
    if "quantity" in cols:
        out["quantity"] = number_column(
            canon, reasons, "quantity", cols, file, required=False, coded=coded.get("quantity")
        )
        first_reason(
            reasons,
            out["quantity"].abs() > MAX_PLAUSIBLE_AMOUNT,
            "quantity is beyond any plausible order line",
        )
    if "discount" in cols:
        out["discount"] = (
            number_column(
                canon, reasons, "discount", cols, file, required=False, coded=coded.get("discount")
            )
            .abs()
            .fillna(0.0)
        )
    currency = None
    if "currency" in cols:
        cur = canon["currency"].str.strip().str.upper()
        present = cur[(cur != "") & reasons.isna()]
        if len(present):
            currency = present.value_counts().idxmax()
            other = (cur != "") & (cur != currency)
            first_reason(
                reasons,
                other,
                lambda idx: (
                    "currency "
                    + cur[idx]
                    + f" differs from the store's {currency} (no exchange rates given)"
                ),
            )
            if other.any():
                warnings.append(
                    f"mixed currencies: kept {currency}, rejected {int(other.sum())} rows in others"
                )
        out["currency"] = cur.replace("", currency)
    _orders_of_one_customer(out, reasons, order=order_code, customer=customer_code)
    n_full = _fully_returned_orders(out, reasons, order=order_code, customer=customer_code)
    if n_full:
        warnings.append(
            f"{n_full} orders returned in full by a later return of the same items: "
            "kept with their return (revenue nets to zero), not purchase occasions"
        )
    out.attrs["currency"] = currency
    return out, reasons, warnings


def _fully_returned_orders(
    out: pd.DataFrame,
    reasons: pd.Series,
    *,
    order: np.ndarray | None = None,
    customer: np.ndarray | None = None,
) -> int:
    """An order that a return of the same customer on or after its date gives back in full
    (the same products in the same quantities, or without products the same amount) was not
    a purchase: a cancelled invoice (Online Retail's C-invoices), a refund of the whole order.
    Both stay (they net to zero; the return is a churn signal); the order's lines are marked
    `RETURNED_COL`, so it is no purchase occasion (`schema.purchase_mask`). Partial returns
    stay plain returns. Marks `out` in place; returns the number of orders matched. Orders
    and customers are matched by integer codes (`order`, `customer`: those of
    `_orders_of_one_customer`, when known), not by their string ids."""
    ok = reasons.isna().to_numpy()
    amount = out["amount"].to_numpy()
    neg = ok & (amount < 0)
    if not neg.any():
        return 0
    order = pd.factorize(out["order_id"])[0] if order is None else order
    customer = pd.factorize(out["customer_id"])[0] if customer is None else customer
    # only the customers with a return need looking at (an accepted row has both ids)
    who = np.zeros(int(customer.max()) + 1, bool)
    who[customer[neg]] = True
    take = ok & who[np.maximum(customer, 0)] & (customer >= 0) & (order >= 0)
    rows = out.loc[take]
    # a line's item: (product, |quantity|, |amount| to 4 places), hashed by value (building
    # a text per line cost a second on a million customers); a missing quantity is -1
    item_cols = {"product": rows["product_id"].fillna("")} if "product_id" in rows else {}
    item_cols["amount"] = rows["amount"].abs().round(4)
    if "quantity" in rows:
        item_cols["quantity"] = np.nan_to_num(rows["quantity"].abs().to_numpy(float), nan=-1.0)
    item = pd.util.hash_pandas_object(pd.DataFrame(item_cols), index=False).to_numpy(np.uint64)
    # an order's signature: its multiset of items (sums of independent 31-bit hash parts),
    # so the order of lines does not matter; an order of mixed signs is never matched
    orders = pd.DataFrame(
        {
            "order": order[take],
            "customer": customer[take],
            "date": rows["order_date"].to_numpy(),
            "sign": np.sign(rows["amount"].to_numpy()),
            "h1": (item & np.uint64(0x7FFFFFFF)).astype(np.int64),
            "h2": ((item >> np.uint64(32)) & np.uint64(0x7FFFFFFF)).astype(np.int64),
            "h3": ((item * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)).astype(np.int64),
        }
    )
    sig = (
        orders.groupby("order", sort=False)
        .agg(
            customer=("customer", "first"),
            date=("date", "min"),
            sign_min=("sign", "min"),
            sign_max=("sign", "max"),
            n=("h1", "size"),
            h1=("h1", "sum"),
            h2=("h2", "sum"),
            h3=("h3", "sum"),
        )
        .reset_index()
    )
    buys = sig[(sig["sign_min"] >= 0) & (sig["sign_max"] > 0)]
    rets = sig[sig["sign_max"] < 0]
    pairs = rets.merge(buys, on=["customer", "n", "h1", "h2", "h3"], suffixes=("_r", "_b"))
    pairs = pairs[pairs["date_b"] <= pairs["date_r"]].sort_values(
        ["date_r", "date_b"], ascending=[True, False]
    )
    pairs = pairs.drop_duplicates("order_r").drop_duplicates("order_b")
    if pairs.empty:
        return 0
    returned = np.zeros(int(order.max()) + 1, bool)
    returned[pairs["order_b"].to_numpy()] = True
    full = returned[np.maximum(order, 0)] & (order >= 0) & ok
    out[RETURNED_COL] = full | (
        out[RETURNED_COL].to_numpy(dtype=bool) if RETURNED_COL in out else False
    )
    return len(pairs)


def _orders_of_one_customer(
    out: pd.DataFrame,
    reasons: pd.Series,
    *,
    order: np.ndarray | None = None,
    customer: np.ndarray | None = None,
) -> None:
    """Rows that share an order id are parts of one order: identical line items are two
    items bought, an invoice split over two timestamps is one order (summed; dated at its
    first timestamp), so no row is rejected as a duplicate. An order id used by two
    customers keeps the first customer's rows. Keys are integer codes (hashing millions of
    string ids once, not once per check); `order` and `customer`: those codes, when known."""
    order = pd.factorize(out["order_id"])[0] if order is None else order
    idx = np.flatnonzero(reasons.isna().to_numpy() & (order >= 0))
    customer = pd.factorize(out["customer_id"])[0] if customer is None else customer
    o_ok, c_ok = order[idx], customer[idx]
    n_orders = int(order.max()) + 1 if len(order) else 0
    # each row's order's first customer: the first accepted row of each order (the codes are
    # dense integers, so numpy's unbuffered minimum finds it without hashing them again)
    first_row = np.full(n_orders, len(idx), np.int64)
    np.minimum.at(first_row, o_ok, np.arange(len(idx)))
    owner = c_ok[first_row[o_ok]]
    if (owner != c_ok).any():  # rare: an order id used by two customers
        clash = np.zeros(len(order), bool)
        clash[idx] = owner != c_ok
        first_reason(
            reasons, pd.Series(clash, index=out.index), "order_id already used by another customer"
        )
    ok = np.flatnonzero(reasons.isna().to_numpy() & (order >= 0))
    if len(ok) and np.bincount(order[ok]).max() > 1:  # some order has several rows
        dates = out["order_date"].to_numpy().astype("datetime64[ns]")  # (accepted: no NaT)
        first = earliest(order[ok], dates[ok], n_orders)[order[ok]]
        if (first != dates[ok]).any():
            col = dates.copy()
            col[ok] = first
            out["order_date"] = col


def _validate_customers(canon, cols, file, *, now, coded=None):
    coded = coded or {}
    reasons = pd.Series(None, index=canon.index, dtype=object)
    warnings: list[str] = []
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    if "customer_id" not in cols:  # Shopify's customers export: Email is the key
        if "email" not in cols and "phone" not in cols:
            raise DataError(
                "required column 'customer_id' not found (nor an Email or Phone column "
                "to know customers by)",
                file=file,
                column="customer_id",
                hint="Rename the column or pass --map customer_id=<your column name>",
            )
        by_email = (
            canon["email"].map(email_customer_id, na_action="ignore")
            if "email" in cols
            else pd.Series("", index=canon.index)
        )
        by_phone = (
            canon["phone"].map(phone_key, na_action="ignore").map(phone_customer_id)
            if "phone" in cols
            else pd.Series("", index=canon.index)
        )
        canon = canon.assign(
            customer_id=by_email.where(by_email.fillna("") != "", by_phone).fillna("")
        )
        warnings.append("no customer id column: customers are known by their email (or phone)")
    out["customer_id"] = id_values(canon, reasons, "customer_id", coded.get("customer_id"))
    for text_col in ("email", "first_name", "last_name", "phone", "tags", "note"):
        out[text_col] = trimmed_text(canon[text_col])[0] if text_col in cols else ""
    if "email" in cols:
        arr = pa.array(out["email"].to_numpy(dtype=object), type=pa.string())
        out["email"] = pc.utf8_lower(arr).to_numpy(zero_copy_only=False)
    for flag in CONSENT_FLAGS:
        if flag in cols:
            out[flag], unknown = parse_consent(normalise_category(canon[flag], lambda t: t))
            if unknown.any():
                warnings.append(
                    f"{flag}: {int(unknown.sum())} values not read as yes/no are unknown consent"
                )
        else:
            out[flag] = pd.array([pd.NA] * len(out), dtype="boolean")
            warnings.append(f"no {flag} column: consent to {flag[8:]} is unknown (not assumed)")
    if "created_at" in cols:
        out["created_at"] = date_column(
            canon,
            reasons,
            "created_at",
            cols,
            file,
            now=now,
            required=False,
            coded=coded.get("created_at"),
        )
    first_reason(reasons, out["customer_id"].duplicated() & reasons.isna(), "duplicate customer_id")
    return out, reasons, warnings


def _validate_products(canon, cols, file, *, now, coded=None):
    coded = coded or {}
    reasons = pd.Series(None, index=canon.index, dtype=object)
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    out["product_id"] = id_values(canon, reasons, "product_id", coded.get("product_id"))
    for text_col in ("name", "category"):
        out[text_col] = canon[text_col].str.strip() if text_col in cols else ""
    for num in ("price", "unit_cost"):
        out[num] = (
            number_column(canon, reasons, num, cols, file, required=False, coded=coded.get(num))
            if num in cols
            else np.nan
        )
    first_reason(reasons, out["product_id"].duplicated() & reasons.isna(), "duplicate product_id")
    return out, reasons, []


def _validate_events(canon, cols, file, *, now, coded=None):
    coded = coded or {}
    reasons = pd.Series(None, index=canon.index, dtype=object)
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    out["customer_id"] = id_values(canon, reasons, "customer_id", coded.get("customer_id"))
    out["timestamp"] = date_column(
        canon,
        reasons,
        "timestamp",
        cols,
        file,
        now=now,
        required=True,
        coded=coded.get("timestamp"),
    )
    out["type"] = normalise_category(
        canon["type"],
        lambda t: t.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True),
        coded.get("type"),
    )
    first_reason(reasons, out["type"] == "", "type is blank")
    return out, reasons, []


def _validate_tickets(canon, cols, file, *, now, coded=None):
    coded = coded or {}
    reasons = pd.Series(None, index=canon.index, dtype=object)
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    out["customer_id"] = id_values(canon, reasons, "customer_id", coded.get("customer_id"))
    out["opened_at"] = date_column(
        canon,
        reasons,
        "opened_at",
        cols,
        file,
        now=now,
        required=True,
        coded=coded.get("opened_at"),
    )
    if "resolved_at" in cols:
        out["resolved_at"] = date_column(
            canon,
            reasons,
            "resolved_at",
            cols,
            file,
            now=now,
            required=False,
            coded=coded.get("resolved_at"),
        )
    else:
        out["resolved_at"] = pd.NaT
    out["severity"] = (
        normalise_category(canon["severity"], lambda t: t.str.strip().str.lower())
        if "severity" in cols
        else ""
    )
    if "sentiment" in cols:
        out["sentiment"] = _sentiment(canon["sentiment"])
    else:
        out["sentiment"] = np.nan
    out["text"] = canon["text"] if "text" in cols else ""  # data, never instructions
    return out, reasons, []


def _sentiment(s: pd.Series) -> pd.Series:
    words = {
        "negative": -1.0,
        "neutral": 0.0,
        "positive": 1.0,
        "angry": -1.0,
        "bad": -1.0,
        "good": 1.0,
    }
    values, _ = parse_numbers(s)
    mapped = s.str.strip().str.lower().map(words)
    return values.fillna(mapped)


VALIDATORS = {
    "orders": _validate_orders,
    "customers": _validate_customers,
    "products": _validate_products,
    "events": _validate_events,
    "tickets": _validate_tickets,
}


CONSENT_FLAGS = ("accepts_email", "accepts_sms")


def phone_key(phone) -> str:
    """A phone number's digits, the last 10 of them ('+1 555.864.6660', '(555) 864-6660' and
    '5558646660' are one key: country prefixes and trunk zeros are written either way);
    "" for what is not a phone (fewer than 7 digits)."""
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    return digits[-10:] if len(digits) >= 7 else ""


def phone_customer_id(key: str) -> str:
    """A stable, non-personal id for a customer known only by phone ('p' + 12 hex)."""
    key = str(key)
    if not key or key == "nan":
        return ""
    return "p" + hashlib.sha1(key.encode()).hexdigest()[:12]


def email_customer_id(email: str) -> str | None:
    """A stable, non-personal id for a customer known only by email ('e' + 12 hex)."""
    email = str(email).strip().lower()
    if not email:
        return ""
    return "e" + hashlib.sha1(email.encode()).hexdigest()[:12]
