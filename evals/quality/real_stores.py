"""Real stores end to end: every merchant step on every real store.

    python -m evals.quality.real_stores [--quick] [--store NAME ...] [--data DIR] [--subprocess] [--json F]

The stores are the real files in `../shared/data/` (see its README): each Shopify folder under
`shopify/` used as it is (read-only), the Online Retail sample CSV and the full Online Retail
parquet (each copied into a temp store folder as `orders.csv` / `orders.parquet`), and the full
CDNOW master that ships inside lifetimes (converted into a temp `orders.csv`). Each store gets
its own temporary workspace and goes through what a merchant does, with the CLI commands
(in-process by default, `--subprocess` for a fresh `python -m agent.cli.main` per step):

    load       tools.ingest.load.load_store (the load report and the rejects files are read from it)
    summary    retention summary
    score      retention score --out scores.csv  (default model; CDNOW --as-of 1997-09-30
               --horizon-days 273; the others as of their last order, 365 days)
    backtest   retention backtest  (CDNOW 1997-09-30 / 273 days; full Online Retail 2011-06-30 /
               162 days; the others a holdout of a third of their history, 7 to 180 days; a
               store with under 14 days of history is expected to be refused in one line)
    brief      retention brief  (CDNOW --week-ending 1997-09-30)
    chat       retention chat, one-shot: "who should I contact this week?", "why is customer
               <top> at risk?" (top: the scores' largest churn probability x predicted CLV),
               "draft a win-back email for my top 3 at-risk customers", and "what should I
               recommend to customer <top>?" (where a next best product is shown)
    plan       retention campaigns plan
    list/show  retention approvals list --json / show <first draft>
    approve    retention approvals approve <up to 3 pending drafts> --by real-stores-eval
    export     retention approvals export --out <workspace>/exports/eval_export.csv

`--quick` (what `make test` runs, tests/evals/test_real_stores.py) is the shared stores without the
full Online Retail file and CDNOW, through load, summary, score, the first chat turn, plan and
list. The chat runs offline (RETENTION_MODEL is cleared); its playbook index is built once per
playbook version and copied into each workspace (cache: $RETENTION_EVAL_CACHE, default
~/.cache/retention/evals), since indexing 288 chunks costs ~20 s on two cores. On a 2-core
machine the quick part takes ~35 s with that cache, ~60 s on the first run; the full run ~5 min
(the full Online Retail file ~3 min of it).

Invariants, each a named check on every store (pass / FAIL / n/a), exit status 1 when any fails:

- every step ok: each step exits 0 with its output (a clean one-line refusal counts only
  where the eval expects one: a file without amounts or customers, a history too short for a
  backtest, an export with nothing approved);
- no traceback: no step's stderr, no log the step wrote to <workspace>/logs (where the CLI
  keeps a bug's traceback) and no warning the agent/tools loggers gave has a traceback;
- rows read = accepted + rejected: per file of the load report, and rows read = the file's
  own row count, the rejects file holds exactly the rejected rows, each line once;
- no NaN or infinite score: every numeric column of every scores table written (the --out
  file and each workspace snapshot);
- one score row per customer seen: each scores table has exactly the customers with an
  order row on or before its as-of date (loaded orders), each once;
- no placeholder customer id: no scored id is "", "nan", "none", "0", "guest", ... ;
- customers = file: distinct real customer ids in the file = customers loaded (Online Retail
  and CDNOW, whose id column is unambiguous; n/a for Shopify, whose key is the loader's choice);
- revenue = file, to the cent: the loaded orders' amount sum = the revenue the file gives its
  customers, net of refunds, computed here from the raw file with pandas, independently of
  the loader (definitions below);
- revenue accounted for: loaded + the rejected rows' revenue, by reason = the file's revenue
  (all orders, with or without a customer), so that a gap shows rows lost or counted twice;
- product names, not codes: the next best product in the scores file and in the chat's
  recommendation is a product name from the file, and no product code (SKU / StockCode)
  appears in a chat answer, the brief or a draft without its name beside it (n/a: no names);
- currency shown: the file's Currency values appear in the summary and the brief output
  (n/a: no Currency column);
- store folder untouched: no file of the store folder was written, added or removed.

Expected revenue, from the raw files:

- Shopify orders export: per order (Shopify's order `Id`, or `Name` where there is no Id; an
  order in several overlapping exports counts once, the copy in the most recent export
  winning), the order-level `Total` (what the customer paid: after discounts, with shipping,
  tax and tips; Subtotal + Shipping + Taxes where there is no Total) minus `Refunded Amount`.
  Refunds are taken from the Total (a full refund equals it, shipping and tax included), so
  this is the only basis on which "net of refunds, to the cent" is defined by the file itself:
  on the Subtotal basis a refund that includes shipping or tax cannot be split from the file
  (Subtotal minus Refunded Amount gives a fully refunded order minus its shipping). It is also
  how tools/ingest/shopify.py defines a line's amount now (its share, by quantity x price, of the
  order's Total). The merchandise figure (Subtotal less the refund capped at the Subtotal) is
  shown beside it, for a store that wants revenue without shipping and tax. (Total minus
  Shipping minus Taxes is not a merchandise figure either: for tax-inclusive stores, e.g.
  cosmetics_eur, the Subtotal already contains the tax.) Cancelled (`Cancelled at` set) and
  voided orders are not revenue. An order has a customer when it carries an Email, a Phone,
  a Billing or Shipping Phone or a Customer ID. Name is not unique across exports:
  repeat_exports_bdt has Names that stand for 2 or 3 different orders (different Ids, dates
  and products), so orders are told apart by Id.
- Online Retail: Quantity x UnitPrice of every line (returns net), the customer's revenue
  being that of lines with a real CustomerID.
- CDNOW: the amount column (every row has a customer).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CENT = 0.005
PLACEHOLDER_IDS = frozenset(
    {
        "",
        "nan",
        "none",
        "null",
        "nil",
        "na",
        "n/a",
        "0",
        "-",
        "(blank)",
        "blank",
        "guest",
        "unknown",
        "anonymous",
        "undefined",
        "#n/a",
    }
)
CHAT_CONTACT = "who should I contact this week?"
CHAT_WHY = "why is customer {top} at risk?"
CHAT_WINBACK = "draft a win-back email for my top 3 at-risk customers"
CHAT_RECOMMEND = "what should I recommend to customer {top}?"
EVAL_ACTOR = "real-stores-eval"

FULL_STEPS = (
    "load",
    "summary",
    "score",
    "backtest",
    "brief",
    "chat:contact",
    "chat:why",
    "chat:win-back",
    "chat:recommend",
    "plan",
    "list",
    "show",
    "approve",
    "export",
)
QUICK_STEPS = ("load", "summary", "score", "chat:contact", "plan", "list")
CHECKS = (
    "every step ok",
    "no traceback",
    "rows read = accepted + rejected",
    "no NaN or infinite score",
    "one score row per customer seen",
    "no placeholder customer id",
    "customers = file",
    "revenue = file, to the cent",
    "revenue accounted for",
    "product names, not codes",
    "currency shown",
    "store folder untouched",
)


# --- where the data is -------------------------------------------------------------------------


def find_data_dir(explicit: str | Path | None = None) -> Path | None:
    """--data, else $RETENTION_SHARED_DATA, else ../shared/data beside the repo (as
    tests/builders.py finds it), else /work/shared/data."""
    cands = [
        explicit,
        os.environ.get("RETENTION_SHARED_DATA"),
        REPO.parent / "shared" / "data",
        Path("/work/shared/data"),
    ]
    for c in cands:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def cdnow_master_path() -> Path:
    return Path(str(files("lifetimes") / "datasets" / "CDNOW_master.txt"))


@dataclass
class StoreSpec:
    name: str
    kind: str  # shopify | online_retail | cdnow
    source: Path  # the shared folder or file
    quick: bool = True
    score_args: tuple[str, ...] = ()
    backtest: tuple[str, int] | None = None  # (as-of, horizon) when fixed
    brief_args: tuple[str, ...] = ()
    horizon_days: int = 365  # the chat's (RETENTION_HORIZON_DAYS)


def discover(data: Path | None) -> list[StoreSpec]:
    specs: list[StoreSpec] = []
    if data is not None:
        shop = data / "shopify"
        if shop.is_dir():
            for d in sorted(p for p in shop.iterdir() if p.is_dir()):
                specs.append(StoreSpec(d.name, "shopify", d))
        sample = data / "online_retail_lines_sample.csv"
        if sample.exists():
            specs.append(StoreSpec("online_retail_sample", "online_retail", sample))
        full = data / "online_retail_lines.parquet"
        if full.exists():
            specs.append(
                StoreSpec(
                    "online_retail_full",
                    "online_retail",
                    full,
                    quick=False,
                    backtest=("2011-06-30", 162),
                )
            )
    master = cdnow_master_path()
    if master.exists():
        specs.append(
            StoreSpec(
                "cdnow_master",
                "cdnow",
                master,
                quick=False,
                score_args=("--as-of", "1997-09-30", "--horizon-days", "273"),
                backtest=("1997-09-30", 273),
                brief_args=("--week-ending", "1997-09-30"),
                horizon_days=273,
            )
        )
    return specs


def prepare_store(spec: StoreSpec, tmp: Path) -> Path:
    """The store folder the commands get: the shared Shopify folder itself (read-only), or a
    temp folder with the file under the name a store needs."""
    if spec.kind == "shopify":
        return spec.source
    folder = tmp / "store"
    folder.mkdir(parents=True, exist_ok=True)
    if spec.kind == "online_retail":
        shutil.copyfile(spec.source, folder / ("orders" + spec.source.suffix.lower()))
    else:
        raw = read_cdnow(spec.source)
        pd.DataFrame(
            {
                "customer_id": raw["customer_id"],
                "order_id": [f"T{i:05d}" for i in range(len(raw))],
                "order_date": raw["date"],
                "quantity": raw["quantity"],
                "amount": raw["amount"],
            }
        ).to_csv(folder / "orders.csv", index=False)
    return folder


def read_cdnow(path: Path) -> pd.DataFrame:
    """CDNOW_master.txt: whitespace-separated customer id, date YYYYMMDD, CDs, dollars
    (a header line first)."""
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, skiprows=_header_lines(path))
    raw = raw.iloc[:, -4:]
    raw.columns = ["customer_id", "date", "quantity", "amount"]
    return raw.reset_index(drop=True)


def _header_lines(path: Path) -> int:
    with path.open() as fh:
        first = fh.readline().split()
    return 0 if first and first[0].isdigit() else 1


# --- what the files say (independent of tools/) -------------------------------------------------


def _norm_header(h: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(h).lower())


def _norm_text(s) -> str:
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
    max_line: dict = field(default_factory=dict)  # file -> the last row's physical line
    file_total: float = 0.0  # all orders, with or without a customer
    customer_revenue: float = 0.0  # orders with a customer
    merchandise_revenue: float | None = None  # Shopify: Subtotal less refunds capped at it
    customers: int | None = None  # distinct real ids (Online Retail, CDNOW)
    currencies: tuple[str, ...] = ()
    names: frozenset = frozenset()
    codes: frozenset = frozenset()  # codes that are not also names
    code_to_name: dict = field(default_factory=dict)
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
    names = {_norm_text(n) for n in lines["product_name"] if str(n).strip()}
    codes = {_norm_text(c) for c in lines["product_code"] if str(c).strip()}
    exp.names, exp.codes = frozenset(names), frozenset(codes - names)
    named = lines.loc[
        lines["product_code"].str.strip().ne("") & lines["product_name"].str.strip().ne("")
    ]
    exp.code_to_name = dict(zip(named["product_code"].map(_norm_text), named["product_name"]))
    names_by_n = lines.groupby("key_name")["key"].nunique()
    if (names_by_n > 1).any():
        exp.notes.append(
            f"{int((names_by_n > 1).sum())} order Names stand for more than one order Id "
            "across the exports: orders are told apart by Id"
        )
    if exp.copies:
        exp.notes.append(f"{exp.copies} order copies in overlapping exports (counted once)")
    return exp


def _latest_copy(lines: pd.DataFrame) -> dict:
    """order key -> the file whose copy counts: the export with the newest order date."""
    newest = lines.groupby("file")["created"].max().fillna(pd.Timestamp("1970-01-01", tz="UTC"))
    rank = {f: i for i, f in enumerate(sorted(newest.index, key=lambda f: (newest[f], f)))}
    files_of = lines.groupby("key")["file"].unique()
    return {k: max(fs, key=rank.get) for k, fs in files_of.items()}


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
    names = {_norm_text(x) for x in desc.unique() if x}
    codes = {_norm_text(x) for x in code.unique() if x}
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
        code_to_name=dict(zip(named["c"].map(_norm_text), named["d"])),
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


# --- running the CLI --------------------------------------------------------------------------


@dataclass
class Run:
    rc: int
    out: str
    err: str
    log: str
    seconds: float


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)


BASE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "RETENTION_MODEL": "",
    "COLUMNS": "250",
}


class Cli:
    """`retention ARGS`: in this process (agent.cli.main.main, output captured, an escaping
    exception printed as a traceback the way Python would) or as a fresh process."""

    def __init__(self, *, subprocess_mode: bool = False, timeout: float = 1800) -> None:
        self.subprocess_mode = subprocess_mode
        self.timeout = timeout

    def __call__(self, argv: list[str], env: dict[str, str] | None = None) -> Run:
        env = {**BASE_ENV, **(env or {})}
        start = time.perf_counter()
        if self.subprocess_mode:
            try:
                p = subprocess.run(
                    [sys.executable, "-m", "agent.cli.main", *argv],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    env={**os.environ, **env},
                )
                return Run(p.returncode, p.stdout, p.stderr, "", time.perf_counter() - start)
            except subprocess.TimeoutExpired as exc:
                return Run(
                    124,
                    str(exc.stdout or ""),
                    f"timed out after {self.timeout:.0f} s",
                    "",
                    time.perf_counter() - start,
                )
        out, err, cap = io.StringIO(), io.StringIO(), _Capture()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        loggers = [logging.getLogger(n) for n in ("agent", "tools", "knowledge")]
        for lg in loggers:
            lg.addHandler(cap)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    from agent.cli.main import main

                    _wide_consoles()
                    rc = main(argv)
                except SystemExit as exc:
                    rc = exc.code if isinstance(exc.code, int) else 1
                except BaseException:  # what an uncaught exception prints in a real process
                    traceback.print_exc()
                    rc = 1
        finally:
            for lg in loggers:
                lg.removeHandler(cap)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return Run(
            int(rc or 0),
            out.getvalue(),
            err.getvalue(),
            "\n".join(cap.lines),
            time.perf_counter() - start,
        )


def _consoles() -> list:
    """The rich consoles the CLI modules made at import."""
    try:
        from rich.console import Console
    except ImportError:  # pragma: no cover
        return []
    return [
        v
        for name, mod in list(sys.modules.items())
        if name.startswith(("agent.", "ui.")) and mod is not None
        for v in list(vars(mod).values())
        if isinstance(v, Console)
    ]


def _wide_consoles() -> None:
    """Rich consoles made at import keep the width they found: set wide ones, so that a
    currency or a product name is not wrapped mid-word."""
    for c in _consoles():
        c.width = 250


def kb_seed(progress=print) -> Path | None:
    """A playbook index (Chroma folder) built once per knowledge/ version and embedder, to
    copy into each store's workspace. None when it cannot be built (the chat then indexes)."""
    try:
        import chromadb

        from knowledge import KnowledgeBase
        from knowledge.embeddings import MiniLMEmbedder
    except Exception:  # noqa: BLE001 - the chat step will show what is wrong
        return None
    h = hashlib.sha256()
    kdir = REPO / "knowledge"
    for p in sorted(kdir.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".md", ".yaml", ".yml", ".json"):
            h.update(str(p.relative_to(kdir)).encode())
            h.update(p.read_bytes())
    h.update(MiniLMEmbedder.name.encode())
    h.update(str(getattr(chromadb, "__version__", "")).encode())
    root = Path(
        os.environ.get("RETENTION_EVAL_CACHE") or Path.home() / ".cache" / "retention" / "evals"
    )
    target = root / f"kb-{h.hexdigest()[:16]}"
    if (target / "chroma").is_dir():
        return target / "chroma"
    try:
        root.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix="kb-build-", dir=root))
    except OSError:
        build, target = Path(tempfile.mkdtemp(prefix="retention_kb_")), None
    progress("real stores: indexing the playbooks once (cached for later runs) ...")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            KnowledgeBase(build / "chroma").index()
    except Exception:  # noqa: BLE001
        shutil.rmtree(build, ignore_errors=True)
        return None
    if target is None:
        return build / "chroma"
    try:
        os.replace(build, target)
    except OSError:  # another run got there first
        shutil.rmtree(build, ignore_errors=True)
    return target / "chroma"


# --- results ------------------------------------------------------------------------------------


@dataclass
class Step:
    status: str  # ok | n/a | FAIL | -
    reason: str = ""
    seconds: float = 0.0


@dataclass
class Check:
    status: str  # pass | FAIL | n/a
    detail: str = ""


@dataclass
class StoreResult:
    name: str
    steps: dict[str, Step] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    seconds: float = 0.0

    def failures(self) -> dict[str, str]:
        return {k: c.detail for k, c in self.checks.items() if c.status == "FAIL"}

    def explain(self) -> str:
        lines = [f"{self.name}: {len(self.failures())} invariant(s) fail"]
        lines += [f"  {k}: {v}" for k, v in self.failures().items()]
        lines += [
            f"  step {k}: {s.status} {s.reason}"
            for k, s in self.steps.items()
            if s.status == "FAIL"
        ]
        return "\n".join(lines)


def _short(text: str, n: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _error_of(run: Run) -> str:
    """The one line a person would read: the exception of a traceback (printed, or kept in
    the workspace's logs), else stderr's first line."""
    err = run.err.strip()
    for text, said in ((err, ""), (run.log, f"{_short(err, 100)} | logged ")):
        if "Traceback" in text:
            tail = [ln for ln in text[text.rindex("Traceback") :].splitlines() if ln.strip()]
            where = next(
                (ln.strip() for ln in reversed(tail) if ln.strip().startswith("File ")), ""
            )
            exc = next(
                (ln.strip() for ln in reversed(tail) if not ln.startswith(" ")), tail[-1].strip()
            )
            return _short(f"{said}traceback: {exc} ({where})", 400)
    if err:
        return _short(
            err.splitlines()[0] if len(err.splitlines()) == 1 else " ".join(err.splitlines())
        )
    return _short(
        run.out.strip().splitlines()[-1] if run.out.strip() else f"exit {run.rc}, no output"
    )


def _traceback_in(run: Run) -> bool:
    return "Traceback" in run.err or "Traceback" in run.log


# --- one store ------------------------------------------------------------------------------------


class StoreEval:
    def __init__(
        self, spec: StoreSpec, *, quick: bool, tmp: Path, cli: Cli, kb: Path | None
    ) -> None:
        self.spec, self.quick, self.tmp, self.cli, self.kb = spec, quick, tmp, cli, kb
        self.ws = tmp / "workspace"
        self.r = StoreResult(spec.name)
        self.runs: dict[str, Run] = {}
        self.texts: dict[str, str] = {}  # shown text, for the name and currency checks
        self.loaded = None
        self.exp: Expected | None = None
        self.load_error: str | None = None

    # steps ------------------------------------------------------------------------------------

    def cli_step(
        self,
        step: str,
        argv: list[str],
        *,
        env: dict | None = None,
        refusal_ok: str | None = None,
        ok_if=None,
    ) -> Run:
        """Run one command; ok when it exits 0 (and `ok_if(run)` gives no complaint); a
        one-line refusal (exit 2) is n/a where `refusal_ok` says why one is expected."""
        logs = self.ws / "logs"  # where the CLI keeps the traceback of a bug (stderr gets one line)
        before = _folder_state(logs) if logs.is_dir() else {}
        run = self.cli(argv + ["--workspace", str(self.ws)], env=env)
        after = _folder_state(logs) if logs.is_dir() else {}
        new = [logs / k for k in after if before.get(k) != after[k]]
        if new:
            run.log = "\n".join(
                [run.log] + [p.read_text(errors="replace")[-20000:] for p in new]
            ).strip()
        self.runs[step] = run
        if run.rc == 0 and not _traceback_in(run):
            problem = ok_if(run) if ok_if else None
            self.r.steps[step] = (
                Step("FAIL", problem, run.seconds) if problem else Step("ok", "", run.seconds)
            )
        elif (
            run.rc == 2
            and refusal_ok
            and not _traceback_in(run)
            and len(run.err.strip().splitlines()) <= 2
        ):
            self.r.steps[step] = Step("n/a", _short(f"{refusal_ok}: {_error_of(run)}"), run.seconds)
        else:
            self.r.steps[step] = Step("FAIL", _error_of(run), run.seconds)
        return run

    def run(self) -> StoreResult:
        t0 = time.perf_counter()
        spec = self.spec
        steps = QUICK_STEPS if self.quick else FULL_STEPS
        self.r.steps = {s: Step("-") for s in FULL_STEPS}
        before = _folder_state(spec.source if spec.source.is_dir() else spec.source.parent)
        store = prepare_store(spec, self.tmp)
        self.store = store
        self.ws.mkdir(parents=True, exist_ok=True)
        if self.kb is not None:
            shutil.copytree(self.kb, self.ws / "chroma")
        try:
            self.exp = expected_for(spec, store)
        except Exception as exc:  # noqa: BLE001 - the eval's own reading of the file
            self.exp = None
            self.r.info["expected_error"] = f"{type(exc).__name__}: {exc}"
        unusable = self.exp.unusable if self.exp else None
        refuse = f"expected: {unusable}" if unusable else None
        self.step_load(refuse)
        self.cli_step("summary", ["summary", "--store", str(store)], refusal_ok=refuse)
        self.texts["summary"] = self.runs["summary"].out
        scores_csv = self.ws / "eval_scores.csv"
        self.cli_step(
            "score",
            ["score", "--store", str(store), "--out", str(scores_csv), *spec.score_args],
            refusal_ok=refuse,
            ok_if=lambda r: None if scores_csv.exists() else "no scores file written",
        )
        scores = _read_scores_csv(scores_csv)
        top = _top_customer(scores)
        self.r.info["top_customer"] = top
        env = {"RETENTION_HORIZON_DAYS": str(spec.horizon_days)}
        if "backtest" in steps:
            self.step_backtest(refuse)
        if "brief" in steps:
            self.cli_step(
                "brief",
                ["brief", "--store", str(store), *spec.brief_args],
                refusal_ok=refuse,
                ok_if=lambda r: (
                    None if list(self.ws.glob("briefs/*/brief.md")) else "no brief.md written"
                ),
            )
            self.texts["brief"] = self.runs["brief"].out + "\n".join(
                p.read_text() for p in self.ws.glob("briefs/*/brief.md")
            )
        turns = [("chat:contact", CHAT_CONTACT)]
        if not self.quick:
            turns += [
                ("chat:why", CHAT_WHY),
                ("chat:win-back", CHAT_WINBACK),
                ("chat:recommend", CHAT_RECOMMEND),
            ]
        for step, message in turns:
            if "{top}" in message and top is None:
                self.r.steps[step] = Step(
                    "n/a" if unusable else "FAIL", "no top customer: the score step gave no scores"
                )
                continue
            text = message.format(top=top)
            self.cli_step(
                step,
                ["chat", "--store", str(store), text],
                env=env,
                refusal_ok=refuse,
                ok_if=lambda r, t=text: _chat_problem(r.out, t, top),
            )
            self.texts[step] = self.runs[step].out
        self.cli_step(
            "plan", ["campaigns", "plan", "--store", str(store)], env=env, refusal_ok=refuse
        )
        drafts = self.step_approvals(steps)
        self.r.seconds = time.perf_counter() - t0
        self.check_all(scores_csv, scores, drafts, before)
        self.r.seconds = time.perf_counter() - t0
        return self.r

    def step_load(self, refuse: str | None) -> None:
        t = time.perf_counter()
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                from tools.ingest.load import load_store

                self.loaded = load_store(self.store, rejects_dir=self.ws / "rejects")
            self.r.steps["load"] = Step("ok", "", time.perf_counter() - t)
        except Exception as exc:  # noqa: BLE001
            data_error = type(exc).__name__ == "DataError"
            self.load_error = f"{type(exc).__name__}: {exc}"
            if not data_error:
                tb = traceback.format_exc()
                where = [ln.strip() for ln in tb.splitlines() if ln.strip().startswith("File ")]
                self.runs["load"] = Run(1, "", tb, "", time.perf_counter() - t)
                reason = f"traceback: {type(exc).__name__}: {exc} ({where[-1] if where else ''})"
                self.r.steps["load"] = Step("FAIL", _short(reason), time.perf_counter() - t)
            elif refuse:
                self.r.steps["load"] = Step(
                    "n/a", _short(f"{refuse}: {exc}"), time.perf_counter() - t
                )
            else:
                self.r.steps["load"] = Step(
                    "FAIL", _short(f"DataError: {exc}"), time.perf_counter() - t
                )

    def step_backtest(self, refuse: str | None) -> None:
        spec = self.spec
        if spec.backtest:
            as_of, horizon = spec.backtest
            argv = ["--as-of", as_of, "--horizon-days", str(horizon)]
            short = None
        else:
            span = _span_days(self.loaded)
            short = (
                f"{span} days of history, under the 14 a backtest needs"
                if span is not None and span < 14
                else None
            )
            horizon = 7 if span is None or span < 21 else int(min(180, max(7, span // 3 // 7 * 7)))
            argv = ["--horizon-days", str(horizon)]
        self.r.info["backtest"] = " ".join(argv)
        self.cli_step(
            "backtest", ["backtest", "--store", str(self.store), *argv], refusal_ok=refuse or short
        )

    def step_approvals(self, steps) -> list[dict]:
        run = self.cli_step(
            "list",
            ["approvals", "list", "--json"],
            ok_if=lambda r: None if _json(r.out) is not None else "output is not JSON",
        )
        drafts = _json(run.out) or []
        if "show" in steps:
            if drafts:
                self.cli_step("show", ["approvals", "show", str(drafts[0]["id"])])
                self.texts["show"] = self.runs["show"].out
            else:
                self.r.steps["show"] = Step("n/a", "no drafts to show")
        if "approve" in steps:
            pending = [d["id"] for d in drafts if _draft_state(d) == "pending"][:3]
            if pending:  # the eval's approver, registered as the workspace's first
                self.cli(
                    ["approvals", "people", "add", EVAL_ACTOR, "--yes", "--workspace", str(self.ws)]
                )
                self.cli_step(
                    "approve", ["approvals", "approve", *map(str, pending), "--by", EVAL_ACTOR]
                )
            else:
                self.r.steps["approve"] = Step("n/a", "no pending drafts")
            self.r.info["approved"] = len(pending) if self.r.steps["approve"].status == "ok" else 0
        if "export" in steps:
            out = self.ws / "exports" / "eval_export.csv"
            none = "nothing approved to export" if not self.r.info.get("approved") else None
            self.cli_step(
                "export",
                ["approvals", "export", "--out", str(out), "--by", EVAL_ACTOR],
                refusal_ok=none,
            )
            self.texts["export"] = self.runs["export"].out
        if "list" in steps and drafts:
            again = _json(
                self.cli(["approvals", "list", "--json", "--workspace", str(self.ws)]).out
            )
            drafts = again if isinstance(again, list) else drafts
        return drafts

    # checks -------------------------------------------------------------------------------------

    def check_all(
        self, scores_csv: Path, scores: pd.DataFrame | None, drafts: list[dict], before
    ) -> None:
        c = self.r.checks
        exp, loaded = self.exp, self.loaded
        bad = {k: s for k, s in self.r.steps.items() if s.status == "FAIL"}
        c["every step ok"] = (
            Check("FAIL", "; ".join(f"{k}: {s.reason}" for k, s in bad.items()))
            if bad
            else Check("pass")
        )
        tb = [k for k, run in self.runs.items() if _traceback_in(run)]
        c["no traceback"] = (
            Check(
                "FAIL", "traceback in " + "; ".join(f"{k} ({_error_of(self.runs[k])})" for k in tb)
            )
            if tb
            else Check("pass")
        )
        unusable = exp.unusable if exp else None
        no_load = (
            Check("FAIL", f"the store did not load: {self.load_error}")
            if not unusable
            else Check(
                "n/a",
                f"the file cannot be a scored store ({unusable}); the loader refused it"
                if loaded is None
                else "",
            )
        )
        if unusable and loaded is not None:
            no_load = Check(
                "FAIL",
                f"{unusable}, yet the loader accepted it "
                f"({len(loaded.orders):,} order rows): a clear refusal was expected",
            )
        if exp is None:
            for k in CHECKS[2:]:
                c.setdefault(
                    k,
                    Check(
                        "FAIL",
                        "the eval could not read the file: "
                        + self.r.info.get("expected_error", ""),
                    ),
                )
        c["rows read = accepted + rejected"] = self.check_rows() if loaded is not None else no_load
        tables = self.score_tables(scores_csv, scores)
        if loaded is None or not tables:
            why = no_load if loaded is None else Check("FAIL", "no scores table was written")
            if unusable and loaded is None:
                why = no_load
            for k in (
                "no NaN or infinite score",
                "one score row per customer seen",
                "no placeholder customer id",
            ):
                c[k] = why
        else:
            c["no NaN or infinite score"] = _check_finite(tables)
            c["one score row per customer seen"] = self.check_one_row(tables)
            c["no placeholder customer id"] = _check_placeholders(tables)
        if exp is not None and exp.customers is not None:
            c["customers = file"] = self.check_customers() if loaded is not None else no_load
        else:
            c["customers = file"] = Check(
                "n/a", "Shopify: the customer key is the loader's choice (email or phone)"
            )
        if loaded is not None and exp is not None and not unusable:
            self.check_revenue()
        else:
            c["revenue = file, to the cent"] = c["revenue accounted for"] = no_load
        if exp is not None and unusable and loaded is None:
            c["product names, not codes"] = c["currency shown"] = Check(
                "n/a", "the store was refused"
            )
        elif exp is not None:
            c["product names, not codes"] = self.check_names(scores, drafts)
            c["currency shown"] = self.check_currency()
        after = _folder_state(
            self.spec.source if self.spec.source.is_dir() else self.spec.source.parent
        )
        changed = sorted({k for k in before.keys() | after.keys() if before.get(k) != after.get(k)})
        c["store folder untouched"] = (
            Check("FAIL", "written, added or removed: " + ", ".join(changed[:5]))
            if changed
            else Check("pass")
        )
        self.info_summary(drafts, scores)

    def check_rows(self) -> Check:
        exp, problems = self.exp, []
        reports = list(getattr(self.loaded, "reports", ()) or ())
        by_file = {r.file: r for r in reports}
        store_dir = self.store
        for p in sorted(store_dir.iterdir()):
            if p.is_file() and p.suffix.lower() in (".csv", ".parquet") and p.name not in by_file:
                problems.append(f"{p.name}: no load report")
        self.rejects: dict[str, pd.DataFrame] = {}
        for r in reports:
            if r.rows_read != r.rows_accepted + r.rows_rejected:
                problems.append(
                    f"{r.file}: read {r.rows_read} != accepted {r.rows_accepted} + rejected {r.rows_rejected}"
                )
            want = exp.rows.get(r.file)
            if want is not None and r.rows_read != want:
                problems.append(f"{r.file}: {r.rows_read} rows read, the file has {want}")
            rej = (
                _read_rejects(r.rejects_path)
                if r.rows_rejected
                else pd.DataFrame(columns=["line", "reason"])
            )
            if r.rows_rejected and rej is None:
                problems.append(f"{r.file}: {r.rows_rejected} rejected but no rejects file")
                continue
            if len(rej) != r.rows_rejected:
                problems.append(
                    f"{r.file}: rejects file has {len(rej)} rows, report says {r.rows_rejected}"
                )
            lines = pd.to_numeric(rej["line"], errors="coerce")
            dup = lines[lines.duplicated(keep=False)]
            if len(dup):
                problems.append(
                    f"{r.file}: {dup.nunique()} lines rejected more than once (e.g. line "
                    f"{int(dup.iloc[0])}, reasons {sorted(set(rej.loc[dup.index, 'reason']))[:3]})"
                )
            top = max(want + 1, exp.max_line.get(r.file, 0)) if want is not None else None
            if top is not None and ((lines < 2) | (lines > top) | lines.isna()).any():
                problems.append(f"{r.file}: rejects name lines outside the file's rows")
            self.rejects[r.file] = rej
        return Check("FAIL", "; ".join(problems)) if problems else Check("pass")

    def score_tables(
        self, scores_csv: Path, scores: pd.DataFrame | None
    ) -> dict[str, tuple[pd.DataFrame, pd.Timestamp]]:
        """Every scores table written: the --out file (as of the date score printed) and each
        workspace snapshot scores_<as-of>.parquet."""
        out: dict[str, tuple[pd.DataFrame, pd.Timestamp]] = {}
        if scores is not None:
            m = (
                re.search(r"as of (\d{4}-\d{2}-\d{2})", self.runs["score"].out)
                if "score" in self.runs
                else None
            )
            when = pd.Timestamp(m.group(1)) if m else _last_day(self.loaded)
            if when is not None:
                out[scores_csv.name] = (scores, when)
        for p in sorted((self.ws / "scores").glob("scores_*.parquet")):
            try:
                out[p.name] = (pd.read_parquet(p), pd.Timestamp(p.stem.removeprefix("scores_")))
            except Exception as exc:  # noqa: BLE001
                self.r.info.setdefault("unreadable", []).append(f"{p.name}: {exc}")
        return out

    def check_one_row(self, tables) -> Check:
        o = self.loaded.orders
        dates = _naive(o["order_date"])
        ids = o["customer_id"].astype(str)
        problems = []
        for name, (s, when) in tables.items():
            seen = set(ids[dates < when + pd.Timedelta(days=1)])
            got = s["customer_id"].astype(str)
            dup = int(got.duplicated().sum())
            missing, extra = seen - set(got), set(got) - seen
            if dup or missing or extra:
                problems.append(
                    f"{name} (as of {when.date()}): {len(got):,} rows for {len(seen):,} customers seen"
                    + (f", {dup} duplicated" if dup else "")
                    + (
                        f", {len(missing):,} missing (e.g. {sorted(missing)[:3]})"
                        if missing
                        else ""
                    )
                    + (
                        f", {len(extra):,} not seen by then (e.g. {sorted(extra)[:3]})"
                        if extra
                        else ""
                    )
                )
        return (
            Check("FAIL", "; ".join(problems))
            if problems
            else Check("pass", f"{len(tables)} tables")
        )

    def check_customers(self) -> Check:
        got = int(self.loaded.orders["customer_id"].astype(str).nunique())
        want = self.exp.customers
        return (
            Check("pass", f"{got:,}")
            if got == want
            else Check("FAIL", f"{got:,} customers loaded, the file has {want:,} real customer ids")
        )

    def check_revenue(self) -> None:
        exp, c = self.exp, self.r.checks
        loaded = float(self.loaded.orders["amount"].sum())
        acc = account(exp, getattr(self, "rejects", {}))
        self.r.info["accounting"] = acc
        cur = f" {exp.currencies[0]}" if len(exp.currencies) == 1 else ""
        diff = loaded - exp.customer_revenue
        detail = (
            f"loaded {loaded:,.2f}{cur}, the file's customers {exp.customer_revenue:,.2f}: "
            f"{diff:+,.2f}"
        )
        if exp.merchandise_revenue is not None and abs(
            loaded - exp.merchandise_revenue
        ) < CENT <= abs(diff):
            detail += " (the loaded figure is the merchandise revenue: Subtotal, without shipping, tax and tips)"
        elif acc.by_reason and abs(diff) >= CENT:
            lost = {
                k: v
                for k, v in acc.by_reason.items()
                if abs(v[1]) >= CENT and k not in acc.no_customer
            }
            if lost:
                detail += "; revenue in rejected rows: " + ", ".join(
                    f"{k} {v[1]:,.2f} ({v[0]} rows)" for k, v in lost.items()
                )
        c["revenue = file, to the cent"] = (
            Check("pass", detail) if abs(diff) < CENT else Check("FAIL", detail)
        )
        gap = loaded + acc.rejected_revenue - exp.file_total
        detail = (
            f"loaded {loaded:,.2f} + rejected {acc.rejected_revenue:,.2f} = {loaded + acc.rejected_revenue:,.2f}, "
            f"the file {exp.file_total:,.2f}: {gap:+,.2f}"
        )
        if acc.unmatched:
            detail += f"; {acc.unmatched}"
        if abs(gap) >= CENT and exp.copies and gap > 0:
            detail += (
                f" (the file has {exp.copies} order copies in overlapping exports: counted twice?)"
            )
        elif abs(gap) >= CENT:
            detail += " (rows lost or counted twice)"
        c["revenue accounted for"] = (
            Check("pass", detail)
            if abs(gap) < CENT and not acc.unmatched
            else Check("FAIL", detail)
        )

    def check_names(self, scores: pd.DataFrame | None, drafts: list[dict]) -> Check:
        exp = self.exp
        if not exp.names:
            return Check("n/a", "the file has no product names")
        problems = []
        if scores is not None:
            col = (
                "next_best_product_name"
                if "next_best_product_name" in scores.columns
                else "next_best_product"
            )
            if col in scores.columns:
                vals = scores[col].dropna().astype(str)
                vals = vals[vals.str.strip().ne("")]
                normed = vals.map(_norm_text)
                codes = vals[normed.isin(exp.codes)]
                other = vals[~normed.isin(exp.codes) & ~normed.isin(exp.names)]
                if len(codes):
                    problems.append(
                        f"scores {col}: {len(codes):,} of {len(vals):,} are codes "
                        f"(e.g. {', '.join(sorted(set(codes))[:3])})"
                    )
                if len(other):
                    problems.append(
                        f"scores {col}: {len(other):,} are not product names of the file "
                        f"(e.g. {', '.join(sorted(set(other))[:3])})"
                    )
        texts = {k: v for k, v in self.texts.items() if k != "summary"}
        for d in drafts:
            texts[f"draft {d.get('id')}"] = f"{d.get('subject', '')}\n{d.get('body', '')}"
        shown = _codes_shown(texts, exp)
        if shown:
            problems.append("codes shown without their name: " + "; ".join(shown[:4]))
        rec, top = self.texts.get("chat:recommend"), self.r.info.get("top_customer")
        if rec and top and scores is not None:
            row = scores.loc[scores["customer_id"].astype(str) == top]
            col = (
                "next_best_product_name"
                if "next_best_product_name" in scores.columns
                else "next_best_product"
            )
            shown = (
                str(row[col].iloc[0])
                if len(row) and col in row and pd.notna(row[col].iloc[0])
                else ""
            )
            name = (
                shown
                if _norm_text(shown) in exp.names
                else exp.code_to_name.get(_norm_text(shown), "")
            )
            if name and _norm_text(name) not in _norm_text(rec):
                problems.append(
                    f"the chat's recommendation for {top} does not name {name!r}: {_short(rec, 160)}"
                )
        return Check("FAIL", "; ".join(problems)) if problems else Check("pass")

    def check_currency(self) -> Check:
        exp = self.exp
        if not exp.currencies:
            return Check("n/a", "the file has no Currency column")
        where = ["summary"] + (["brief"] if not self.quick else [])
        missing = [
            f"{cur} not in the {w} output"
            + ("" if self.r.steps[w].status == "ok" else f" (the {w} step failed)")
            for w in where
            for cur in exp.currencies
            if not re.search(rf"\b{re.escape(cur)}\b", self.texts.get(w, ""))
        ]
        return (
            Check("FAIL", "; ".join(missing))
            if missing
            else Check("pass", ", ".join(exp.currencies))
        )

    def info_summary(self, drafts: list[dict], scores: pd.DataFrame | None) -> None:
        info, exp = self.r.info, self.exp
        if self.loaded is not None:
            o = self.loaded.orders
            info["customers"] = int(o["customer_id"].nunique())
            info["orders"] = (
                int(o.loc[o["amount"] >= 0, "order_id"].nunique()) if "order_id" in o else None
            )
            info["revenue"] = float(o["amount"].sum())
            info["currency"] = getattr(self.loaded, "currency", None)
            reasons: dict[str, int] = {}
            for r in self.loaded.reports:
                for k, v in (r.reasons or {}).items():
                    reasons[k] = reasons.get(k, 0) + int(v)
            info["rejected"] = reasons
        if exp is not None:
            info["file"] = {
                "revenue": exp.file_total,
                "customer_revenue": exp.customer_revenue,
                "merchandise": exp.merchandise_revenue,
                "currency": ", ".join(exp.currencies) or None,
                "notes": exp.notes,
                "unusable": exp.unusable,
            }
        by_status: dict[str, int] = {}
        by_campaign: dict[str, int] = {}
        for d in drafts:
            by_status[_draft_state(d)] = by_status.get(_draft_state(d), 0) + 1
            by_campaign[str(d.get("campaign_id"))] = (
                by_campaign.get(str(d.get("campaign_id")), 0) + 1
            )
        info["drafts"] = by_status
        info["drafts_by_campaign"] = by_campaign
        if (
            scores is not None
            and "next_best_product" in scores.columns
            and exp is not None
            and exp.names
        ):
            empty = int(scores["next_best_product"].fillna("").astype(str).str.strip().eq("").sum())
            if empty:
                info.setdefault("notes", []).append(
                    f"next best product empty for {empty:,} of {len(scores):,} scored customers"
                )
        info["held_back"] = _held_back(self.runs.get("plan"))
        export = self.runs.get("export")
        if export is not None and export.rc == 0:
            info["export"] = [
                ln.strip()
                for ln in export.out.splitlines()
                if ln.strip() and not ln.startswith(("Any offer codes", "Nothing is sent"))
            ]
        info["answers"] = {
            k: _short(v, 800) for k, v in self.texts.items() if k.startswith("chat:")
        }
        info["seconds"] = {
            k: round(s.seconds, 1) for k, s in self.r.steps.items() if s.status != "-"
        }


@dataclass
class Accounting:
    rejected_revenue: float = 0.0
    by_reason: dict = field(default_factory=dict)  # reason -> (rows, revenue)
    no_customer: set = field(default_factory=set)  # reasons whose rows had no customer
    unmatched: str = ""


def account(exp: Expected, rejects: dict[str, pd.DataFrame]) -> Accounting:
    """The revenue in the rejected rows, by reason, with the eval's own amount per row; an
    order in several exports counts in the one copy that was kept (a copy with an accepted
    row, the latest export's otherwise)."""
    acc = Accounting()
    lines = exp.lines.copy()
    lines["rejected"] = False
    lines["reason"] = ""
    unmatched = []
    for file, rej in rejects.items():
        mine = lines.loc[lines["file"] == file]
        if mine.empty or rej.empty:
            continue
        nums = pd.to_numeric(rej["line"], errors="coerce")
        idx = _match(mine, rej, nums)
        if idx is None:
            unmatched.append(
                f"{file}: rejected rows do not match the file's rows at their line numbers"
            )
            continue
        ok = idx.notna()
        lines.loc[idx[ok].astype(int), "rejected"] = True
        lines.loc[idx[ok].astype(int), "reason"] = (
            rej.loc[ok, "reason"]
            .astype(str)
            .str.replace(r"^'.*' is not", "value is not", regex=True)
            .to_numpy()
        )
    several = lines["key"].map(lines.groupby("key")["file"].nunique()) > 1
    kept_copy = {}
    for key, grp in lines.loc[several].groupby("key", sort=False):  # orders in overlapping exports
        fs = grp["file"].unique()
        live = grp.loc[~grp["rejected"], "file"].unique()
        kept_copy[key] = (live if len(live) else fs)[-1]
    rep = lines.loc[~several | lines["file"].eq(lines["key"].map(kept_copy))]
    rej = rep.loc[rep["rejected"]]
    for reason, g in rej.groupby("reason"):
        acc.by_reason[reason] = (len(g), float(g.loc[g["revenue"], "amount"].sum()))
        if not g["customer"].any():
            acc.no_customer.add(reason)
    acc.rejected_revenue = float(rej.loc[rej["revenue"], "amount"].sum())
    acc.unmatched = "; ".join(unmatched)
    return acc


def _match(mine: pd.DataFrame, rej: pd.DataFrame, nums: pd.Series) -> pd.Series | None:
    """Index into `mine` of each rejected row, by line number counted in row order or in
    physical lines, whichever matches the rows' own values (when the rejects carry them)."""
    col = mine["verify_col"].iloc[0]
    best = None
    for basis in ("line", "phys"):
        where = pd.Series(mine.index, index=mine[basis].to_numpy())
        where = where[~where.index.duplicated()]
        idx = pd.Series(nums.map(where).to_numpy(), index=rej.index)
        if col in rej.columns:
            got = rej[col].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
            want = pd.Series(
                mine["verify"].reindex(idx.fillna(-1).astype(int).to_numpy()).to_numpy(),
                index=rej.index,
            )
            hit = (got == want.astype(str)) | got.eq("")
            if hit.mean() > 0.99:
                return idx
            continue
        best = best if best is not None else idx
    return best


# --- helpers ----------------------------------------------------------------------------------------


def _folder_state(folder: Path) -> dict:
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _read_scores_csv(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=True)
    except Exception:  # noqa: BLE001
        return None


def _read_rejects(path) -> pd.DataFrame | None:
    if not path or not Path(path).exists():
        return None
    rej = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "line" not in rej.columns:
        rej["line"] = ""
    if "reason" not in rej.columns:
        rej["reason"] = "(no reason column)"
    return rej


def _top_customer(scores: pd.DataFrame | None) -> str | None:
    if (
        scores is None
        or scores.empty
        or not {"churn_probability", "predicted_clv"} <= set(scores.columns)
    ):
        return None
    at_stake = pd.to_numeric(scores["churn_probability"], errors="coerce") * pd.to_numeric(
        scores["predicted_clv"], errors="coerce"
    )
    if at_stake.notna().sum() == 0:
        return str(scores["customer_id"].iloc[0])
    return str(scores.loc[at_stake.idxmax(), "customer_id"])


def _chat_problem(out: str, message: str, top: str | None) -> str | None:
    text = out.strip()
    if not text:
        return "no answer"
    err = next((ln for ln in text.splitlines() if ln.strip().startswith("Error")), None)
    if err:
        return _short(f"answer: {err.strip()}")
    if "can't map that request" in text:
        return "answer: the request was not understood"
    if top and "{top}" not in message and top in message and top not in text:
        return f"the answer does not mention customer {top}"
    return None


def _codes_shown(texts: dict[str, str], exp: Expected) -> list[str]:
    """Distinctive product codes (a letter and a digit, or a digit and '_' / '-') shown in
    free text without the product's name within 120 characters."""
    found = []
    shaped = [
        c
        for c in exp.codes
        if len(c) >= 4
        and re.search(r"\d", c)
        and (re.search(r"[a-z]", c) or re.search(r"[_-]", c))
        and c not in exp.names
    ]
    if not shaped:
        return found
    for where, text in texts.items():
        low = _norm_text(text)
        for code in shaped:
            for m in re.finditer(rf"(?<![\w-]){re.escape(code)}(?![\w-])", low):
                name = _norm_text(exp.code_to_name.get(code, ""))
                near = low[max(0, m.start() - 120) : m.end() + 120]
                if not name or name not in near:
                    found.append(f"{code} in {where}")
                    break
    return found


SCORE_NUMBERS = (
    "orders_to_date",
    "revenue_to_date",
    "avg_days_between_orders",
    "p_alive",
    "expected_orders",
    "predicted_clv",
    "clv_low",
    "clv_high",
    "churn_probability",
)


def _check_finite(tables) -> Check:
    """Every numeric column of a Parquet snapshot (typed as written); of the CSV, the
    design's numeric score columns (a CSV column left empty reads back as NaN floats)."""
    problems = []
    for name, (s, _) in tables.items():
        num = s.select_dtypes(include=[np.number])
        if name.endswith(".csv"):
            num = s[[c for c in SCORE_NUMBERS if c in s.columns]].apply(
                pd.to_numeric, errors="coerce"
            )
        bad = {c: int((~np.isfinite(num[c].to_numpy(dtype=float))).sum()) for c in num.columns}
        bad = {c: n for c, n in bad.items() if n}
        if bad:
            problems.append(f"{name}: " + ", ".join(f"{c} {n:,}" for c, n in bad.items()))
        for col in ("predicted_clv", "churn_probability", "p_alive", "expected_orders"):
            if col in s.columns and col not in num.columns:
                problems.append(f"{name}: {col} is not numeric")
    return Check("FAIL", "non-finite: " + "; ".join(problems)) if problems else Check("pass")


def _check_placeholders(tables) -> Check:
    found = set()
    for _, (s, _) in tables.items():
        ids = s["customer_id"].astype(str).str.strip()
        found |= set(
            ids[ids.str.lower().str.replace(r"\.0$", "", regex=True).isin(PLACEHOLDER_IDS)]
        )
    return Check("FAIL", f"scored placeholder ids: {sorted(found)}") if found else Check("pass")


def _naive(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s


def _last_day(loaded) -> pd.Timestamp | None:
    if loaded is None or not len(loaded.orders):
        return None
    return _naive(loaded.orders["order_date"]).max().normalize()


def _span_days(loaded) -> int | None:
    if loaded is None or not len(loaded.orders):
        return None
    d = _naive(loaded.orders["order_date"])
    return int((d.max() - d.min()).days)


def _held_back(plan: Run | None) -> list[str]:
    """Who the plan left out and why, from `campaigns plan`'s output."""
    if plan is None:
        return []
    if plan.rc:
        return ["plan failed: " + _error_of(plan)]
    held = [
        f"{m.group(2)} {m.group(1):>}" for m in re.finditer(r"skipped ([\d,]+): (.+)", plan.out)
    ]
    m = re.search(r"\(([\d,]+) blocked by the guardrails\)", plan.out)
    if m:
        held.append(f"blocked by the guardrails {m.group(1)}")
    m = re.search(r"([\d,]+) customers held out as control", plan.out)
    if m and not any(h.startswith("control group") for h in held):
        held.append(f"control group {m.group(1)}")
    if not held:  # an output this eval does not know: show it as it is
        held = [ln.strip() for ln in plan.out.splitlines() if ln.strip()]
    return held


def _json(text: str):
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _draft_state(d: dict) -> str:
    return str(d.get("status") or d.get("state") or "?")


# --- all stores -------------------------------------------------------------------------------------


def run_stores(
    names: list[str] | None = None,
    *,
    quick: bool = False,
    data: str | Path | None = None,
    subprocess_mode: bool = False,
    progress=print,
) -> list[StoreResult]:
    specs = discover(find_data_dir(data))
    if names:
        known = {s.name: s for s in specs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown store(s) {', '.join(unknown)}; known: {', '.join(known)}")
        specs = [known[n] for n in names]
    elif quick:
        specs = [s for s in specs if s.quick]
    cli = Cli(subprocess_mode=subprocess_mode)
    results = []
    with _process_state(), tempfile.TemporaryDirectory(prefix="retention_real_stores_") as d:
        for k, v in BASE_ENV.items():
            os.environ.setdefault(k, v)
        kb = kb_seed(progress)
        for spec in specs:
            progress(f"real stores: {spec.name} ...")
            tmp = Path(d) / spec.name
            tmp.mkdir()
            try:
                res = StoreEval(spec, quick=quick, tmp=tmp, cli=cli, kb=kb).run()
            except Exception as exc:  # noqa: BLE001 - a bug in the eval itself: say so, go on
                res = StoreResult(spec.name)
                res.checks["every step ok"] = Check(
                    "FAIL",
                    f"the eval crashed: {type(exc).__name__}: {exc}\n" + traceback.format_exc(),
                )
            results.append(res)
            progress(
                f"real stores: {spec.name} done in {res.seconds:.1f} s, "
                f"{len(res.failures())} invariant(s) fail"
            )
    return results


@contextlib.contextmanager
def _process_state():
    """Leave this process as it was (a test run goes on after the eval): the environment,
    the assistant's logger (the chat points it at a workspace's chat.log) and the width of
    the CLI's consoles."""
    env = dict(os.environ)
    lg = logging.getLogger("agent")
    handlers, propagate, level = list(lg.handlers), lg.propagate, lg.level
    widths = {id(c): (c, c._width) for c in _consoles()}
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(env)
        for h in [h for h in lg.handlers if h not in handlers]:
            lg.removeHandler(h)
            h.close()
        lg.propagate, lg.level = propagate, level
        for c in _consoles():
            c._width = widths[id(c)][1] if id(c) in widths else None


def render(results: list[StoreResult], *, quick: bool) -> str:  # noqa: C901
    steps = QUICK_STEPS if quick else FULL_STEPS
    width = max([len(r.name) for r in results] + [5])
    lines = ["Real stores, " + ("quick" if quick else "full") + " run", ""]
    lines.append("| store | " + " | ".join(steps) + " |")
    lines.append("|---" * (len(steps) + 1) + "|")
    for r in results:
        lines.append(
            f"| {r.name:<{width}} | "
            + " | ".join(r.steps.get(s, Step("-")).status for s in steps)
            + " |"
        )
    lines += ["", "| store | " + " | ".join(CHECKS) + " |", "|---" * (len(CHECKS) + 1) + "|"]
    for r in results:
        lines.append(
            f"| {r.name:<{width}} | "
            + " | ".join(r.checks.get(k, Check("-")).status for k in CHECKS)
            + " |"
        )
    for r in results:
        lines += ["", f"## {r.name} ({r.seconds:.1f} s)"]
        i = r.info
        f = i.get("file") or {}
        if "customers" in i:
            cur = i.get("currency") or "no currency"
            orders = f"{i['orders']:,}" if i.get("orders") is not None else "?"
            lines.append(
                f"- loaded: {i['customers']:,} customers, {orders} orders, revenue {i['revenue']:,.2f} {cur}"
            )
        if f:
            merch = (
                f" (merchandise, without shipping, tax and tips: {f['merchandise']:,.2f})"
                if f.get("merchandise") is not None
                else ""
            )
            if f.get("unusable"):
                lines.append(
                    f"- the file ({f['currency'] or 'no Currency column'}) cannot be a scored store: "
                    f"{f['unusable']}"
                )
            else:
                lines.append(
                    f"- the file: revenue {f['revenue']:,.2f}, of which with a customer "
                    f"{f['customer_revenue']:,.2f}{merch} ({f['currency'] or 'no Currency column'})"
                )
            for note in f.get("notes") or []:
                lines.append(f"  - {note}")
        if i.get("expected_error"):
            lines.append(f"- the eval could not read the file: {i['expected_error']}")
        acc = i.get("accounting")
        rejected = i.get("rejected")
        if rejected is not None:
            if not rejected:
                lines.append("- rejected rows: none")
            else:
                parts = []
                for k, v in sorted(rejected.items(), key=lambda kv: -kv[1]):
                    money = acc.by_reason.get(k) if acc else None
                    parts.append(
                        f"{k}: {v:,}"
                        + (
                            f" ({money[1]:,.2f} of revenue)"
                            if money and abs(money[1]) >= CENT
                            else ""
                        )
                    )
                lines.append("- rejected rows by reason: " + "; ".join(parts))
        d = i.get("drafts")
        if d is not None:
            camps = i.get("drafts_by_campaign") or {}
            lines.append(
                "- drafts queued: "
                + (", ".join(f"{v} {k}" for k, v in d.items()) or "none")
                + (
                    f" (by campaign: {', '.join(f'{k} {v}' for k, v in camps.items())})"
                    if camps
                    else ""
                )
                + (f"; {i['approved']} approved by the eval" if i.get("approved") else "")
            )
        if i.get("held_back"):
            lines.append("- held back: " + "; ".join(i["held_back"]))
        if i.get("export"):
            lines.append("- export: " + "; ".join(i["export"]))
        if i.get("backtest"):
            lines.append(f"- backtest run with {i['backtest']}")
        for note in i.get("notes") or []:
            lines.append(f"- note: {note}")
        for k, s in r.steps.items():
            if s.status in ("FAIL", "n/a"):
                lines.append(f"- step {k}: {s.status}: {s.reason}")
        same: dict[str, list[str]] = {}
        for k, ch in r.checks.items():
            if ch.status == "FAIL" and k != "every step ok":  # the steps are listed just above
                same.setdefault(ch.detail, []).append(k)
        for detail, ks in same.items():
            lines.append(f"- check {', '.join(ks)}: FAIL: {_short(detail, 600)}")
        if "seconds" in i:
            lines.append("- seconds: " + ", ".join(f"{k} {v}" for k, v in i["seconds"].items()))
    failing = [r.name for r in results if r.failures()]
    lines += [
        "",
        f"{len(results) - len(failing)} of {len(results)} stores pass every invariant"
        + (f"; failing: {', '.join(failing)}" if failing else "."),
    ]
    return "\n".join(lines)


def _jsonable(results: list[StoreResult]) -> list[dict]:
    out = []
    for r in results:
        d = asdict(r)
        acc = r.info.get("accounting")
        if acc is not None:
            d["info"]["accounting"] = {
                "rejected_revenue": acc.rejected_revenue,
                "by_reason": acc.by_reason,
                "unmatched": acc.unmatched,
            }
        out.append(d)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the fast part (make test)")
    ap.add_argument(
        "--store",
        action="append",
        default=None,
        metavar="NAME",
        help="only this store (repeatable)",
    )
    ap.add_argument("--data", default=None, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--subprocess", action="store_true", help="each CLI step in a fresh process")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = run_stores(
        args.store,
        quick=args.quick,
        data=args.data,
        subprocess_mode=args.subprocess,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(render(results, quick=args.quick))
    print(f"\n{time.perf_counter() - t0:.1f} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(_jsonable(results), indent=2, default=str))
    return 1 if any(r.failures() for r in results) or not results else 0


if __name__ == "__main__":
    sys.exit(main())
