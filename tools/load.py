"""Load a store folder into the canonical tables (DESIGN.md, "Data in").

    store/orders.csv (or .parquet, or Shopify's orders_export_*.csv)   required
    store/customers.csv, products.csv, events.csv, tickets.csv          optional

Rules every loader follows:
- column synonyms are detected (`tools.schema.SYNONYMS`); `column_map` overrides them;
- a row that cannot be used is rejected with a reason, never dropped: the report says
  rows read = rows accepted + rows rejected, and the rejected rows (original values, line
  number, reason) go to `<rejects_dir>/<file>.rejects.csv`;
- a file that cannot be used at all raises `DataError` naming file, column and an example;
- a negative amount is a refund or return: it stays in `orders` (it nets against revenue)
  and never counts as an order; zero is a free order.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tools import schema
from tools.errors import DataError
from tools.parse import blank_mask, parse_dates, parse_flags, parse_numbers
from tools.read import LINE_COL, TABLE_SUFFIXES, RawTable, read_table
from tools.shopify import SHOPIFY_ORDER_MARKERS, from_shopify_orders

KINDS = ("orders", "customers", "products", "events", "tickets")
REASON_COL = "_reason"
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True)
class FileReport:
    """What happened to one file: every row read is either accepted or rejected."""

    file: str
    kind: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    reasons: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> header in the file
    rejects_path: str | None = None
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "file": self.file, "kind": self.kind, "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted, "rows_rejected": self.rows_rejected,
            "reasons": dict(self.reasons), "columns": dict(self.columns),
            "rejects_path": self.rejects_path, "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Store:
    """A loaded store: canonical tables (None where the file is absent) and the reports."""

    path: Path
    orders: pd.DataFrame
    customers: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    tickets: pd.DataFrame | None = None
    reports: tuple[FileReport, ...] = ()
    currency: str | None = None


# --- public entry points -----------------------------------------------------------------


def load_store(
    path: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    rejects_dir: str | Path | None = None,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> Store:
    """Load every table of a store folder (or a single orders file)."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such store folder or file", file=str(path))
    files = {"orders": [path]} if path.is_file() else find_store_files(path)
    if not files.get("orders"):
        found = ", ".join(sorted(p.name for p in path.iterdir() if p.is_file())) or "nothing"
        raise DataError(
            "no orders file in the store folder (expected orders.csv, orders.parquet or "
            f"Shopify's orders_export_1.csv); found: {found}",
            file=str(path),
        )
    _check_map(column_map or {}, files)
    kw = dict(column_map=column_map, rejects_dir=rejects_dir, now=now, max_bytes=max_bytes)
    reports: list[FileReport] = []
    customers = None
    if files.get("customers"):
        customers, reps = _load_many("customers", files["customers"], **kw)
        reports += reps
    orders, reps = _load_many("orders", files["orders"], customers=customers, **kw)
    reports += reps
    tables: dict[str, pd.DataFrame | None] = {}
    for kind in ("products", "events", "tickets"):
        tables[kind] = None
        if files.get(kind):
            tables[kind], reps = _load_many(kind, files[kind], **kw)
            reports += reps
    currency = orders.attrs.get("currency")
    return Store(path, orders, customers, reports=tuple(reports), currency=currency, **tables)


def load_orders(
    path: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    rejects_dir: str | Path | None = None,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> tuple[pd.DataFrame, FileReport]:
    """Load one orders file into the canonical orders table and its report."""
    return load_table("orders", path, column_map=column_map, rejects_dir=rejects_dir, now=now,
                      max_bytes=max_bytes)


def load_table(
    kind: str,
    path: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    rejects_dir: str | Path | None = None,
    now: datetime | None = None,
    max_bytes: int | None = None,
    customers: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, FileReport]:
    """Load one file of a given kind (orders, customers, products, events, tickets)."""
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r}; one of {KINDS}")
    raw = read_table(path, **({"max_bytes": max_bytes} if max_bytes else {}))
    now = now or datetime.now()
    rejected: list[pd.DataFrame] = []
    if raw.bad_lines:
        rejected.append(pd.DataFrame({
            LINE_COL: [n for n, _ in raw.bad_lines],
            "_raw": [t for _, t in raw.bad_lines],
            REASON_COL: "line does not split into the header's fields",
        }))
    frame = raw.frame
    warnings = list(raw.warnings)
    if kind == "orders" and _is_shopify_orders(frame.columns):
        frame, shop_rejects, shop_warn = from_shopify_orders(frame, customers, raw.path.name)
        rejected.append(shop_rejects)
        warnings += shop_warn
    if frame.empty and kind == "orders" and not rejected:
        raise DataError("has a header but no rows", file=raw.path.name)
    cols = resolve_columns(frame.columns, kind, column_map or {}, raw.path.name)
    canon = frame[[LINE_COL]].copy()
    for name, header in cols.items():
        col = frame[header]
        typed = pd.api.types.is_datetime64_any_dtype(col) or (
            pd.api.types.is_numeric_dtype(col) and name not in ("customer_id", "order_id", "product_id"))
        canon[name] = col if typed else col.astype(str)
    validator = _VALIDATORS[kind]
    table, reasons, more_warn = validator(canon, cols, raw.path.name, now=now)
    warnings += more_warn
    if reasons.notna().any():
        bad = frame.loc[reasons.notna()].copy()
        bad[REASON_COL] = reasons[reasons.notna()]
        rejected.append(bad)
    table = table.loc[reasons.isna()]
    accepted = int(table[LINE_COL].nunique())  # a Shopify refund line shares its order's line
    table = table.drop(columns=[LINE_COL]).reset_index(drop=True)
    rejects = pd.concat(rejected, ignore_index=True) if rejected else frame.iloc[:0]
    report = _report(raw, kind, accepted, rejects, cols, rejects_dir, warnings)
    return table, report


def find_store_files(folder: Path) -> dict[str, list[Path]]:
    """Which file is which: `orders.csv`, `orders.parquet`, `orders_export_1.csv`, ..."""
    found: dict[str, list[Path]] = {k: [] for k in KINDS}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in TABLE_SUFFIXES:
            continue
        stem = p.stem.lower()
        if stem.endswith(".rejects") or stem in ("ground_truth", "manifest"):
            continue
        for kind in KINDS:
            if stem == kind or stem.startswith((kind + "_", kind + "-", kind + " ")):
                found[kind].append(p)
                break
    return found


def store_summary(store: Store) -> dict:
    """Headline figures of a loaded store, for the CLI and the app."""
    o = store.orders
    purchases = o[o["amount"] >= 0]
    return {
        "store": str(store.path),
        "customers": int(o["customer_id"].nunique()),
        "orders": int(purchases["order_id"].nunique()),
        "revenue": float(o["amount"].sum()),
        "refunds": float(-o.loc[o["amount"] < 0, "amount"].sum()),
        "currency": store.currency,
        "first_order": str(o["order_date"].min().date()) if len(o) else None,
        "last_order": str(o["order_date"].max().date()) if len(o) else None,
        "rows_rejected": sum(r.rows_rejected for r in store.reports),
    }


# --- columns -----------------------------------------------------------------------------


def resolve_columns(
    headers, kind: str, column_map: dict[str, str], file: str
) -> dict[str, str]:
    """canonical name -> header in the file. Raises DataError for a missing required column."""
    headers = [h for h in headers if h != LINE_COL]
    vocab = schema.SYNONYMS[kind]
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(schema.normalise_header(h), h)
    cols: dict[str, str] = {}
    for name, header in column_map.items():
        if name in vocab and header in headers:
            cols[name] = header
    for name, synonyms in vocab.items():
        if name in cols:
            continue
        for cand in (schema.normalise_header(name),) + synonyms:
            if cand in by_norm and by_norm[cand] not in cols.values():
                cols[name] = by_norm[cand]
                break
    missing = [c for c in schema.REQUIRED[kind] if c not in cols]
    if kind == "orders":
        if "amount" in missing and {"quantity", "unit_price"} <= cols.keys():
            missing.remove("amount")  # amount = quantity x unit price
        if "order_id" in missing:
            missing.remove("order_id")  # one order per customer per timestamp, with a warning
        if "customer_id" in missing and "email" in cols:
            missing.remove("customer_id")  # a customer is known by their email
    if missing:
        shown = ", ".join(repr(h) for h in headers[:12])
        name = missing[0]
        raise DataError(
            f"required column '{name}' not found; the file has {shown}",
            file=file,
            column=name,
            hint=f"Rename the column or pass --map {name}=<your column name>",
        )
    return cols


def _check_map(column_map: dict[str, str], files: dict[str, list[Path]]) -> None:
    known = {name for kind in KINDS for name in schema.SYNONYMS[kind]}
    for name in column_map:
        if name not in known:
            raise DataError(
                f"--map names an unknown column '{name}'; known: {', '.join(sorted(known))}"
            )


# --- validators: one per kind --------------------------------------------------------------


def _first_reason(reasons: pd.Series, mask: pd.Series, text) -> None:
    """Set the reason where a row has none yet (the first problem found is the one reported).
    `text` is a string, or a function of the affected rows' index giving one per row (built
    only for those rows: formatting millions of values to explain none is what a large
    clean file would otherwise pay for)."""
    if not mask.any():
        return
    todo = mask & reasons.isna()
    if todo.any():
        reasons.loc[todo] = text(todo[todo].index) if callable(text) else text


def _example(canon: pd.DataFrame, mask: pd.Series, column: str) -> str:
    row = canon.loc[mask].iloc[0]
    return f"line {row[LINE_COL]}: {row[column]!r}"


def _whole_column_bad(canon, bad, blank, column, cols, file, what) -> None:
    """If not a single value of a column can be read, the column is wrong, not the rows."""
    if bad.any() and not (~bad & ~blank).any():
        raise DataError(
            f"no value can be read as {what}",
            file=file,
            column=cols.get(column, column),
            bad_rows=int(bad.sum()),
            example=_example(canon, bad, column),
            hint=f"Check that this is the {column} column, or pass --map {column}=<column>",
        )


def _dates(canon, reasons, column, cols, file, *, now, required):
    parsed, bad = parse_dates(canon[column])
    blank = blank_mask(canon[column])
    _whole_column_bad(canon, bad, blank, column, cols, file, "a date")
    if required:
        _first_reason(reasons, blank, f"{column} is blank")
    _first_reason(reasons, bad, lambda idx: "'" + canon.loc[idx, column].astype(str).str.slice(0, 40)
                  + f"' is not a date ({column})")
    _first_reason(reasons, parsed > pd.Timestamp(now + FUTURE_TOLERANCE),
                  f"{column} is in the future")
    return parsed


def _numbers(canon, reasons, column, cols, file, *, required):
    values, bad = parse_numbers(canon[column])
    blank = blank_mask(canon[column])
    _whole_column_bad(canon, bad, blank, column, cols, file, "a number")
    if required:
        _first_reason(reasons, blank, f"{column} is blank")
    _first_reason(reasons, bad, lambda idx: "'" + canon.loc[idx, column].astype(str).str.slice(0, 40)
                  + f"' is not a number ({column})")
    return values


def _ids(canon, reasons, column):
    ids = _strip(canon[column].astype(str) if canon[column].dtype != object else canon[column])
    arr = pa.array(ids.to_numpy(dtype=object), type=pa.string())
    if pc.any(pc.ends_with(arr, ".0")).as_py():  # 17850.0 (a spreadsheet's float id) -> 17850
        spreadsheet = ids.str.endswith(".0")
        ids = ids.where(~spreadsheet, ids.str.slice(0, -2))
    _first_reason(reasons, ids == "", f"{column} is blank")
    return ids


def _strip(s: pd.Series) -> pd.Series:
    """Trim surrounding whitespace (Arrow's vectorised kernel: Python string methods over
    millions of ids are what made large loads slow); unchanged columns are returned as is."""
    arr = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    trimmed = pc.utf8_trim_whitespace(arr)
    if pc.all(pc.equal(arr, trimmed)).as_py() is not False:
        return s.fillna("") if s.hasnans else s
    return pd.Series(trimmed.to_numpy(zero_copy_only=False), index=s.index, dtype=object).fillna("")


def _normalise_category(s: pd.Series, fn) -> pd.Series:
    """Apply a string clean-up to each distinct value once (event types, channels, ...)."""
    codes, uniques = pd.factorize(s.astype(str))
    cleaned = fn(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    return pd.Series(cleaned[codes], index=s.index, dtype=object)


def _validate_orders(canon: pd.DataFrame, cols, file, *, now):
    reasons = pd.Series(None, index=canon.index, dtype=object)
    warnings: list[str] = []
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    if "customer_id" not in cols:
        canon = canon.assign(customer_id=canon["email"].map(email_customer_id, na_action="ignore"))
        warnings.append("no customer id column: customers are identified by their email")
    out["customer_id"] = _ids(canon, reasons, "customer_id")
    out["order_date"] = _dates(canon, reasons, "order_date", cols, file, now=now, required=True)
    if "amount" in cols:
        out["amount"] = _numbers(canon, reasons, "amount", cols, file, required=True)
    else:
        qty = _numbers(canon, reasons, "quantity", cols, file, required=True)
        price = _numbers(canon, reasons, "unit_price", cols, file, required=True)
        out["amount"] = (qty * price).round(4)
        warnings.append("no amount column: amount = quantity x unit price")
    if "order_id" in cols:
        out["order_id"] = _ids(canon, reasons, "order_id")
    else:
        out["order_id"] = out["customer_id"] + "@" + out["order_date"].astype(str)
        warnings.append("no order id column: one order per customer and timestamp")
    for opt in ("product_id", "product_name", "channel"):
        if opt in cols:
            text = _strip(canon[opt])
            out[opt] = text.where(text != "", None)
    if "quantity" in cols:
        out["quantity"] = _numbers(canon, reasons, "quantity", cols, file, required=False)
    if "discount" in cols:
        out["discount"] = _numbers(canon, reasons, "discount", cols, file, required=False).abs().fillna(0.0)
    currency = None
    if "currency" in cols:
        cur = canon["currency"].str.strip().str.upper()
        present = cur[(cur != "") & reasons.isna()]
        if len(present):
            currency = present.value_counts().idxmax()
            other = (cur != "") & (cur != currency)
            _first_reason(reasons, other, lambda idx: "currency " + cur[idx]
                          + f" differs from the store's {currency} (no exchange rates given)")
            if other.any():
                warnings.append(f"mixed currencies: kept {currency}, rejected {int(other.sum())} rows in others")
        out["currency"] = cur.replace("", currency)
    _reject_duplicates(out, reasons, has_lines="product_id" in cols)
    out.attrs["currency"] = currency
    return out, reasons, warnings


def _reject_duplicates(out: pd.DataFrame, reasons: pd.Series, *, has_lines: bool) -> None:
    ok = reasons.isna()
    keys = ["order_id"] + [c for c in ("product_id", "quantity", "amount") if has_lines and c in out]
    dup = out[keys].duplicated(keep="first") & ok
    if not has_lines:
        # an order-level file: a second row with the same order id is a duplicate order
        _first_reason(reasons, dup, "duplicate order_id")
    else:
        _first_reason(reasons, dup, "duplicate line (same order, product, quantity and amount)")
    # one order id used by two customers: keep the first customer's rows
    ok = reasons.isna()
    pairs = out.loc[ok, ["order_id", "customer_id"]].drop_duplicates()
    shared = pairs["order_id"].duplicated(keep=False)
    if shared.any():  # rare: only then find each order's first customer
        owners = pairs.loc[shared].drop_duplicates("order_id").set_index("order_id")["customer_id"]
        suspect = ok & out["order_id"].isin(owners.index)
        clash = pd.Series(False, index=out.index)
        clash.loc[suspect] = out.loc[suspect, "customer_id"] != out.loc[suspect, "order_id"].map(owners)
        _first_reason(reasons, clash, "order_id already used by another customer")


def _validate_customers(canon, cols, file, *, now):
    reasons = pd.Series(None, index=canon.index, dtype=object)
    warnings: list[str] = []
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    if "customer_id" not in cols:
        if "email" not in cols:
            raise DataError("required column 'customer_id' not found (nor an email column)",
                            file=file, column="customer_id")
        canon = canon.assign(customer_id=canon["email"].map(email_customer_id, na_action="ignore"))
    out["customer_id"] = _ids(canon, reasons, "customer_id")
    for text_col in ("email", "first_name", "last_name", "phone", "tags", "note"):
        out[text_col] = _strip(canon[text_col]) if text_col in cols else ""
    if "email" in cols:
        arr = pa.array(out["email"].to_numpy(dtype=object), type=pa.string())
        out["email"] = pc.utf8_lower(arr).to_numpy(zero_copy_only=False)
    for flag in ("accepts_email", "accepts_sms"):
        if flag in cols:
            out[flag], unknown = parse_flags(_normalise_category(canon[flag], lambda t: t))
            if unknown.any():
                warnings.append(f"{flag}: {int(unknown.sum())} values not read as yes/no were taken as no consent")
        else:
            out[flag] = False
            warnings.append(f"no {flag} column: nobody is treated as consenting to {flag[8:]}")
    if "created_at" in cols:
        out["created_at"] = _dates(canon, reasons, "created_at", cols, file, now=now, required=False)
    _first_reason(reasons, out["customer_id"].duplicated() & reasons.isna(), "duplicate customer_id")
    return out, reasons, warnings


def _validate_products(canon, cols, file, *, now):
    reasons = pd.Series(None, index=canon.index, dtype=object)
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    out["product_id"] = _ids(canon, reasons, "product_id")
    for text_col in ("name", "category"):
        out[text_col] = canon[text_col].str.strip() if text_col in cols else ""
    for num in ("price", "unit_cost"):
        out[num] = _numbers(canon, reasons, num, cols, file, required=False) if num in cols else np.nan
    _first_reason(reasons, out["product_id"].duplicated() & reasons.isna(), "duplicate product_id")
    return out, reasons, []


def _validate_events(canon, cols, file, *, now):
    reasons = pd.Series(None, index=canon.index, dtype=object)
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    out["customer_id"] = _ids(canon, reasons, "customer_id")
    out["timestamp"] = _dates(canon, reasons, "timestamp", cols, file, now=now, required=True)
    out["type"] = _normalise_category(
        canon["type"], lambda t: t.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True))
    _first_reason(reasons, out["type"] == "", "type is blank")
    return out, reasons, []


def _validate_tickets(canon, cols, file, *, now):
    reasons = pd.Series(None, index=canon.index, dtype=object)
    out = pd.DataFrame({LINE_COL: canon[LINE_COL]})
    out["customer_id"] = _ids(canon, reasons, "customer_id")
    out["opened_at"] = _dates(canon, reasons, "opened_at", cols, file, now=now, required=True)
    if "resolved_at" in cols:
        out["resolved_at"] = _dates(canon, reasons, "resolved_at", cols, file, now=now, required=False)
    else:
        out["resolved_at"] = pd.NaT
    out["severity"] = (_normalise_category(canon["severity"], lambda t: t.str.strip().str.lower())
                       if "severity" in cols else "")
    if "sentiment" in cols:
        out["sentiment"] = _sentiment(canon["sentiment"])
    else:
        out["sentiment"] = np.nan
    out["text"] = canon["text"] if "text" in cols else ""  # data, never instructions
    return out, reasons, []


def _sentiment(s: pd.Series) -> pd.Series:
    words = {"negative": -1.0, "neutral": 0.0, "positive": 1.0, "angry": -1.0, "bad": -1.0, "good": 1.0}
    values, _ = parse_numbers(s)
    mapped = s.str.strip().str.lower().map(words)
    return values.fillna(mapped)


_VALIDATORS = {
    "orders": _validate_orders,
    "customers": _validate_customers,
    "products": _validate_products,
    "events": _validate_events,
    "tickets": _validate_tickets,
}


# --- helpers -----------------------------------------------------------------------------


def email_customer_id(email: str) -> str | None:
    """A stable, non-personal id for a customer known only by email ('e' + 12 hex)."""
    email = str(email).strip().lower()
    if not email:
        return ""
    return "e" + hashlib.sha1(email.encode()).hexdigest()[:12]


def _is_shopify_orders(headers) -> bool:
    norm = {schema.normalise_header(h) for h in headers}
    return SHOPIFY_ORDER_MARKERS <= norm


def _load_many(kind, paths, *, customers=None, **kw):
    tables, reports = [], []
    for p in paths:
        extra = {"customers": customers} if kind == "orders" else {}
        t, r = load_table(kind, p, **extra, **kw)
        tables.append(t)
        reports.append(r)
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    if kind == "orders":
        currencies = {t.attrs.get("currency") for t in tables} - {None}
        table.attrs["currency"] = currencies.pop() if len(currencies) == 1 else None
    return table, reports


def _report(raw: RawTable, kind, accepted, rejects, cols, rejects_dir, warnings) -> FileReport:
    reasons: dict[str, int] = {}
    if len(rejects):
        generic = rejects[REASON_COL].astype(str).str.replace(r"^'.*' is not", "value is not", regex=True)
        reasons = {k: int(v) for k, v in generic.value_counts().items()}
    rejects_path = None
    if rejects_dir is not None and len(rejects):
        rejects_path = str(_write_rejects(rejects, Path(rejects_dir), raw.path.name))
    elif rejects_dir is not None:
        stale = Path(rejects_dir) / f"{raw.path.name}.rejects.csv"
        stale.unlink(missing_ok=True)
    n_rejected = len(rejects)
    if accepted + n_rejected != raw.rows_read:  # the invariant every report keeps
        raise RuntimeError(f"{raw.path.name}: read {raw.rows_read} != accepted {accepted} + rejected {n_rejected}")
    return FileReport(
        file=raw.path.name, kind=kind, rows_read=raw.rows_read, rows_accepted=accepted,
        rows_rejected=n_rejected, reasons=reasons, columns=dict(cols),
        rejects_path=rejects_path, warnings=tuple(warnings),
    )


def _write_rejects(rejects: pd.DataFrame, folder: Path, name: str) -> Path:
    """Atomic write: a crash mid-way never leaves half a rejects file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.rejects.csv"
    tmp = target.with_suffix(".csv.tmp")
    cols = [LINE_COL, REASON_COL] + [c for c in rejects.columns if c not in (LINE_COL, REASON_COL)]
    rejects[cols].rename(columns={LINE_COL: "line", REASON_COL: "reason"}).to_csv(tmp, index=False)
    os.replace(tmp, target)
    return target
