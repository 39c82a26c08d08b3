"""What the raw files say, read with pandas and independently of tools/: one row per data row of
each orders file with its share of its order's net revenue, whether it counts as revenue and has
a customer, the file's totals, customers, currencies and product names and codes (`Expected`),
for the Shopify exports, the Online Retail files and CDNOW. The definitions are in the package
docstring (`evals.quality.real_stores`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evals.quality.real_stores.stores import PLACEHOLDER_IDS, StoreSpec, read_cdnow


def _norm_header(h: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(h).lower())


def norm_text(s: object) -> str:
    """Text compared as a person reads it: whitespace collapsed, case folded."""
    return " ".join(str(s).split()).casefold()


def _num(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    t = s.astype(str).str.strip().str.replace(r"[\s,]", "", regex=True)
    return pd.to_numeric(t, errors="coerce")


def read_csv_rows(path: Path) -> tuple[pd.DataFrame, list[int], int]:
    """A CSV's rows as strings (every field kept), the physical line each row starts on and
    the count of rows whose field count differs from the header's."""
    text = None
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = path.read_text(encoding=enc)
            break
        except UnicodeDecodeError:
            continue
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    rows, starts, ragged = [], [], 0
    last = reader.line_num
    for row in reader:
        start, last = last + 1, reader.line_num
        if not row:
            continue
        if len(row) != len(header):
            ragged += 1
            row = (row + [""] * len(header))[: len(header)]
        rows.append(row)
        starts.append(start)
    return pd.DataFrame(rows, columns=header, dtype=object), starts, ragged


@dataclass
class Expected:
    """What the raw files say. `lines`: one row per data row of each orders file: file, line
    (row order: 2 = first data row), phys (physical line), key (the order), amount (this row's
    share of its order's net revenue), revenue (counts: not cancelled or voided), customer
    (has a customer), verify (a value to match the rejects file against), verify_col."""

    lines: pd.DataFrame
    rows: dict[str, int]  # every table file -> data rows
    max_line: dict[str, int] = field(default_factory=dict)  # file -> the last row's physical line
    file_total: float = 0.0  # all orders, with or without a customer
    customer_revenue: float = 0.0  # orders with a customer
    merchandise_revenue: float | None = None  # Shopify: Subtotal less refunds capped at it
    customers: int | None = None  # distinct real ids (Online Retail, CDNOW)
    currencies: tuple[str, ...] = ()
    names: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()  # codes that are not also names
    code_to_name: dict[str, str] = field(default_factory=dict)
    unusable: str | None = None  # why the file cannot be a scored store
    copies: int = 0  # order copies in overlapping exports
    notes: list[str] = field(default_factory=list)


def expected_for(spec: StoreSpec, folder: Path) -> Expected:
    if spec.kind == "shopify":
        return expected_shopify(folder)
    if spec.kind == "online_retail":
        return expected_online_retail(spec.source, folder)
    return expected_cdnow(spec.source, folder)


SHOPIFY_CONTACTS = ("email", "phone", "billingphone", "shippingphone", "customerid")


def _shopify_orders_file(headers) -> bool:
    norm = {_norm_header(h) for h in headers}
    return {"name", "lineitemquantity", "createdat"} <= norm


def expected_shopify(folder: Path) -> Expected:
    tables, rows, max_line = [], {}, {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() != ".csv":
            continue
        frame, starts, ragged = read_csv_rows(p)
        rows[p.name] = len(frame)
        max_line[p.name] = max(starts, default=1)
        if not _shopify_orders_file(frame.columns):
            continue
        tables.append(_shopify_lines(p.name, frame, starts))
        if ragged:
            tables[-1].attrs["notes"] = [
                f"{p.name}: {ragged} rows with a field count unlike the header's"
            ]
    exp = Expected(lines=pd.DataFrame(), rows=rows, max_line=max_line)
    if not tables:
        exp.unusable = "no Shopify orders export in the folder"
        return exp
    lines = pd.concat(tables, ignore_index=True)
    exp.lines = lines
    for t in tables:
        exp.notes += t.attrs.get("notes", [])
    missing = sorted({m for t in tables for m in t.attrs["missing"]})
    if missing:
        exp.unusable = "; ".join(missing)
    # each order once: the copy in the most recent export (by its newest order date) wins
    latest = _latest_copy(lines)
    orders = lines.loc[lines["file"].eq(lines["key"].map(latest))]
    order_net = orders.groupby("key").agg(
        net=("amount", "sum"),
        revenue=("revenue", "first"),
        customer=("customer", "first"),
        merch=("merch", "sum"),
    )
    counted = order_net.loc[order_net["revenue"]]
    exp.file_total = float(counted["net"].sum())
    exp.customer_revenue = float(counted.loc[counted["customer"], "net"].sum())
    exp.merchandise_revenue = float(counted.loc[counted["customer"], "merch"].sum())
    exp.copies = int(lines.groupby("key")["file"].nunique().sub(1).sum())
    exp.currencies = tuple(sorted({c for t in tables for c in t.attrs["currencies"]}))
    names = {norm_text(n) for n in lines["product_name"] if str(n).strip()}
    codes = {norm_text(c) for c in lines["product_code"] if str(c).strip()}
    exp.names, exp.codes = frozenset(names), frozenset(codes - names)
    named = lines.loc[
        lines["product_code"].str.strip().ne("") & lines["product_name"].str.strip().ne("")
    ]
    exp.code_to_name = dict(zip(named["product_code"].map(norm_text), named["product_name"]))
    names_by_n = lines.groupby("key_name")["key"].nunique()
    if (names_by_n > 1).any():
        exp.notes.append(
            f"{int((names_by_n > 1).sum())} order Names stand for more than one order Id "
            "across the exports: orders are told apart by Id"
        )
    if exp.copies:
        exp.notes.append(f"{exp.copies} order copies in overlapping exports (counted once)")
    return exp


def _latest_copy(lines: pd.DataFrame) -> dict[str, str]:
    """order key -> the file whose copy counts: the export with the newest order date."""
    newest = lines.groupby("file")["created"].max().fillna(pd.Timestamp("1970-01-01", tz="UTC"))
    rank = {f: i for i, f in enumerate(sorted(newest.index, key=lambda f: (newest[f], f)))}
    files_of = lines.groupby("key")["file"].unique()
    return {k: max(fs, key=lambda f: rank[f]) for k, fs in files_of.items()}


def _shopify_lines(file: str, frame: pd.DataFrame, starts: list[int]) -> pd.DataFrame:
    col = {_norm_header(c): c for c in reversed(list(frame.columns))}
    n = len(frame)

    def get(key: str) -> pd.Series:
        return (
            frame[col[key]].astype(str).str.strip()
            if key in col
            else pd.Series([""] * n, index=frame.index)
        )

    name = get("name")

    def order_level(key: str) -> pd.Series:
        s = get(key)
        s = s.where(s.ne(""))
        return s.groupby(name).transform("first").fillna("")

    missing = []
    if not ({"subtotal", "total", "lineitemprice"} & col.keys()):
        missing.append(f"{file} has no amount column (Subtotal, Total or Lineitem price)")
    if not (set(SHOPIFY_CONTACTS) & col.keys()):
        missing.append(
            f"{file} has no customer column (Email, Phone, Billing Phone, Shipping Phone "
            "or Customer ID)"
        )
    oid = order_level("id") if "id" in col else pd.Series([""] * n, index=frame.index)
    key = np.where(oid.ne(""), "id:" + oid, "name:" + name)
    status = order_level("financialstatus").str.lower()
    revenue = order_level("cancelledat").eq("") & status.ne("voided")
    qty, price = _num(get("lineitemquantity")), _num(get("lineitemprice"))
    gross = (qty * price).fillna(0.0)
    listed = gross.groupby(name).transform("sum") - _num(order_level("discountamount")).fillna(0)
    sub = _num(order_level("subtotal"))
    if "lineitemprice" in col:
        sub = sub.fillna(listed)
    total = (
        _num(order_level("total"))
        .fillna(
            sub + _num(order_level("shipping")).fillna(0) + _num(order_level("taxes")).fillna(0)
        )
        .fillna(0.0)
    )
    sub = sub.fillna(0.0)
    refunded = _num(order_level("refundedamount")).fillna(0.0)
    net = total - refunded
    merch = sub - np.minimum(refunded, sub.clip(lower=0))
    order_gross = gross.groupby(name).transform("sum")
    lines_in_order = name.groupby(name).transform("size")
    share = np.where(
        order_gross > 0, gross / order_gross.where(order_gross > 0, 1.0), 1.0 / lines_in_order
    )
    first = ~name.duplicated()
    customer = pd.Series(False, index=frame.index)
    for c in SHOPIFY_CONTACTS:
        if c in col:
            customer |= order_level(c).ne("")
    created = pd.to_datetime(order_level("createdat"), errors="coerce", utc=True, format="mixed")
    out = pd.DataFrame(
        {
            "file": file,
            "line": np.arange(2, n + 2),
            "phys": starts,
            "key": key,
            "key_name": name,
            "amount": net * share,
            "revenue": revenue.to_numpy(),
            "customer": customer.to_numpy(),
            "merch": np.where(first, merch, 0.0),
            "verify": name,
            "verify_col": "Name",
            "product_name": get("lineitemname"),
            "product_code": get("lineitemsku"),
            "created": created,
        }
    )
    out.attrs["missing"] = missing
    out.attrs["currencies"] = sorted(set(order_level("currency")) - {""})
    return out


def _real_id(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(normalised id text, is a real id)."""
    t = s.astype("string").fillna("").str.strip().str.replace(r"\.0$", "", regex=True)
    return t, ~t.str.lower().isin(PLACEHOLDER_IDS)


def expected_online_retail(path: Path, folder: Path) -> Expected:
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        starts = list(range(2, len(frame) + 2))
    else:
        frame, starts, _ = read_csv_rows(path)
    n = len(frame)
    amount = (_num(frame["Quantity"]) * _num(frame["UnitPrice"])).fillna(0.0)
    cid, real = _real_id(frame["CustomerID"])
    store_file = next(p.name for p in folder.iterdir() if p.stem == "orders")
    lines = pd.DataFrame(
        {
            "file": store_file,
            "line": np.arange(2, n + 2),
            "phys": starts,
            "key": "line:" + pd.Series(np.arange(n)).astype(str),
            "amount": amount.to_numpy(),
            "revenue": True,
            "customer": real.to_numpy(),
            "verify": frame["InvoiceNo"].astype(str).str.strip().to_numpy(),
            "verify_col": "InvoiceNo",
        }
    )
    desc = frame["Description"].astype("string").fillna("").str.strip()
    code = frame["StockCode"].astype("string").fillna("").str.strip()
    names = {norm_text(x) for x in desc.unique() if x}
    codes = {norm_text(x) for x in code.unique() if x}
    named = pd.DataFrame({"c": code, "d": desc}).loc[lambda d: d["c"].ne("") & d["d"].ne("")]
    exp = Expected(
        lines=lines,
        rows={store_file: n},
        max_line={store_file: max(starts, default=1)},
        file_total=float(amount.sum()),
        customer_revenue=float(amount[real].sum()),
        customers=int(cid[real].nunique()),
        names=frozenset(names),
        codes=frozenset(codes - names),
        code_to_name=dict(zip(named["c"].map(norm_text), named["d"])),
    )
    exp.notes.append(
        f"{int((~real).sum()):,} lines without a real CustomerID "
        f"({float(amount[~real].sum()):,.2f} of revenue with no customer)"
    )
    return exp


def expected_cdnow(path: Path, folder: Path) -> Expected:
    raw = read_cdnow(path)
    amount = _num(raw["amount"]).fillna(0.0)
    n = len(raw)
    cid, real = _real_id(raw["customer_id"])
    lines = pd.DataFrame(
        {
            "file": "orders.csv",
            "line": np.arange(2, n + 2),
            "phys": np.arange(2, n + 2),
            "key": "line:" + pd.Series(np.arange(n)).astype(str),
            "amount": amount.to_numpy(),
            "revenue": True,
            "customer": real.to_numpy(),
            "verify": cid.to_numpy(),
            "verify_col": "customer_id",
        }
    )
    return Expected(
        lines=lines,
        rows={"orders.csv": n},
        max_line={"orders.csv": n + 1},
        file_total=float(amount.sum()),
        customer_revenue=float(amount[real].sum()),
        customers=int(cid[real].nunique()),
    )
