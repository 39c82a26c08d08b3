"""One loaded, scored store for the assistant (DESIGN.md, "The assistant", "Workspace").

    session = StoreSession(store_dir, Workspace.at(".retention"))
    session.scores          # one row per customer (tools.scoring.score columns), no personal data
    session.customers       # customer_id and consent/tags only: names, emails, phones removed
    session.personal(cid)   # personal fields, for rendering a draft locally; never for a model
    session.kb              # the playbook knowledge base in <workspace>/chroma (indexed on first use)
    session.previous_segments(days=7)   # segments a week earlier, for migration
    session.find_customers(text)        # the customers a text names (`agent.assistant.mentions`)

The store is loaded and scored once. Scores are cached as a workspace snapshot
(`agent.reports.snapshots`); a fingerprint file next to it (store path, file sizes and mtimes, horizon,
snapshot size/mtime) says which store it belongs to, so a changed store, horizon or snapshot
is scored again rather than reused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from agent.assistant.mentions import CustomerLookup, id_shape
from agent.workspace import Workspace
from tools.files import atomic_write_text
from tools.models.choices import DEFAULT_MODEL, check_model
from tools.schema import PERSONAL_FIELDS

if TYPE_CHECKING:
    from agent.assistant.redaction import PersonalIndex
    from agent.settings import Settings

log = logging.getLogger(__name__)

FINGERPRINT_VERSION = 1
Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


_INDEX_LOCK = threading.Lock()


def index_playbooks(kb):
    """`kb.index()`, one at a time in this process: the app indexes the playbooks while the
    store is scored, and a session's first search may ask for the same index meanwhile."""
    with _INDEX_LOCK:
        return kb.index()


def store_fingerprint(store_dir: Path) -> dict:
    """The store's identity for the score cache: resolved path plus each file's size and mtime."""
    store_dir = Path(store_dir)
    files = (
        [store_dir]
        if store_dir.is_file()
        else sorted(p for p in store_dir.iterdir() if p.is_file())
    )
    return {
        "store": str(store_dir.resolve()),
        "files": {
            p.name: [p.stat().st_size, p.stat().st_mtime_ns]
            for p in files
            if not p.name.endswith(".tmp")
        },
    }


class StoreSession(CustomerLookup):
    """A store loaded and scored once, plus the knowledge base, for the assistant's tools."""

    def __init__(
        self,
        store_dir: str | Path,
        workspace: Workspace | str | Path,
        *,
        as_of=None,
        horizon_days: int = 365,
        progress: Progress | None = None,
        kb=None,
        embedder=None,
        settings: Settings | None = None,
        loaded=None,
        model: str = DEFAULT_MODEL,
    ) -> None:
        """`settings`: the one settings object of the program that opens the session (the
        command's, the app's); every tool, the planner and the assistant read it from here.
        Without one, the environment's (`Settings()`: a script or a test). `loaded`: this
        store as `tools.ingest.load.load_store` already gave it (with this workspace's rejects
        folder), so that it is not read again. `model`: the scoring model
        (tools.models.choices.MODELS; `--model` of chat and brief)."""
        from agent.settings import Settings
        from tools.ingest.load import load_store

        self.store_dir = Path(store_dir)
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.at(workspace)
        self.horizon_days = int(horizon_days)
        self.model = check_model(model)
        self.settings: Settings = settings if settings is not None else Settings()
        self._progress = progress or _noop
        self._kb = kb
        self._kb_indexed = False
        self._embedder = embedder
        self._previous: dict[int, pd.DataFrame] = {}
        self._slices: dict[str, tuple] = {}
        self.memo: dict = {}
        """Per-session cache for tool aggregates (the store does not change within a session)."""
        self._names: PersonalIndex | None = None  # built on first use
        if loaded is None:
            self._progress(f"loading {self.store_dir}")
            loaded = load_store(self.store_dir, rejects_dir=self.workspace.rejects)
        self.reports = loaded.reports
        self._file_currency = loaded.currency
        cust = loaded.customers
        personal = [c for c in PERSONAL_FIELDS if cust is not None and c in cust.columns]
        if cust is not None:
            ids = cust["customer_id"].astype(str)
            self._personal = cust[personal].set_index(ids) if personal else None
            if self._personal is not None:
                self._personal = self._personal[~self._personal.index.duplicated()]
            # whether each customer can be reached at all, without the address itself
            from agent.outreach.consent import reach_flags

            reach = reach_flags(cust)  # read before the addresses are dropped
            cust = cust.drop(columns=personal).assign(**reach)
        else:
            self._personal = None
        self.customers: pd.DataFrame | None = cust
        self.store = dataclasses.replace(loaded, customers=cust)
        orders = loaded.orders
        self.as_of = (
            pd.Timestamp(as_of).normalize()
            if as_of is not None
            else orders["order_date"].max().normalize()
        )
        self.scores, self.params = self._scores_at(self.as_of)
        self.by_id = self.scores.set_index(self.scores["customer_id"].astype(str), drop=False)
        self._id_width = id_shape(self.by_id.index)

    @property
    def currency(self) -> str | None:
        """The store's currency: its files' (e.g. Shopify's Currency column), else the
        `currency` setting (RETENTION_CURRENCY, `--currency`, the app's Settings), else None."""
        from agent.display import store_currency

        return store_currency(self._file_currency, self.settings)

    # --- tables ---------------------------------------------------------------------------

    @property
    def orders(self) -> pd.DataFrame:
        return self.store.orders

    @property
    def products(self) -> pd.DataFrame | None:
        """The products table; without a products file, the products named in the orders
        (product_id, name), so drafts and answers can say a product's name, not its id."""
        if self.store.products is not None:
            return self.store.products
        if not {"product_id", "product_name"} <= set(self.orders.columns):
            return None
        if "products_from_orders" not in self.memo:
            names = self.product_names()  # one source of names for drafts and answers
            self.memo["products_from_orders"] = pd.DataFrame(
                {"product_id": list(names), "name": list(names.values())}
            )
        return self.memo["products_from_orders"]

    @property
    def events(self) -> pd.DataFrame | None:
        return self.store.events

    @property
    def tickets(self) -> pd.DataFrame | None:
        return self.store.tickets

    def personal(self, customer_id: str) -> dict:
        """Personal fields of one customer, for local rendering only (drafts, exports)."""
        if self._personal is None or customer_id not in self._personal.index:
            return {}
        row = self._personal.loc[customer_id]
        return {k: (None if pd.isna(v) else v) for k, v in row.items()}

    # --- scores and snapshots -----------------------------------------------------------------

    def _snapshot_paths(self, day: str) -> tuple[Path, Path, Path]:
        d = self.workspace.scores
        return d / f"scores_{day}.parquet", d / f"params_{day}.json", d / f"fingerprint_{day}.json"

    def _expected_fingerprint(self) -> dict:
        return {
            "version": FINGERPRINT_VERSION,
            "horizon_days": self.horizon_days,
            "model": self.model,
            **store_fingerprint(self.store_dir),
        }

    def _cached(self, day: str) -> tuple[pd.DataFrame, dict] | None:
        from agent.reports.snapshots import load_scores

        scores_p, params_p, fp_p = self._snapshot_paths(day)
        if not (scores_p.exists() and params_p.exists() and fp_p.exists()):
            return None
        try:
            stored = json.loads(fp_p.read_text())
            snap = stored.pop("snapshot", None)
            st = scores_p.stat()
            if stored != self._expected_fingerprint() or snap != [st.st_size, st.st_mtime_ns]:
                log.info("score snapshot %s is for another store or version; rescoring", day)
                return None
            return load_scores(self.workspace, day)
        except (OSError, ValueError) as exc:
            log.warning("score snapshot %s unreadable (%s); rescoring", day, exc)
            return None

    def _scores_at(self, when: pd.Timestamp) -> tuple[pd.DataFrame, dict]:
        from agent.reports.snapshots import save_scores
        from tools.scoring.score import score_store

        day = when.date().isoformat()
        hit = self._cached(day)
        if hit is not None:
            self._progress(f"using cached scores as of {day}")
            return hit
        self._progress(f"scoring customers as of {day}")
        s = self.store
        result = score_store(
            s.orders,
            as_of=when,
            horizon_days=self.horizon_days,
            model=self.model,
            events=s.events,
            tickets=s.tickets,
            products=s.products,
            progress=lambda m: self._progress(f"scoring: {m}"),
        )
        result.params["store"] = str(self.store_dir)  # what agent.reports.brief checks before reuse
        path = save_scores(self.workspace, result, as_of=when)
        fp = self._expected_fingerprint()
        st = path.stat()
        fp["snapshot"] = [st.st_size, st.st_mtime_ns]
        atomic_write_text(self._snapshot_paths(day)[2], json.dumps(fp, indent=2))
        return result.scores, result.params

    def previous_segments(self, days: int = 7) -> tuple[pd.DataFrame, str]:
        """customer_id and segment `days` before as-of, and where they came from. A cached
        snapshot for that day is used when it matches this store; otherwise the RFM segments
        are recomputed from the orders up to that day (the same computation scoring uses)."""
        if days not in self._previous:
            when = self.as_of - pd.Timedelta(days=days)
            hit = self._cached(when.date().isoformat())
            if hit is not None:
                frame, basis = hit[0][["customer_id", "segment"]], "snapshot"
            else:
                from tools.insights.segments import rfm_scores, rfm_table

                rfm = rfm_scores(rfm_table(self.orders, as_of=when))
                frame, basis = rfm[["customer_id", "segment"]].reset_index(drop=True), "recomputed"
            self._previous[days] = (frame, basis)
        return self._previous[days]

    def previous_scores(self, days: int = 7) -> tuple[pd.DataFrame, dict]:
        """The full scores `days` before as-of (scored and cached on first use: slow)."""
        return self._scores_at(self.as_of - pd.Timedelta(days=days))

    # --- customers (named in text: `CustomerLookup`) ---------------------------------------------

    def rows_of(self, table: str, customer_id: str) -> pd.DataFrame:
        """One customer's rows of orders/events/tickets up to as-of, in time order: a binary
        search in a copy sorted by customer_id (built on first use)."""
        if table not in self._slices:
            frame = getattr(self.store, table)
            if frame is None:
                return pd.DataFrame()
            col = {"orders": "order_date", "events": "timestamp", "tickets": "opened_at"}[table]
            if col in frame.columns:
                frame = frame.loc[frame[col] < self.as_of + pd.Timedelta(days=1)]
            ids = frame["customer_id"].astype(str).to_numpy()
            order = np.argsort(ids, kind="stable")
            self._slices[table] = (frame.iloc[order].reset_index(drop=True), ids[order], col)
        frame, ids, col = self._slices[table]
        lo, hi = (
            np.searchsorted(ids, customer_id, "left"),
            np.searchsorted(ids, customer_id, "right"),
        )
        out = frame.iloc[lo:hi]
        return out.sort_values(col, kind="stable") if col in out.columns else out

    def customer_orders(self, customer_id: str) -> pd.DataFrame:
        return self.rows_of("orders", customer_id)

    def customer_row(self, customer_id: str) -> pd.Series:
        """The scores row of a customer; LookupError naming the id pattern when unknown."""
        cid = self.resolve_customer_id(customer_id)
        if cid is None:
            example = self.by_id.index[0] if len(self.by_id) else "C000001"
            raise LookupError(
                f"no customer {customer_id!r} in this store (ids look like {example})"
            )
        return self.by_id.loc[cid]

    def product_names(self) -> dict[str, str]:
        """product_id -> name, from the products table, else the orders' product_name (the
        latest line's: the name the shop uses now)."""
        if "product_names" not in self.memo:
            from agent.display import product_names

            self.memo["product_names"] = product_names(self.orders, self.store.products)
        return self.memo["product_names"]

    def product_label(self, product_id) -> str:
        """A product as the merchant is shown it: its name, the id only where there is no name."""
        from agent.display import product_label

        return product_label(product_id, self.product_names())

    def quote(self, text, limit: int = 160) -> str | None:
        """Store text as data: control characters dropped, whitespace collapsed, personal data
        masked, truncated. Callers label it as untrusted (agent.assistant.prompts.STORE_TEXT_NOTE)."""
        if text is None or (isinstance(text, float) and np.isnan(text)):
            return None
        s = self.redact(" ".join(re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)).split()))
        return s if len(s) <= limit else s[: limit - 1] + "…"

    def redact(self, text: str) -> str:
        """Replace emails, phone numbers and full names of this store's customers in free text
        with their customer id (or a placeholder), before the text leaves the machine: names
        whatever their case or accents, phones with any separator, emails also spelled out
        ("… at example dot com"); see agent.assistant.redaction."""
        from agent.assistant.redaction import redact

        if not text:
            return text
        return redact(text, self.personal_index())

    def redact_result(self, result):
        """A tool result with `redact` applied to every string in it (keys and numbers stay):
        what the model is sent."""
        if isinstance(result, str):
            return self.redact(result)
        if isinstance(result, dict):
            return {k: self.redact_result(v) for k, v in result.items()}
        if isinstance(result, (list, tuple)):
            return [self.redact_result(v) for v in result]
        return result

    def personal_index(self):
        """This store's emails, phones and names keyed for `redact` (built on first use)."""
        from agent.assistant.redaction import PersonalIndex

        if self._names is None:
            self._names = PersonalIndex.of(frame=self._personal, ids=self.by_id.index)
        return self._names

    # --- knowledge ------------------------------------------------------------------------------

    @property
    def embedder(self):
        if self._embedder is None:
            from knowledge import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    @property
    def kb(self):
        """The knowledge base in the workspace, brought up to date once per session."""
        if self._kb is None:
            from knowledge import KnowledgeBase

            self._kb = KnowledgeBase(self.workspace.chroma, embedder=self._embedder)
        if not self._kb_indexed:
            self._progress("indexing the retention playbooks")
            report = index_playbooks(self._kb)
            if report.errors:
                log.warning("playbooks skipped: %s", "; ".join(map(str, report.errors)))
            self._kb_indexed = True
        return self._kb
