"""One kind of table of a store, from its files to the canonical table and the load report.

`read_part` reads one file (`tools.ingest.read`), maps Shopify's exports
(`tools.ingest.shopify`), finds the columns (`resolve_columns`: synonyms, then --map) and
validates the rows (`tools.ingest.validate`); `finish_part` turns it into the accepted table
and its `FileReport`, writing the rejected rows with their reasons to the rejects file;
`load_many` does both for one kind's files, counting an order in overlapping exports once.
Every line read is accepted or rejected: rows read = rows accepted + rows rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from tools import schema
from tools.csvout import write_csv
from tools.errors import DataError
from tools.ingest.read import LINE_COL, RawTable, read_table
from tools.ingest.shopify import from_shopify_orders, is_shopify_orders
from tools.ingest.validate import REASON_COL, VALIDATORS

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


@dataclass
class FilePart:
    """One file read and validated, before its report: the accepted rows (with `_line`),
    the first reason found for each line not used, and what the report needs."""

    raw: RawTable
    kind: str
    table: pd.DataFrame
    reasons: dict[int, str]
    cols: dict[str, str]
    warnings: list[str]
    contacts: pd.DataFrame | None = None


def read_part(kind, path, *, column_map=None, now=None, max_bytes=None, customers=None) -> FilePart:
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
    canon_cols = {LINE_COL: frame[LINE_COL]}
    coded = {}  # the text columns the reader also gave dictionary-coded (Parquet)
    for name, header in cols.items():
        col = frame[header]
        typed = pd.api.types.is_datetime64_any_dtype(col) or (
            pd.api.types.is_numeric_dtype(col)
            and name not in ("customer_id", "order_id", "product_id")
        )
        if frame is raw.frame and header in raw.text:
            coded[name] = raw.text[header]
            canon_cols[name] = col  # (Python strings already)
        else:
            canon_cols[name] = col if typed else col.astype(str)
    # the file's columns, not copies: no validator writes to `canon`
    canon = pd.DataFrame(canon_cols, copy=False)
    table, row_reasons, more_warn = VALIDATORS[kind](
        canon, cols, raw.path.name, now=now, coded=coded
    )
    raw.text = {}  # (what finish_part needs is the frame)
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
    return FilePart(raw, kind, table, reasons, cols, warnings, contacts)


def finish_part(part: FilePart, rejects_dir) -> tuple[pd.DataFrame, FileReport]:
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


def load_many(kind, paths, *, customers=None, rejects_dir=None, **kw):
    """One kind's files, concatenated. Orders in several overlapping exports (a Shopify store
    exported more than once) count once: each order is kept from the newest export that
    has it (the file whose latest order is latest); its rows in the other files are
    rejected with the reason."""
    extra = {"customers": customers} if kind == "orders" else {}
    parts = [read_part(kind, p, **extra, **kw) for p in paths]
    if kind == "orders" and len(parts) > 1:
        _drop_repeated_orders(parts)
    tables, reports = [], []
    for part in parts:
        t, r = finish_part(part, rejects_dir)
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


def _drop_repeated_orders(parts: list[FilePart]) -> None:
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
    assert accepted + n_rejected == raw.rows_read, (
        raw.path.name
    )  # true by construction (finish_part)
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
