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

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from tools import schema
from tools.csvout import write_csv
from tools.errors import DataError
from tools.ingest.read import LINE_COL, TABLE_SUFFIXES, RawTable, read_table
from tools.ingest.shopify import customers_from_orders, from_shopify_orders, is_shopify_orders
from tools.ingest.validate import REASON_COL, VALIDATORS, email_customer_id

__all__ = [
    "FileReport",
    "Store",
    "load_store",
    "load_orders",
    "load_table",
    "find_store_files",
    "store_summary",
    "resolve_columns",
    "email_customer_id",
    "REASON_COL",
]

KINDS = ("orders", "customers", "products", "events", "tickets")


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
            "file": self.file,
            "kind": self.kind,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "reasons": dict(self.reasons),
            "columns": dict(self.columns),
            "rejects_path": self.rejects_path,
            "warnings": list(self.warnings),
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
    skip: tuple[str, ...] = (),
) -> Store:
    """Load every table of a store folder (or a single orders file). `skip`: optional
    tables the caller does not use (left as None, no report); the customers of Shopify
    orders are always loaded, since the orders need them to know who bought."""
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
    # Shopify orders know customers by email: their customers file is read first, always
    shopify = bool(files.get("customers")) and _shopify_orders(files["orders"])
    skip = tuple(k for k in skip if not (k == "customers" and shopify))
    files = {k: v for k, v in files.items() if k == "orders" or k not in skip}
    kw = dict(column_map=column_map, rejects_dir=rejects_dir, now=now, max_bytes=max_bytes)
    side = {k: files[k] for k in SIDE_KINDS if files.get(k)}
    # a large store: the side tables load in a second process while this one loads the
    # orders (pandas holds the GIL: threads would not overlap). Customers load here, before
    # the orders, when the orders are Shopify's (emails -> ids) or there is no second process.
    parallel = _worth_a_process(side)
    before = {}
    if side.get("customers") and (not parallel or shopify):
        before["customers"] = side.pop("customers")
    child = _start_side(side, kw) if parallel and side else None
    try:
        first, reports = load_side_tables(before, kw)
        orders, reps = _load_many("orders", files["orders"], customers=first["customers"], **kw)
        tables, more = _finish_side(child, side, kw) if child else load_side_tables(side, kw)
        reports = _in_load_order(reports + reps + more)
    finally:
        if child is not None:
            _stop_side(child)
    tables = {k: tables[k] if tables[k] is not None else first[k] for k in SIDE_KINDS}
    contacts = orders.attrs.pop("contacts", None)
    if contacts is not None and len(contacts):  # Shopify: customers known from their orders too
        tables["customers"] = customers_from_orders(contacts, tables["customers"])
    currency = orders.attrs.get("currency")
    return Store(path, orders, reports=tuple(reports), currency=currency, **tables)


SIDE_KINDS = ("customers", "products", "events", "tickets")
LOAD_ORDER = ("customers", "orders", "products", "events", "tickets")


def _in_load_order(reports: list[FileReport]) -> list[FileReport]:
    """Reports in the order a one-process load gives them (customers, orders, products,
    events, tickets), whichever process loaded each."""
    return sorted(reports, key=lambda r: LOAD_ORDER.index(r.kind))


def _shopify_orders(paths: list[Path]) -> bool:
    from tools.ingest.read import read_header

    return any(is_shopify_orders(read_header(p) or []) for p in paths)


SIDE_PROCESS_BYTES = 32 * 2**20  # side tables at least this big load in a second process


def _worth_a_process(side: dict[str, list[Path]]) -> bool:
    if (os.cpu_count() or 1) < 2 or os.environ.get("RETENTION_LOAD_PROCESSES", "1") == "0":
        return False
    return sum(p.stat().st_size for paths in side.values() for p in paths) >= SIDE_PROCESS_BYTES


def _start_side(side: dict[str, list[Path]], kw: dict):
    tmp = Path(tempfile.mkdtemp(prefix="retention_load_"))
    with (tmp / "in.pkl").open("wb") as fh:
        pickle.dump((side, kw), fh)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.ingest.load_side", str(tmp / "in.pkl"), str(tmp / "out.pkl")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, tmp


def _finish_side(child, side: dict[str, list[Path]], kw: dict):
    """The child's tables and reports; its DataError is raised here. If the child died
    (killed, out of memory), the side tables are loaded in this process instead."""
    proc, tmp = child
    proc.wait()
    out = tmp / "out.pkl"
    if proc.returncode != 0 or not out.exists():
        return load_side_tables(side, kw)
    with out.open("rb") as fh:
        status, value = pickle.load(fh)
    if status == "error":
        raise value
    return value


def _stop_side(child) -> None:
    proc, tmp = child
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def load_side_tables(side: dict[str, list[Path]], kw: dict):
    """customers, products, events, tickets (those in `side`; None for the others) and
    their reports, in that order."""
    tables: dict[str, pd.DataFrame | None] = {}
    reports: list[FileReport] = []
    for kind in SIDE_KINDS:
        tables[kind] = None
        if side.get(kind):
            tables[kind], reps = _load_many(kind, side[kind], **kw)
            reports += reps
    return tables, reports


def load_orders(
    path: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    rejects_dir: str | Path | None = None,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> tuple[pd.DataFrame, FileReport]:
    """Load one orders file into the canonical orders table and its report."""
    return load_table(
        "orders", path, column_map=column_map, rejects_dir=rejects_dir, now=now, max_bytes=max_bytes
    )


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
    part = _read_part(
        kind, path, column_map=column_map, now=now, max_bytes=max_bytes, customers=customers
    )
    return _finish(part, rejects_dir)


@dataclass
class _Part:
    """One file read and validated, before its report: the accepted rows (with `_line`),
    the first reason found for each line not used, and what the report needs."""

    raw: RawTable
    kind: str
    table: pd.DataFrame
    reasons: dict[int, str]
    cols: dict[str, str]
    warnings: list[str]
    contacts: pd.DataFrame | None = None


def _read_part(kind, path, *, column_map=None, now=None, max_bytes=None, customers=None) -> _Part:
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r}; one of {KINDS}")
    raw = read_table(path, **({"max_bytes": max_bytes} if max_bytes else {}))
    now = now or datetime.now()
    frame = raw.frame
    warnings = list(raw.warnings)
    reasons: dict[int, str] = {}
    contacts = None
    if kind == "orders" and is_shopify_orders(frame.columns):
        frame, reasons, shop_warn, contacts = from_shopify_orders(frame, customers, raw.path.name)
        warnings += shop_warn
    if frame.empty and kind == "orders" and not reasons:
        raise DataError("has a header but no rows", file=raw.path.name)
    cols = resolve_columns(frame.columns, kind, column_map or {}, raw.path.name)
    canon = frame[[LINE_COL]].copy()
    for name, header in cols.items():
        col = frame[header]
        typed = pd.api.types.is_datetime64_any_dtype(col) or (
            pd.api.types.is_numeric_dtype(col)
            and name not in ("customer_id", "order_id", "product_id")
        )
        canon[name] = col if typed else col.astype(str)
    table, row_reasons, more_warn = VALIDATORS[kind](canon, cols, raw.path.name, now=now)
    warnings += more_warn
    if kind == "orders":
        table[schema.ORDER_KEY_COL] = (
            frame[schema.ORDER_KEY_COL].to_numpy()
            if schema.ORDER_KEY_COL in frame
            else table["order_id"]
        )
        if schema.RETURNED_COL in frame:  # Shopify's fully refunded orders
            table[schema.RETURNED_COL] = frame[schema.RETURNED_COL].to_numpy(dtype=bool) | (
                table[schema.RETURNED_COL].to_numpy(dtype=bool)
                if schema.RETURNED_COL in table
                else False
            )
    bad = row_reasons.notna()
    if bad.any():
        # a line with any row not usable (a Shopify line and its refund) is rejected whole
        for line, why in zip(table.loc[bad, LINE_COL], row_reasons[bad]):
            reasons.setdefault(int(line), why)
        table = table.loc[~table[LINE_COL].isin(list(reasons))]
    return _Part(raw, kind, table, reasons, cols, warnings, contacts)


def _finish(part: _Part, rejects_dir) -> tuple[pd.DataFrame, FileReport]:
    """The part's table and report. Every line of the file is either accepted (some row of
    the table came from it) or rejected with its first reason, written as it stood in the
    file, so rows read = accepted + rejected by construction."""
    raw, table = part.raw, part.table
    lines = raw.frame[LINE_COL]
    used = lines.isin(table[LINE_COL].unique())
    rejects = raw.frame.loc[~used].copy()
    rejects[REASON_COL] = (
        rejects[LINE_COL].map(part.reasons).fillna("not used (no reason recorded)")
    )
    if raw.bad_lines:
        rejects = pd.concat(
            [
                rejects,
                pd.DataFrame(
                    {
                        LINE_COL: [n for n, _ in raw.bad_lines],
                        "_raw": [t for _, t in raw.bad_lines],
                        REASON_COL: "line does not split into the header's fields",
                    }
                ),
            ],
            ignore_index=True,
        )
    table = table.drop(columns=[LINE_COL])
    table.index = pd.RangeIndex(len(table))  # (reset_index would copy every column again)
    report = _report(
        raw, part.kind, int(used.sum()), rejects, part.cols, rejects_dir, part.warnings
    )
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
    purchases = o[schema.purchase_mask(o)]
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


def resolve_columns(headers, kind: str, column_map: dict[str, str], file: str) -> dict[str, str]:
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
    if kind == "customers" and "customer_id" in missing and ({"email", "phone"} & cols.keys()):
        missing.remove("customer_id")  # Shopify's customers export: Email is the key
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


# --- helpers -----------------------------------------------------------------------------


def _load_many(kind, paths, *, customers=None, rejects_dir=None, **kw):
    """One kind's files, concatenated. Orders in several overlapping exports (a Shopify store
    exported more than once) count once: each order is kept from the newest export that
    has it (the file whose latest order is latest); its rows in the other files are
    rejected with the reason."""
    extra = {"customers": customers} if kind == "orders" else {}
    parts = [_read_part(kind, p, **extra, **kw) for p in paths]
    if kind == "orders" and len(parts) > 1:
        _drop_repeated_orders(parts)
    tables, reports = [], []
    for part in parts:
        t, r = _finish(part, rejects_dir)
        tables.append(t)
        reports.append(r)
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    if kind == "orders" and schema.RETURNED_COL in table:  # files without it: no such order
        table[schema.RETURNED_COL] = table[schema.RETURNED_COL].fillna(False).astype(bool)
    if kind == "orders":
        currencies = {t.attrs.get("currency") for t in tables} - {None}
        table.attrs["currency"] = currencies.pop() if len(currencies) == 1 else None
        key = table.pop(schema.ORDER_KEY_COL)
        if len(parts) > 1:  # one order id for two orders (a Name reused): the key tells them apart
            names = pd.DataFrame({"o": table["order_id"], "k": key}).drop_duplicates()
            reused = names["o"][names["o"].duplicated()].unique()
            if len(reused):
                clash = table["order_id"].isin(reused)
                table.loc[clash, "order_id"] = (
                    table.loc[clash, "order_id"] + " (" + key[clash].astype(str) + ")"
                )
        contacts = [p.contacts for p in parts if p.contacts is not None]
        if contacts:
            table.attrs["contacts"] = pd.concat(contacts, ignore_index=True)
    return table, reports


def _drop_repeated_orders(parts: list[_Part]) -> None:
    newest_first = sorted(
        range(len(parts)),
        key=lambda i: (
            parts[i].table["order_date"].max() if len(parts[i].table) else pd.Timestamp.min,
            parts[i].raw.path.name,
        ),
        reverse=True,
    )
    seen: dict[str, str] = {}
    for i in newest_first:
        part = parts[i]
        keys = part.table[schema.ORDER_KEY_COL].astype(str)
        again = keys.map(seen)
        repeated = again.notna()
        if repeated.any():
            for line, other in zip(part.table.loc[repeated, LINE_COL], again[repeated]):
                part.reasons.setdefault(
                    int(line), f"order also in the newer export {other} (counted once)"
                )
            part.table = part.table.loc[~repeated]
        for k in keys[~repeated].unique():
            seen[k] = part.raw.path.name


def _report(raw: RawTable, kind, accepted, rejects, cols, rejects_dir, warnings) -> FileReport:
    reasons: dict[str, int] = {}
    if len(rejects):
        generic = (
            rejects[REASON_COL].astype(str).str.replace(r"^'.*' is not", "value is not", regex=True)
        )
        reasons = {k: int(v) for k, v in generic.value_counts().items()}
    rejects_path = None
    if rejects_dir is not None and len(rejects):
        rejects_path = str(_write_rejects(rejects, Path(rejects_dir), raw.path.name))
    elif rejects_dir is not None:
        stale = Path(rejects_dir) / f"{raw.path.name}.rejects.csv"
        stale.unlink(missing_ok=True)
    n_rejected = len(rejects)
    assert accepted + n_rejected == raw.rows_read, raw.path.name  # true by construction (_finish)
    return FileReport(
        file=raw.path.name,
        kind=kind,
        rows_read=raw.rows_read,
        rows_accepted=accepted,
        rows_rejected=n_rejected,
        reasons=reasons,
        columns=dict(cols),
        rejects_path=rejects_path,
        warnings=tuple(warnings),
    )


def _write_rejects(rejects: pd.DataFrame, folder: Path, name: str) -> Path:
    """Atomic and inert (`tools.csvout`): a crash mid-way never leaves half a rejects file,
    and a cell such as `=HYPERLINK(...)` from the store's file cannot run in a spreadsheet."""
    cols = [LINE_COL, REASON_COL] + [c for c in rejects.columns if c not in (LINE_COL, REASON_COL)]
    return write_csv(
        rejects[cols].rename(columns={LINE_COL: "line", REASON_COL: "reason"}),
        Path(folder) / f"{name}.rejects.csv",
    )
