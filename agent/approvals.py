"""The approval queue (issue 6, part 4): nothing leaves without a person's yes.

SQLAlchemy 2 ORM on `sqlite:///<workspace>/approvals.sqlite` or `DATABASE_URL` (PostgreSQL;
portable SQL only). Tables: campaigns, drafts, audit_log (append-only: the ORM and a database
trigger refuse updates and deletes), exports.

States: pending -> approved | edited | rejected; edited -> approved | edited | rejected;
approved -> edited (needs approving again) | rejected, until it is exported (exported_at set,
state stays approved; listed as "exported"); blocked (by the guardrails) -> edited, by an edit
that clears the blocking flags, or rejected. Only a person approves, edits or rejects: actors
such as "assistant" or "agent" are refused. A call that changes nothing (approving an approved
draft) is a no-op with a message and no audit row. Each change is one transaction with a
conditional UPDATE (WHERE state = <the state read>); export claims drafts with UPDATE ... WHERE
state = 'approved' AND exported_at IS NULL, so two sessions exporting the same draft export it
once. On SQLite every transaction starts with BEGIN IMMEDIATE (writers queue up to 30 s).
The software never sends anything: exports are CSV files for Klaviyo or Shopify Email.
A merchant's confirmation that they hold consent for a channel of a store (agent.consent) is an
audit-log row too (action consent_confirmed / consent_withdrawn, with who and when; the latest
per store and channel is in force): `confirm_consent`, `consent_confirmations`.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from sqlalchemy import (JSON, Date, DateTime, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint, create_engine, event, select, text, update)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

CONSENT_CONFIRMED, CONSENT_WITHDRAWN = "consent_confirmed", "consent_withdrawn"
"""Audit-log actions of a merchant's consent confirmation (agent.consent)."""
NOT_A_PERSON = {"", "assistant", "agent", "ai", "bot", "llm", "model", "system", "planner"}
STATES = ("pending", "edited", "approved", "rejected", "blocked")


class ApprovalError(Exception):
    """A refused or impossible queue operation; printed as one line."""


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CampaignRow(Base):
    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    week_of: Mapped[date] = mapped_column(Date)
    store_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    treated_ids: Mapped[list] = mapped_column(JSON, default=list)
    control_ids: Mapped[list] = mapped_column(JSON, default=list)
    held_out_ids: Mapped[list] = mapped_column(JSON, default=list)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)


class DraftRow(Base):
    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id", name="uq_draft_customer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(120), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    offer: Mapped[str] = mapped_column(Text, default="")
    offer_percent: Mapped[float] = mapped_column(Float, default=0.0)
    offer_code: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    playbook_id: Mapped[str] = mapped_column(String(80), default="")
    expected_value: Mapped[float] = mapped_column(Float, default=0.0)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    decided_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    export_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def snapshot(self) -> dict:
        return {"state": self.state, "subject": self.subject, "body": self.body, "offer": self.offer}

    @property
    def status(self) -> str:
        """The state, or "exported" once an approved draft went into an export."""
        return "exported" if self.exported_at is not None else self.state

    def to_dict(self) -> dict:
        d = {c.name: getattr(self, c.name) for c in self.__table__.columns}
        d["status"] = self.status
        return {k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in d.items()}


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draft_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    campaign_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    action: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class ExportRow(Base):
    __tablename__ = "exports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    path: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(120), default="")
    draft_ids: Mapped[list] = mapped_column(JSON, default=list)
    again_of: Mapped[int | None] = mapped_column(Integer, nullable=True)


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session, flush_context, instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditRow):
            raise ApprovalError("the audit log is append-only: rows cannot be changed or deleted")


_TRIGGERS = {
    "sqlite": [f"CREATE TRIGGER IF NOT EXISTS audit_no_{op.lower()} BEFORE {op} ON audit_log "
               "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END" for op in ("UPDATE", "DELETE")],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS audit_no_change ON audit_log",
        "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"],
}


def database_url(workspace: str | Path | None = None, url: str | None = None) -> str:
    """Explicit url > DATABASE_URL > sqlite:///<workspace>/approvals.sqlite."""
    if url or os.environ.get("DATABASE_URL"):
        return url or os.environ["DATABASE_URL"]
    if workspace is None:
        raise ApprovalError("no approvals database: give --workspace DIR or set DATABASE_URL")
    from agent.workspace import Workspace

    return f"sqlite:///{Workspace.at(workspace).approvals_db}"


def make_engine(url: str) -> Engine:
    """An engine with the tables (and the audit trigger) created."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            dbapi_conn.execute("PRAGMA foreign_keys = ON")

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for stmt in _TRIGGERS.get(engine.dialect.name, []):
            conn.execute(text(stmt))
    return engine


class Transition(NamedTuple):
    draft_id: int
    before: str
    after: str
    changed: bool
    message: str


def person(actor: str | None) -> str:
    """The actor if it names a person; ApprovalError for the assistant or an empty name."""
    name = (actor or "").strip()
    if name.lower() in NOT_A_PERSON:
        raise ApprovalError(f"only a person can decide on a draft; actor {name!r} is refused (use --by NAME)")
    return name


class ExportResult(NamedTuple):
    path: Path | None
    draft_ids: list[int]
    skipped: list[str]
    message: str


class ApprovalQueue:
    """The queue on one database. Every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- writing drafts -------------------------------------------------------------------
    def add_campaign(self, plan, drafts: list, *, store_path: str | Path | None = None,
                     actor: str = "assistant") -> list[int]:
        """Record a plan (its control group and settings) and its drafts: blocked drafts are
        stored as `blocked` with their flags, the rest as `pending`. Returns the draft ids."""
        with self._session() as s, s.begin():
            if s.get(CampaignRow, plan.campaign_id) is not None:
                raise ApprovalError(f"campaign {plan.campaign_id!r} is already recorded")
            s.add(CampaignRow(id=plan.campaign_id, week_of=pd.Timestamp(plan.week_of).date(),
                              store_path=str(store_path) if store_path else None,
                              settings=dict(plan.settings), treated_ids=list(plan.treated_ids),
                              control_ids=list(plan.control_ids), held_out_ids=list(plan.held_out_ids),
                              summary={"skipped_counts": plan.skipped_counts(), "notes": plan.notes}))
            s.flush()
            rows = []
            for d in drafts:
                flags = [f.to_dict() if hasattr(f, "to_dict") else dict(f) for f in d.flags]
                state = "blocked" if any(f["severity"] == "block" for f in flags) else "pending"
                rows.append(DraftRow(campaign_id=plan.campaign_id, customer_id=d.customer_id,
                                     channel=d.channel, subject=d.subject, body=d.body, offer=d.offer,
                                     offer_percent=d.offer_percent, offer_code=d.offer_code,
                                     reason=d.reason, playbook_id=d.playbook_id,
                                     expected_value=d.expected_value, flags=flags, state=state))
            s.add_all(rows)
            s.flush()
            for r in rows:
                s.add(AuditRow(draft_id=r.id, campaign_id=r.campaign_id, action="created", actor=actor,
                               after=r.snapshot(), note="; ".join(f["message"] for f in r.flags)))
            return [r.id for r in rows]

    # --- reading ----------------------------------------------------------------------------
    def list_drafts(self, *, state: str | None = None, campaign: str | None = None) -> list[DraftRow]:
        """Drafts by id; `state` is one of STATES or "exported" (approved drafts already exported
        are listed as exported, not as approved)."""
        if state is not None and state not in (*STATES, "exported"):
            raise ApprovalError(f"unknown state {state!r}; use one of {', '.join(STATES)}, exported")
        q = select(DraftRow).order_by(DraftRow.id)
        if campaign:
            q = q.where(DraftRow.campaign_id == campaign)
        with self._session() as s, s.begin():
            return [d for d in s.scalars(q) if state is None or d.status == state]

    def get(self, draft_id: int) -> DraftRow:
        with self._session() as s, s.begin():
            return self._row(s, draft_id)

    def audit(self, draft_id: int | None = None) -> list[AuditRow]:
        """The audit log, oldest first (of one draft, or all)."""
        q = select(AuditRow).order_by(AuditRow.id)
        with self._session() as s, s.begin():
            return list(s.scalars(q if draft_id is None else q.where(AuditRow.draft_id == draft_id)))

    # --- a person's decisions ---------------------------------------------------------------
    @staticmethod
    def _row(s: Session, draft_id: int) -> DraftRow:
        r = s.get(DraftRow, int(draft_id))
        if r is None:
            raise ApprovalError(f"no draft with id {draft_id}")
        return r

    def _move(self, s: Session, r: DraftRow, to: str, actor: str, action: str, note: str = "",
              **values) -> Transition:
        before = r.snapshot()
        was = r.state
        now = _now()
        done = s.execute(update(DraftRow).where(DraftRow.id == r.id, DraftRow.state == was,
                                                DraftRow.exported_at.is_(None))
                         .values(state=to, updated_at=now, decided_by=actor, decided_at=now, **values))
        if done.rowcount != 1:
            raise ApprovalError(f"draft {r.id} changed meanwhile; try again")
        s.refresh(r)
        s.add(AuditRow(draft_id=r.id, campaign_id=r.campaign_id, action=action, actor=actor,
                       before=before, after=r.snapshot(), note=note))
        return Transition(r.id, was, to, True, f"draft {r.id}: {was} -> {to}")

    def approve(self, draft_ids: list[int], *, actor: str) -> list[Transition]:
        """pending/edited -> approved. Approving an approved draft is a no-op; blocked and
        rejected drafts cannot be approved (the whole call is refused)."""
        actor = person(actor)
        out = []
        with self._session() as s, s.begin():
            for i in draft_ids:
                r = self._row(s, i)
                if r.state == "approved":
                    out.append(Transition(r.id, "approved", "approved", False,
                                          f"draft {r.id} is already approved; nothing to do"))
                elif r.state in ("pending", "edited"):
                    out.append(self._move(s, r, "approved", actor, "approved"))
                elif r.state == "blocked":
                    why = "; ".join(f["message"] for f in r.flags if f["severity"] == "block")
                    raise ApprovalError(f"draft {r.id} is blocked by the guardrails ({why}); edit it first")
                else:
                    raise ApprovalError(f"draft {r.id} is {r.state}; it cannot be approved")
        return out

    def approve_all_pending(self, *, actor: str, campaign: str | None = None) -> list[Transition]:
        ids = [d.id for d in self.list_drafts(campaign=campaign) if d.state in ("pending", "edited")]
        return self.approve(ids, actor=actor) if ids else []

    def reject(self, draft_id: int, *, actor: str, reason: str = "") -> Transition:
        actor = person(actor)
        with self._session() as s, s.begin():
            r = self._row(s, draft_id)
            if r.state == "rejected":
                return Transition(r.id, "rejected", "rejected", False, f"draft {r.id} is already rejected")
            if r.exported_at is not None:
                raise ApprovalError(f"draft {r.id} was already exported; it cannot be rejected")
            return self._move(s, r, "rejected", actor, "rejected", note=reason)

    def edit(self, draft_id: int, *, actor: str, subject: str | None = None, body: str | None = None,
             discount_cap: float) -> Transition:
        """A person's new subject and/or body. The content guardrails run on the new text; an
        edit they block is refused. The draft becomes `edited` and needs approving again."""
        from agent.guardrails import check_edit

        actor = person(actor)
        if subject is None and body is None:
            raise ApprovalError("nothing to edit: give --subject and/or --body")
        with self._session() as s, s.begin():
            r = self._row(s, draft_id)
            if r.exported_at is not None or r.state == "rejected":
                raise ApprovalError(f"draft {r.id} is {'exported' if r.exported_at else 'rejected'}; "
                                    "it cannot be edited")
            subj, text_ = subject if subject is not None else r.subject, body if body is not None else r.body
            new = check_edit(subj, text_, offer=r.offer, offer_percent=r.offer_percent,
                             previous_flags=r.flags, discount_cap=discount_cap)
            block = [f["message"] for f in new if f["severity"] == "block"]
            if block:
                raise ApprovalError(f"edit refused by the guardrails: {'; '.join(block)}")
            return self._move(s, r, "edited", actor, "edited", subject=subj, body=text_, flags=new)

    # --- consent confirmations (agent.consent) ----------------------------------------------
    def confirm_consent(self, store_path: str | Path, kind: str, *, actor: str, note: str = "") -> AuditRow:
        """Record a person's confirmation that they hold consent for one channel (`kind`:
        email or sms) of one store: an audit-log row with who and when. Unknown consent on
        that channel then counts as given; a customer whose data says no stays refused."""
        return self._consent_event(store_path, kind, actor=actor, note=note, action=CONSENT_CONFIRMED)

    def withdraw_consent(self, store_path: str | Path, kind: str, *, actor: str, note: str = "") -> AuditRow:
        """Record that an earlier confirmation no longer holds (the latest event wins)."""
        return self._consent_event(store_path, kind, actor=actor, note=note, action=CONSENT_WITHDRAWN)

    def _consent_event(self, store_path, kind: str, *, actor: str, note: str, action: str) -> AuditRow:
        from agent.consent import KINDS

        try:
            actor = person(actor)
        except ApprovalError:
            raise ApprovalError(f"only a person can confirm or withdraw consent; actor {actor!r} is "
                                "refused (use --by NAME)") from None
        if kind not in KINDS:
            raise ApprovalError(f"unknown consent channel {kind!r}; use one of {', '.join(KINDS)}")
        store = _store_key(store_path)
        words = (f"{actor} confirms holding the customers' consent to be contacted by {kind} for "
                 f"the store {store}, where a customer's data does not say otherwise"
                 if action == CONSENT_CONFIRMED else
                 f"{actor} withdraws the confirmation of {kind} consent for the store {store}")
        with self._session() as s, s.begin():
            row = AuditRow(draft_id=None, campaign_id=None, action=action, actor=actor,
                           after={"store": store, "kind": kind, "statement": words}, note=note)
            s.add(row)
            s.flush()
            return row

    def consent_confirmations(self, store_path: str | Path) -> dict:
        """{kind: agent.consent.Confirmation} in force for a store: per kind, the latest
        confirm/withdraw event of the audit log for that store, when it is a confirmation."""
        from agent.consent import Confirmation

        store = _store_key(store_path)
        q = (select(AuditRow).where(AuditRow.action.in_([CONSENT_CONFIRMED, CONSENT_WITHDRAWN]))
             .order_by(AuditRow.id))
        latest: dict[str, AuditRow] = {}
        with self._session() as s, s.begin():
            for r in s.scalars(q):
                after = r.after or {}
                if after.get("store") == store and after.get("kind"):
                    latest[after["kind"]] = r
        return {k: Confirmation(kind=k, by=r.actor, at=r.at, store=store, note=r.note)
                for k, r in latest.items() if r.action == CONSENT_CONFIRMED}

    # --- export -----------------------------------------------------------------------------
    def export(self, customers: pd.DataFrame, *, exports_dir: Path, out: Path | None = None,
               actor: str = "cli", campaigns: list[str] | None = None, confirmed=None) -> ExportResult:
        """Write approved, not yet exported drafts as CSV (drafts.EXPORT_COLUMNS, bodies rendered
        from the customers table), atomically. Each draft is claimed by a conditional UPDATE, so
        it is exported once; drafts whose customer has no email or no longer consents stay in
        the queue. `campaigns`: only drafts of these campaigns (those of the store `customers`
        belongs to); `confirmed`: the store's consent confirmations (`consent_confirmations`),
        for customers whose data does not say. Nothing is sent."""
        from agent.drafts import atomic_csv, export_table, exportable

        written = None
        try:
            with self._session() as s, s.begin():
                q = select(DraftRow).where(DraftRow.state == "approved", DraftRow.exported_at.is_(None))
                if campaigns is not None:
                    q = q.where(DraftRow.campaign_id.in_(list(campaigns)))
                todo = s.scalars(q.order_by(DraftRow.id))
                rows, skipped = exportable(list(todo), customers, confirmed=confirmed)
                if not rows:
                    return ExportResult(None, [], skipped, "nothing to export: no approved drafts waiting")
                exp = ExportRow(actor=actor)
                s.add(exp)
                s.flush()
                path = Path(out) if out else Path(exports_dir) / f"export_{exp.id:04d}_{_now():%Y%m%d_%H%M%S}.csv"
                now = _now()
                claimed = [r for r in rows if s.execute(
                    update(DraftRow).where(DraftRow.id == r.id, DraftRow.state == "approved",
                                           DraftRow.exported_at.is_(None))
                    .values(exported_at=now, export_id=exp.id, updated_at=now)).rowcount == 1]
                if not claimed:
                    s.delete(exp)
                    return ExportResult(None, [], skipped, "nothing to export: another session exported them")
                exp.path, exp.draft_ids = str(path), [r.id for r in claimed]
                s.add_all([AuditRow(draft_id=r.id, campaign_id=r.campaign_id, action="exported", actor=actor,
                                    after={"export_id": exp.id, "path": str(path)}) for r in claimed])
                atomic_csv(export_table(claimed, customers), path)
                written = path
        except Exception:
            if written is not None:  # the commit failed: no file for drafts still in the queue
                written.unlink(missing_ok=True)
            raise
        return ExportResult(path, exp.draft_ids, skipped, f"exported {len(claimed)} drafts to {path}; "
                                                          "nothing was sent")

    def export_again(self, which: str | int, customers: pd.DataFrame, *, out: Path | None = None,
                     actor: str = "cli", campaigns: list[str] | None = None) -> ExportResult:
        """Re-write an earlier export (by id or path) with the same drafts, recorded as a new
        export pointing at the old one. No draft is added to it. `campaigns`: only drafts of
        these campaigns (those of the store `customers` belongs to) are rendered; the others
        are held back with the reason, and a partial re-export goes to a new file (unless
        `out` says where) so the earlier file keeps every row it had."""
        from agent.drafts import atomic_csv, export_table

        with self._session() as s, s.begin():
            col = ExportRow.id if str(which).isdigit() else ExportRow.path
            old = s.scalars(select(ExportRow).where(col == (int(which) if str(which).isdigit() else str(which)))
                            .where(ExportRow.again_of.is_(None))).first()
            if old is None:
                raise ApprovalError(f"no export {which!r}; see the exports folder")
            rows = [self._row(s, i) for i in old.draft_ids]
            keep = None if campaigns is None else set(campaigns)
            mine = [r for r in rows if keep is None or r.campaign_id in keep]
            skipped = [f"draft {r.id}: planned on another store (campaign {r.campaign_id}); re-export it "
                       "with --store pointing there" for r in rows if keep is not None and r.campaign_id not in keep]
            if not mine:
                raise ApprovalError(f"export {old.id} holds no drafts of this store (its campaigns: "
                                    f"{', '.join(sorted({r.campaign_id for r in rows}))}); give --store "
                                    "pointing at the store they were planned on")
            exp = ExportRow(actor=actor, draft_ids=[r.id for r in mine], again_of=old.id)
            s.add(exp)
            s.flush()
            path = Path(out) if out else Path(old.path)
            if skipped and not out:
                path = path.with_name(f"{path.stem}_again_{exp.id:04d}{path.suffix}")
            exp.path = str(path)
            atomic_csv(export_table(mine, customers), path)
        which_ = f"the {len(rows)}" if not skipped else f"{len(mine)} of the {len(rows)}"
        return ExportResult(path, list(exp.draft_ids), skipped, f"re-exported {which_} drafts of export "
                                                                f"{old.id} to {path}; nothing was sent")


def _store_key(store_path: str | Path) -> str:
    """A store's identity in the audit log: its resolved path."""
    try:
        return str(Path(store_path).resolve())
    except OSError:
        return str(store_path)


def open_queue(workspace: str | Path | None = None, *, url: str | None = None) -> ApprovalQueue:
    """The queue of a workspace (or of `url` / DATABASE_URL)."""
    return ApprovalQueue(make_engine(database_url(workspace, url)))
