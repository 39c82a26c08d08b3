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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from tools import schema
from tools.errors import DataError
from tools.ingest.read import TABLE_SUFFIXES
from tools.ingest.shopify import customers_from_orders, is_shopify_orders
from tools.ingest.tables import KINDS, FileReport, finish_part, load_many, read_part
from tools.ingest.validate import REASON_COL, email_customer_id

__all__ = [
    "Store",
    "load_store",
    "load_orders",
    "load_table",
    "find_store_files",
    "store_summary",
    "email_customer_id",
    "REASON_COL",
]


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
        orders, reps = load_many("orders", files["orders"], customers=first["customers"], **kw)
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
            tables[kind], reps = load_many(kind, side[kind], **kw)
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
    part = read_part(
        kind, path, column_map=column_map, now=now, max_bytes=max_bytes, customers=customers
    )
    return finish_part(part, rejects_dir)


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


def _check_map(column_map: dict[str, str], files: dict[str, list[Path]]) -> None:
    known = {name for kind in KINDS for name in schema.SYNONYMS[kind]}
    for name in column_map:
        if name not in known:
            raise DataError(
                f"--map names an unknown column '{name}'; known: {', '.join(sorted(known))}"
            )
