"""The approval queue: nothing leaves without a person's yes.

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
The software never sends anything: exports are CSV files for Klaviyo or Shopify Email; next to
each, the same drafts as Klaviyo's profile import and as Shopify's customer-tag import
(agent.outreach.drafts.write_export).
A merchant's confirmation that they hold consent for a channel of a store (agent.outreach.consent) is an
audit-log row too (action consent_confirmed / consent_withdrawn, with who and when; the latest
per store and channel is in force): `confirm_consent`, `consent_confirmations`.

Approvers: a decision on a draft names a person registered in the workspace (table `people`,
`add_person`, `retention approvals people add NAME`); the first one is registered at first use,
when the caller confirms it (`first_approver=True`), and later ones by a registered person. A
name that is not registered is refused, and so is one that names a program rather than a person
(`person`: "AI assistant", "gpt-4o-mini", "retention-bot", a look-alike "\u0430ssistant").

Exports survive a kill: an export is recorded first (its drafts claimed, its file name derived
from the export id, `completed_at` empty), then its file is written (atomically, inert in a
spreadsheet: tools.csvout) and the record completed with the audit rows. A kill at any moment
leaves no export, or one recorded export that the next export (or --again) finishes writing at
the same path: never two files with the same drafts. Stored paths are relative to the workspace
when inside it; `--out` never overwrites a file or an earlier export, and `--again` never writes
outside the workspace unless `--out` says where.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tools.errors import RetentionError

CONSENT_CONFIRMED, CONSENT_WITHDRAWN = "consent_confirmed", "consent_withdrawn"
"""Audit-log actions of a merchant's consent confirmation (agent.outreach.consent)."""
NOT_A_PERSON = {"", "assistant", "agent", "ai", "bot", "llm", "model", "system", "planner"}
"""Names refused outright (kept for callers); `person` refuses many more."""
SETTINGS_CHANGED = "settings_changed"
"""Audit-log action of a change of the app's settings (`record_settings_change`)."""
PERSON_ADDED = "person_added"
"""Audit-log action of a person registered to decide on drafts."""
STATES = ("pending", "edited", "approved", "rejected", "blocked")


class ApprovalError(RetentionError):
    """A refused or impossible queue operation; printed as one line."""


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


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
        return {
            "state": self.state,
            "subject": self.subject,
            "body": self.body,
            "offer": self.offer,
        }

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
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """Set once the file is written; an export recorded without it was interrupted (a kill)
    and is finished by the next export."""
    writer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """host:pid:start of the process writing it, so an export still being written is not
    taken for an interrupted one."""


class PersonRow(Base):
    """A person who may decide on drafts in this workspace."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(120), unique=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    added_by: Mapped[str] = mapped_column(String(120), default="")


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session, flush_context, instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditRow):
            raise ApprovalError("the audit log is append-only: rows cannot be changed or deleted")


_TRIGGERS = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS audit_no_{op.lower()} BEFORE {op} ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        for op in ("UPDATE", "DELETE")
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS audit_no_change ON audit_log",
        "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    ],
}


def database_url(workspace: str | Path | None = None, url: str | None = None) -> str:
    """Explicit url > DATABASE_URL > sqlite:///<workspace>/approvals.sqlite."""
    from agent.settings import Settings

    url = url or Settings().database_url
    if url:
        return _driver(url)
    if workspace is None:
        raise ApprovalError("no approvals database: give --workspace DIR or set DATABASE_URL")
    from agent.workspace import Workspace

    return f"sqlite:///{Workspace.at(workspace).approvals_db}"


def _driver(url: str) -> str:
    """postgresql:// (or postgres://) with the driver that is installed: psycopg 3 unless
    psycopg2 is there (SQLAlchemy's default for a bare postgresql://)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        import importlib.util

        if (
            importlib.util.find_spec("psycopg2") is None
            and importlib.util.find_spec("psycopg") is not None
        ):
            return f"postgresql+psycopg://{rest}"
        return f"postgresql://{rest}"
    return url


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
    with (
        engine.begin() as conn
    ):  # one process at a time sets the schema up (SQLite: BEGIN IMMEDIATE)
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(150015)"))
        Base.metadata.create_all(conn)
        _add_missing_columns(conn)
        for stmt in _TRIGGERS.get(engine.dialect.name, []):
            conn.execute(text(stmt))
    return engine


_ADDED_COLUMNS = {
    "exports": {
        "completed_at": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE"),
        "writer": ("VARCHAR(200)", "VARCHAR(200)"),
    }
}
"""Columns added since the first version: (SQLite type, PostgreSQL type)."""


def _add_missing_columns(conn) -> None:
    """A database made by an earlier version gets the columns added since (the exports it
    already holds were complete: they count as completed when they were made)."""
    for table, columns in _ADDED_COLUMNS.items():
        have = {c["name"] for c in inspect(conn).get_columns(table)}
        for name, (lite, pg) in columns.items():
            if name in have:
                continue
            conn.execute(
                text(
                    f"ALTER TABLE {table} ADD COLUMN {name} {pg if conn.dialect.name == 'postgresql' else lite}"
                )
            )
            if (table, name) == ("exports", "completed_at"):
                conn.execute(
                    text("UPDATE exports SET completed_at = at WHERE completed_at IS NULL")
                )


class Transition(NamedTuple):
    draft_id: int
    before: str
    after: str
    changed: bool
    message: str


_PROGRAM_WORDS = {
    "assistant",
    "assistent",
    "agent",
    "ai",
    "bot",
    "bots",
    "robot",
    "chatbot",
    "llm",
    "llms",
    "model",
    "system",
    "planner",
    "gpt",
    "chatgpt",
    "openai",
    "copilot",
    "autopilot",
    "automation",
    "automated",
    "auto",
    "script",
    "cron",
    "daemon",
    "service",
    "api",
    "webhook",
    "retention",
    "app",
    "cli",
    "machine",
    "computer",
    "program",
    "software",
    "anthropic",
    "gemini",
    "mistral",
    "llama",
    "ollama",
    "vllm",
}
"""Words of a name that say it is a program, not a person (compared after folding case,
accents and look-alike letters)."""
_PROGRAM_PARTS = ("assistant", "chatbot", "chatgpt", "gpt", "openai", "copilot")
"""...also inside a longer word ("AIassistant", "salesgpt")."""
_LOOKALIKE = str.maketrans(
    {
        "\u0430": "a",
        "\u0435": "e",
        "\u043e": "o",
        "\u0440": "p",
        "\u0441": "c",
        "\u0443": "y",
        "\u0445": "x",
        "\u0456": "i",
        "\u0458": "j",
        "\u0455": "s",
        "\u0501": "d",
        "\u04cf": "l",
        "\u0432": "b",
        "\u043a": "k",
        "\u043c": "m",
        "\u043d": "h",
        "\u0442": "t",
        "\u0457": "i",
        "\u0491": "r",
        "\u03b1": "a",
        "\u03bf": "o",
        "\u03b5": "e",
        "\u03b9": "i",
        "\u03ba": "k",
        "\u03bd": "v",
        "\u03c1": "p",
        "\u03c4": "t",
        "\u03c5": "u",
        "\u03c7": "x",
        "\u03b2": "b",
        "\u03b3": "y",
        "\u0261": "g",
        "\u0131": "i",
    }
)
"""Cyrillic and Greek letters that look like Latin ones (lower case, after casefold)."""
_CONFUSABLE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK"}


def _script(ch: str) -> str:
    return unicodedata.name(ch, "?").split(" ")[0]


def _refuse(name: str, why: str) -> ApprovalError:
    return ApprovalError(
        f"only a person can decide on a draft; actor {name!r} is refused ({why}; "
        "use --by NAME with the name of a person registered in this workspace)"
    )


def person_key(name: str) -> str:
    """How names are compared: NFKC, case folded, single spaces ("maria  " is "Maria")."""
    return " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())


def person(actor: str | None) -> str:
    """The actor (trimmed, NFKC) if it can be a person's name; ApprovalError otherwise: an empty
    name, digits or symbols ("gpt-4o-mini", "o3"), words of programs ("AI assistant",
    "retention-bot", "RetentionBot"), invisible characters, or a word mixing Latin, Cyrillic and
    Greek letters (a look-alike spelling such as a Cyrillic "\u0430ssistant"). This says only that the
    name could be a person's; a decision also needs the name registered (ApprovalQueue)."""
    raw = actor if isinstance(actor, str) else ""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise _refuse(name, "no name given")
    if len(name) > 80:
        raise _refuse(name[:80], "longer than a name")
    if any(unicodedata.category(ch)[0] == "C" for ch in raw if ch not in " \t"):
        raise _refuse(name, "it holds invisible or control characters")
    if any(ch.isdigit() for ch in name):
        raise _refuse(name, "a person's name has no digits; model and program names do")
    if not any(ch.isalpha() for ch in name) or any(
        not (ch.isalpha() or ch in " .'-\u2019") for ch in name
    ):
        raise _refuse(name, "a person's name is letters, spaces, hyphens, apostrophes and dots")
    for word in re.findall(r"[^\W\d_]+", name):
        scripts = {_script(ch) for ch in word} & _CONFUSABLE_SCRIPTS
        if len(scripts) > 1:
            raise _refuse(
                name,
                f"the word {word!r} mixes {' and '.join(sorted(s.title() for s in scripts))} "
                "letters, as look-alike spellings do",
            )
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)  # RetentionBot -> Retention Bot
    folded = "".join(
        ch
        for ch in unicodedata.normalize("NFKD", spaced.casefold())
        if not unicodedata.combining(ch)
    ).translate(_LOOKALIKE)
    words = re.findall(r"[^\W\d_]+", folded)
    hit = next((w for w in words if w in _PROGRAM_WORDS or w.lower() in NOT_A_PERSON), None)
    hit = hit or next((p for p in _PROGRAM_PARTS if p in "".join(words)), None)
    if hit:
        raise _refuse(name, f"{hit!r} names a program, not a person")
    return name


class ExportResult(NamedTuple):
    path: Path | None
    draft_ids: list[int]
    skipped: list[str]
    message: str
    finished: tuple = ()
    """(export id, path, draft ids) of exports a kill had interrupted, finished by this call."""


class ApprovalQueue:
    """The queue on one database. Every method is one transaction."""

    def __init__(self, engine: Engine, workspace: str | Path | None = None) -> None:
        self.engine = engine
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        """The workspace whose files this queue writes (exports): stored paths are relative
        to it and never resolved against the current folder."""

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- writing drafts -------------------------------------------------------------------
    def add_campaign(
        self, plan, drafts: list, *, store_path: str | Path | None = None, actor: str = "assistant"
    ) -> list[int]:
        """Record a plan (its control group and settings) and its drafts: blocked drafts are
        stored as `blocked` with their flags, the rest as `pending`. Returns the draft ids."""
        with self._session() as s, s.begin():
            if s.get(CampaignRow, plan.campaign_id) is not None:
                raise ApprovalError(f"campaign {plan.campaign_id!r} is already recorded")
            s.add(
                CampaignRow(
                    id=plan.campaign_id,
                    week_of=pd.Timestamp(plan.week_of).date(),
                    store_path=str(store_path) if store_path else None,
                    settings=dict(plan.settings),
                    treated_ids=list(plan.treated_ids),
                    control_ids=list(plan.control_ids),
                    held_out_ids=list(plan.held_out_ids),
                    summary={"skipped_counts": plan.skipped_counts(), "notes": plan.notes},
                )
            )
            s.flush()
            rows = []
            for d in drafts:
                flags = [f.to_dict() if hasattr(f, "to_dict") else dict(f) for f in d.flags]
                state = "blocked" if any(f["severity"] == "block" for f in flags) else "pending"
                rows.append(
                    DraftRow(
                        campaign_id=plan.campaign_id,
                        customer_id=d.customer_id,
                        channel=d.channel,
                        subject=d.subject,
                        body=d.body,
                        offer=d.offer,
                        offer_percent=d.offer_percent,
                        offer_code=d.offer_code,
                        reason=d.reason,
                        playbook_id=d.playbook_id,
                        expected_value=d.expected_value,
                        flags=flags,
                        state=state,
                    )
                )
            s.add_all(rows)
            s.flush()
            for r in rows:
                s.add(
                    AuditRow(
                        draft_id=r.id,
                        campaign_id=r.campaign_id,
                        action="created",
                        actor=actor,
                        after=r.snapshot(),
                        note="; ".join(f["message"] for f in r.flags),
                    )
                )
            return [r.id for r in rows]

    # --- reading ----------------------------------------------------------------------------
    def list_drafts(
        self, *, state: str | None = None, campaign: str | None = None
    ) -> list[DraftRow]:
        """Drafts by id; `state` is one of STATES or "exported" (approved drafts already exported
        are listed as exported, not as approved)."""
        if state is not None and state not in (*STATES, "exported"):
            raise ApprovalError(
                f"unknown state {state!r}; use one of {', '.join(STATES)}, exported"
            )
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
            return list(
                s.scalars(q if draft_id is None else q.where(AuditRow.draft_id == draft_id))
            )

    # --- the people who decide -------------------------------------------------------------
    def people(self) -> list[PersonRow]:
        """The people registered to decide on drafts, in the order they were added."""
        with self._session() as s, s.begin():
            return list(s.scalars(select(PersonRow).order_by(PersonRow.id)))

    def record_settings_change(self, *, actor: str, changes: dict, note: str = "") -> AuditRow:
        """An audit-log row for a change of the app's settings (discount cap, model endpoint,
        ...): who, when, each field before and after ({field: {"before": x, "after": y}}; the
        caller never passes a secret's value)."""
        with self._session() as s, s.begin():
            row = AuditRow(
                draft_id=None,
                campaign_id=None,
                action=SETTINGS_CHANGED,
                actor=(actor or "").strip()[:120] or "merchant",
                before={k: v.get("before") for k, v in changes.items()},
                after={k: v.get("after") for k, v in changes.items()},
                note=note,
            )
            s.add(row)
            s.flush()
            s.expunge(row)
            return row

    def settings_changes(self) -> list[AuditRow]:
        """The settings changes in the audit log, oldest first."""
        with self._session() as s:
            rows = list(
                s.scalars(
                    select(AuditRow)
                    .where(AuditRow.action == SETTINGS_CHANGED)
                    .order_by(AuditRow.id)
                )
            )
            for r in rows:
                s.expunge(r)
            return rows

    def add_person(self, name: str, *, by: str | None = None) -> tuple[PersonRow, bool]:
        """Register a person who may approve, edit and reject drafts: (row, added). The first
        one is registered by themselves (the caller asked them to confirm); later ones by a
        registered person (`by`). A name already registered is a no-op (added False)."""
        name = person(name)
        with self._session() as s, s.begin():
            known = self._person_row(s, name)
            if known is not None:
                return known, False
            names = list(s.scalars(select(PersonRow.name).order_by(PersonRow.id)))
            if not names:
                adder = name
            elif not (by or "").strip():
                raise ApprovalError(
                    f"a registered person adds people: say who you are with --by NAME "
                    f"(registered: {', '.join(names[:10])})"
                )
            else:
                adder = self._registered(s, by, what="add people")
            return self._insert_person(
                s,
                name,
                adder,
                note="registered"
                if adder != name
                else "registered themselves as the workspace's first approver",
            ), True

    @staticmethod
    def _person_row(s: Session, name: str) -> PersonRow | None:
        return s.scalars(select(PersonRow).where(PersonRow.key == person_key(name))).first()

    @staticmethod
    def _insert_person(s: Session, name: str, adder: str, *, note: str) -> PersonRow:
        row = PersonRow(name=name, key=person_key(name), added_by=adder)
        s.add(row)
        s.flush()
        s.add(
            AuditRow(
                draft_id=None,
                campaign_id=None,
                action=PERSON_ADDED,
                actor=adder,
                after={"name": name},
                note=note,
            )
        )
        return row

    def _registered(
        self, s: Session, actor: str | None, *, what: str = "decide on a draft", first: bool = False
    ) -> str:
        """The registered spelling of `actor`, a person's name (`person`). With nobody registered
        yet and `first` (the caller confirmed it), `actor` is registered as the first approver;
        otherwise an unregistered name is refused."""
        name = person(actor)
        row = self._person_row(s, name)
        if row is not None:
            return row.name
        names = [p.name for p in s.scalars(select(PersonRow).order_by(PersonRow.id))]
        if not names:
            if first:
                return self._insert_person(
                    s, name, name, note="registered at first use, confirmed by them"
                ).name
            raise ApprovalError(
                f"nobody is registered to {what} in this workspace yet; register "
                f"yourself first: retention approvals people add {name!r}"
            )
        shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
        raise ApprovalError(
            f"{name!r} is not registered to {what} in this workspace (registered: {shown}); "
            "a registered person adds people with `retention approvals people add NAME "
            "--by THEIR_NAME`"
        )

    # --- a person's decisions ---------------------------------------------------------------
    @staticmethod
    def _row(s: Session, draft_id: int) -> DraftRow:
        r = s.get(DraftRow, int(draft_id))
        if r is None:
            raise ApprovalError(f"no draft with id {draft_id}")
        return r

    def _move(
        self, s: Session, r: DraftRow, to: str, actor: str, action: str, note: str = "", **values
    ) -> Transition:
        before = r.snapshot()
        was = r.state
        now = _now()
        done = s.execute(
            update(DraftRow)
            .where(DraftRow.id == r.id, DraftRow.state == was, DraftRow.exported_at.is_(None))
            .values(state=to, updated_at=now, decided_by=actor, decided_at=now, **values)
        )
        if done.rowcount != 1:
            raise ApprovalError(f"draft {r.id} changed meanwhile; try again")
        s.refresh(r)
        s.add(
            AuditRow(
                draft_id=r.id,
                campaign_id=r.campaign_id,
                action=action,
                actor=actor,
                before=before,
                after=r.snapshot(),
                note=note,
            )
        )
        return Transition(r.id, was, to, True, f"draft {r.id}: {was} -> {to}")

    def approve(
        self, draft_ids: list[int], *, actor: str, first_approver: bool = False
    ) -> list[Transition]:
        """pending/edited -> approved, by a registered person (`actor`; with nobody registered
        yet and `first_approver`, which the caller set after asking them, they are registered
        as the first). Approving an approved draft is a no-op; blocked and rejected drafts
        cannot be approved (the whole call is refused)."""
        person(actor)
        out = []
        with self._session() as s, s.begin():
            actor = self._registered(s, actor, first=first_approver)
            for i in draft_ids:
                r = self._row(s, i)
                if r.state == "approved":
                    out.append(
                        Transition(
                            r.id,
                            "approved",
                            "approved",
                            False,
                            f"draft {r.id} is already approved; nothing to do",
                        )
                    )
                elif r.state in ("pending", "edited"):
                    out.append(self._move(s, r, "approved", actor, "approved"))
                elif r.state == "blocked":
                    why = "; ".join(f["message"] for f in r.flags if f["severity"] == "block")
                    raise ApprovalError(
                        f"draft {r.id} is blocked by the guardrails ({why}); edit it first"
                    )
                else:
                    raise ApprovalError(f"draft {r.id} is {r.state}; it cannot be approved")
        return out

    def approve_all_pending(
        self, *, actor: str, campaign: str | None = None, first_approver: bool = False
    ) -> list[Transition]:
        person(actor)
        ids = [
            d.id for d in self.list_drafts(campaign=campaign) if d.state in ("pending", "edited")
        ]
        return self.approve(ids, actor=actor, first_approver=first_approver) if ids else []

    def reject(
        self, draft_id: int, *, actor: str, reason: str = "", first_approver: bool = False
    ) -> Transition:
        return self.reject_many(
            [draft_id], actor=actor, reason=reason, first_approver=first_approver
        )[0]

    def reject_many(
        self, draft_ids: list[int], *, actor: str, reason: str = "", first_approver: bool = False
    ) -> list[Transition]:
        """Reject drafts (the app's bulk reject), in one transaction, each exactly as `reject`
        does it: the same audit row with the same reason. Rejecting a rejected draft is a
        no-op; an exported draft cannot be rejected (the whole call is refused)."""
        person(actor)
        out = []
        with self._session() as s, s.begin():
            actor = self._registered(s, actor, first=first_approver)
            for i in draft_ids:
                r = self._row(s, i)
                if r.state == "rejected":
                    out.append(
                        Transition(
                            r.id, "rejected", "rejected", False, f"draft {r.id} is already rejected"
                        )
                    )
                    continue
                if r.exported_at is not None:
                    raise ApprovalError(f"draft {r.id} was already exported; it cannot be rejected")
                out.append(self._move(s, r, "rejected", actor, "rejected", note=reason))
        return out

    def edit(
        self,
        draft_id: int,
        *,
        actor: str,
        subject: str | None = None,
        body: str | None = None,
        discount_cap: float,
        first_approver: bool = False,
    ) -> Transition:
        """A registered person's new subject and/or body. The content guardrails run on the new
        text; an edit they block is refused. The draft becomes `edited` and needs approving again."""
        from agent.outreach.guardrails import check_edit

        person(actor)
        if subject is None and body is None:
            raise ApprovalError("nothing to edit: give --subject and/or --body")
        with self._session() as s, s.begin():
            actor = self._registered(s, actor, first=first_approver)
            r = self._row(s, draft_id)
            if r.exported_at is not None or r.state == "rejected":
                raise ApprovalError(
                    f"draft {r.id} is {'exported' if r.exported_at else 'rejected'}; "
                    "it cannot be edited"
                )
            subj, text_ = (
                subject if subject is not None else r.subject,
                body if body is not None else r.body,
            )
            new = check_edit(
                subj,
                text_,
                offer=r.offer,
                offer_percent=r.offer_percent,
                previous_flags=r.flags,
                discount_cap=discount_cap,
            )
            block = [f["message"] for f in new if f["severity"] == "block"]
            if block:
                raise ApprovalError(f"edit refused by the guardrails: {'; '.join(block)}")
            return self._move(s, r, "edited", actor, "edited", subject=subj, body=text_, flags=new)

    # --- consent confirmations (agent.outreach.consent) ----------------------------------------------
    def confirm_consent(
        self, store_path: str | Path, kind: str, *, actor: str, note: str = ""
    ) -> AuditRow:
        """Record a person's confirmation that they hold consent for one channel (`kind`:
        email or sms) of one store: an audit-log row with who and when. Unknown consent on
        that channel then counts as given; a customer whose data says no stays refused."""
        return self._consent_event(
            store_path, kind, actor=actor, note=note, action=CONSENT_CONFIRMED
        )

    def withdraw_consent(
        self, store_path: str | Path, kind: str, *, actor: str, note: str = ""
    ) -> AuditRow:
        """Record that an earlier confirmation no longer holds (the latest event wins)."""
        return self._consent_event(
            store_path, kind, actor=actor, note=note, action=CONSENT_WITHDRAWN
        )

    def _consent_event(
        self, store_path, kind: str, *, actor: str, note: str, action: str
    ) -> AuditRow:
        from agent.outreach.consent import KINDS

        try:
            actor = person(actor)
        except ApprovalError:
            raise ApprovalError(
                f"only a person can confirm or withdraw consent; actor {actor!r} is "
                "refused (use --by NAME)"
            ) from None
        if kind not in KINDS:
            raise ApprovalError(f"unknown consent channel {kind!r}; use one of {', '.join(KINDS)}")
        store = _store_key(store_path)
        words = (
            f"{actor} confirms holding the customers' consent to be contacted by {kind} for "
            f"the store {store}, where a customer's data does not say otherwise"
            if action == CONSENT_CONFIRMED
            else f"{actor} withdraws the confirmation of {kind} consent for the store {store}"
        )
        with self._session() as s, s.begin():
            row = AuditRow(
                draft_id=None,
                campaign_id=None,
                action=action,
                actor=actor,
                after={"store": store, "kind": kind, "statement": words},
                note=note,
            )
            s.add(row)
            s.flush()
            return row

    def consent_confirmations(self, store_path: str | Path) -> dict:
        """{kind: agent.outreach.consent.Confirmation} in force for a store: per kind, the latest
        confirm/withdraw event of the audit log for that store, when it is a confirmation."""
        from agent.outreach.consent import Confirmation

        store = _store_key(store_path)
        q = (
            select(AuditRow)
            .where(AuditRow.action.in_([CONSENT_CONFIRMED, CONSENT_WITHDRAWN]))
            .order_by(AuditRow.id)
        )
        latest: dict[str, AuditRow] = {}
        with self._session() as s, s.begin():
            for r in s.scalars(q):
                after = r.after or {}
                if after.get("store") == store and after.get("kind"):
                    latest[after["kind"]] = r
        return {
            k: Confirmation(kind=k, by=r.actor, at=r.at, store=store, note=r.note)
            for k, r in latest.items()
            if r.action == CONSENT_CONFIRMED
        }

    # --- export -----------------------------------------------------------------------------
    def export(
        self,
        customers: pd.DataFrame,
        *,
        exports_dir: Path,
        out: Path | None = None,
        actor: str = "cli",
        campaigns: list[str] | None = None,
        confirmed=None,
    ) -> ExportResult:
        """Write approved, not yet exported drafts as CSV (drafts.EXPORT_COLUMNS, bodies rendered
        from the customers table). Each draft is claimed by a conditional UPDATE, so it is
        exported once; drafts whose customer has no email or no longer consents stay in the
        queue. The export is recorded before its file is written, and an export a kill
        interrupted is finished first (same file, same drafts). `out`: the file (default
        exports_dir/export_<id>_<time>.csv); never an existing file or an earlier export's.
        `campaigns`: only drafts of these campaigns (those of the store `customers` belongs to);
        `confirmed`: the store's consent confirmations (`consent_confirmations`), for customers
        whose data does not say. Nothing is sent."""
        from agent.outreach.drafts import exportable

        root = self._root(exports_dir)
        finished, held = self._finish_interrupted(customers, root, campaigns)
        target = Path(out).expanduser().resolve() if out else None
        with self._session() as s, s.begin():
            q = select(DraftRow).where(DraftRow.state == "approved", DraftRow.exported_at.is_(None))
            if campaigns is not None:
                q = q.where(DraftRow.campaign_id.in_(list(campaigns)))
            rows, skipped = exportable(
                list(s.scalars(q.order_by(DraftRow.id))), customers, confirmed=confirmed
            )
            skipped = held + skipped
            if not rows:
                return _finished_only(
                    finished, skipped, "nothing to export: no approved drafts waiting"
                )
            if target is not None:
                self._refuse_overwrite(s, target, root)
            exp = ExportRow(actor=actor, at=_now(), writer=_writer())
            s.add(exp)
            s.flush()
            path = target or _free(
                Path(exports_dir) / f"export_{exp.id:04d}_{exp.at:%Y%m%d_%H%M%S}.csv"
            )
            now = _now()
            claimed = [
                r
                for r in rows
                if s.execute(
                    update(DraftRow)
                    .where(
                        DraftRow.id == r.id,
                        DraftRow.state == "approved",
                        DraftRow.exported_at.is_(None),
                    )
                    .values(exported_at=now, export_id=exp.id, updated_at=now)
                ).rowcount
                == 1
            ]
            if not claimed:
                s.delete(exp)
                return _finished_only(
                    finished, skipped, "nothing to export: another session exported them"
                )
            exp.path, exp.draft_ids, exp.completed_at = (
                self._stored(path, root),
                [r.id for r in claimed],
                None,
            )
            export_id, ids = exp.id, list(exp.draft_ids)
        path = self._complete(export_id, customers, root)
        if path is None:
            raise ApprovalError(
                f"export {export_id} was undone by another session; run the export again"
            )
        return ExportResult(
            path,
            ids,
            skipped,
            _finished_note(finished) + f"exported {len(ids)} drafts to {path}; nothing was sent",
            tuple(finished),
        )

    def export_again(
        self,
        which: str | int,
        customers: pd.DataFrame,
        *,
        out: Path | None = None,
        actor: str = "cli",
        campaigns: list[str] | None = None,
        exports_dir: Path | None = None,
    ) -> ExportResult:
        """Re-write an earlier export (by id or path) with the same drafts, recorded as a new
        export pointing at the old one. No draft is added to it. `campaigns`: only drafts of
        these campaigns (those of the store `customers` belongs to) are rendered; the others
        are held back with the reason, and a partial re-export goes to a new file (unless
        `out` says where) so the earlier file keeps every row it had. The file is always in
        the workspace (an export once written outside it is re-written inside, in
        `exports_dir`), unless `out` names a new file."""
        root = self._root(exports_dir)
        exports_dir = Path(exports_dir) if exports_dir is not None else root / "exports"
        finished, held = self._finish_interrupted(customers, root, campaigns)
        target = Path(out).expanduser().resolve() if out else None
        moved = ""
        with self._session() as s, s.begin():
            old = self._find_export(s, which, root)
            rows = [self._row(s, i) for i in old.draft_ids]
            keep = None if campaigns is None else set(campaigns)
            mine = [r for r in rows if keep is None or r.campaign_id in keep]
            skipped = held + [
                f"draft {r.id}: planned on another store (campaign {r.campaign_id}); re-export "
                "it with --store pointing there"
                for r in rows
                if keep is not None and r.campaign_id not in keep
            ]
            if not mine:
                raise ApprovalError(
                    f"export {old.id} holds no drafts of this store (its campaigns: "
                    f"{', '.join(sorted({r.campaign_id for r in rows}))}); give --store "
                    "pointing at the store they were planned on"
                )
            if target is not None:
                self._refuse_overwrite(s, target, root)
            exp = ExportRow(
                actor=actor,
                draft_ids=[r.id for r in mine],
                again_of=old.id,
                at=_now(),
                writer=_writer(),
            )
            s.add(exp)
            s.flush()
            was = self._file(old.path, root)
            if target is not None:
                path = target
            elif not _inside(was, root):
                path = _free(exports_dir / f"{was.stem}_again_{exp.id:04d}.csv")
                moved = (
                    f"export {old.id} was written outside the workspace ({was}); its re-export is "
                    f"inside it instead. "
                )
            elif len(mine) < len(rows):
                path = _free(was.with_name(f"{was.stem}_again_{exp.id:04d}{was.suffix}"))
            else:
                path = was
            exp.path, exp.completed_at = self._stored(path, root), None
            export_id, ids, old_id = exp.id, list(exp.draft_ids), old.id
        path = self._complete(export_id, customers, root)
        if path is None:
            raise ApprovalError(f"export {export_id} was undone by another session; run it again")
        which_ = f"the {len(rows)}" if len(mine) == len(rows) else f"{len(mine)} of the {len(rows)}"
        return ExportResult(
            path,
            ids,
            skipped,
            _finished_note(finished)
            + moved
            + f"re-exported {which_} drafts of export {old_id} to {path}; nothing was sent",
            tuple(finished),
        )

    def exports(self) -> list[ExportRow]:
        """Every export, oldest first (re-exports point at theirs with again_of)."""
        with self._session() as s, s.begin():
            return list(s.scalars(select(ExportRow).order_by(ExportRow.id)))

    def export_file(self, export: ExportRow, exports_dir: Path | None = None) -> Path:
        """Where an export's file is: its stored path resolved in the workspace."""
        return self._file(export.path, self._root(exports_dir))

    # the export's parts -------------------------------------------------------------------------
    def _root(self, exports_dir: Path | None = None) -> Path:
        """The workspace stored paths are relative to (never the current folder)."""
        if self.workspace is not None:
            return self.workspace
        if exports_dir is not None:
            return Path(exports_dir).expanduser().resolve().parent
        raise ApprovalError(
            "no workspace for the export: open the queue with open_queue(WORKSPACE)"
        )

    @staticmethod
    def _stored(path: Path, root: Path) -> str:
        """A path as recorded: relative to the workspace when inside it, else absolute."""
        p = Path(path).expanduser().resolve()
        return p.relative_to(root).as_posix() if _inside(p, root) else str(p)

    @staticmethod
    def _file(stored: str, root: Path) -> Path:
        """A recorded path resolved in the workspace. An earlier version recorded paths as
        given (relative to the folder it ran in): such a file is looked for in exports/."""
        p = Path(stored)
        if p.is_absolute():
            return p
        here = (root / p).resolve()
        legacy = root / "exports" / p.name
        return legacy if not here.exists() and legacy.exists() else here

    def _refuse_overwrite(self, s: Session, target: Path, root: Path) -> None:
        leave = "give a new file name, or leave out --out for a new file in the workspace's exports folder"
        for e in s.scalars(select(ExportRow).order_by(ExportRow.id)):
            if self._file(e.path, root) == target:
                raise ApprovalError(
                    f"{target} is the file of export {e.id}: --out never overwrites an earlier "
                    f"export; {leave}"
                )
        if target.exists():
            raise ApprovalError(f"{target} already exists: --out never overwrites a file; {leave}")

    def _find_export(self, s: Session, which: str | int, root: Path) -> ExportRow:
        if str(which).strip().isdigit():
            old = s.get(ExportRow, int(str(which).strip()))
            if old is not None and old.again_of is not None:  # a re-export: the export it re-wrote
                old = s.get(ExportRow, old.again_of)
        else:
            want = Path(str(which)).expanduser()
            places = (
                {want.resolve(), (root / want).resolve()}
                if not want.is_absolute()
                else {want.resolve()}
            )
            old = next(
                (
                    e
                    for e in s.scalars(
                        select(ExportRow).where(ExportRow.again_of.is_(None)).order_by(ExportRow.id)
                    )
                    if e.path == str(which) or self._file(e.path, root) in places
                ),
                None,
            )
        if old is None:
            raise ApprovalError(f"no export {which!r}; see the exports folder")
        if old.completed_at is None:
            raise ApprovalError(
                f"export {old.id} was interrupted before its file was written; run the export "
                "with --store pointing at its store to finish it first"
            )
        return old

    def _finish_interrupted(
        self, customers: pd.DataFrame, root: Path, campaigns: list[str] | None
    ) -> tuple[list[tuple], list[str]]:
        """Finish the exports recorded without their file (a kill between the record and the
        file, or between the file and its completion): each is written at its recorded path
        with its recorded drafts. Those of another store's campaigns are left, with a note.
        Returns ([(export id, path, draft ids)], notes)."""
        with self._session() as s, s.begin():
            pending = list(
                s.scalars(
                    select(ExportRow).where(ExportRow.completed_at.is_(None)).order_by(ExportRow.id)
                )
            )
            camps = {
                e.id: set(
                    s.scalars(
                        select(DraftRow.campaign_id).where(DraftRow.id.in_(e.draft_ids or [-1]))
                    )
                )
                for e in pending
            }
        done, held = [], []
        for e in pending:
            busy = _writing(e.writer)
            if busy is None and e.at is not None:  # written on another machine: after a while
                at = e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC)
                busy = (_now() - at).total_seconds() < STALE_AFTER_S
            if busy:
                continue  # another session is writing it right now
            if campaigns is not None and not camps[e.id] <= set(campaigns):
                held.append(
                    f"export {e.id} was interrupted before its file was written; finish it with "
                    f"--store pointing at the store of its campaigns ({', '.join(sorted(camps[e.id]))})"
                )
                continue
            path = self._complete(e.id, customers, root)
            if path is not None:
                done.append((e.id, path, list(e.draft_ids)))
        return done, held

    def _complete(self, export_id: int, customers: pd.DataFrame, root: Path) -> Path | None:
        """Write a recorded export's file (atomic, inert CSV) and mark it complete, with the
        drafts' `exported` audit rows. Idempotent: a second writer writes the same file. A
        write that fails leaves no file, and the export is undone (its drafts wait again).
        None when the export is gone (undone by another session)."""
        from agent.outreach.drafts import export_table, write_export

        with self._session() as s, s.begin():
            exp = s.get(ExportRow, export_id)
            if exp is None:
                return None
            path = self._file(exp.path, root)
            if exp.completed_at is not None:
                return path
            rows = [self._row(s, i) for i in exp.draft_ids]
            stored, exp_actor, again = exp.path, exp.actor, exp.again_of
        if path.exists() and again is None and not _holds(path, exp.draft_ids):
            raise ApprovalError(
                f"export {export_id} was interrupted, and {path} now holds another file: "
                "not overwritten; move that file away and export again"
            )
        try:
            write_export(
                export_table(rows, customers), path, customers
            )  # + its Klaviyo, Shopify files
        except Exception:
            if not path.exists():
                self._undo(export_id)
            raise
        with self._session() as s, s.begin():
            done = s.execute(
                update(ExportRow)
                .where(ExportRow.id == export_id, ExportRow.completed_at.is_(None))
                .values(completed_at=_now())
            )
            if done.rowcount != 1:
                if (
                    s.get(ExportRow, export_id) is None
                ):  # undone meanwhile: no file for queued drafts
                    path.unlink(missing_ok=True)
                    return None
            elif again is None:
                s.add_all(
                    [
                        AuditRow(
                            draft_id=r.id,
                            campaign_id=r.campaign_id,
                            action="exported",
                            actor=exp_actor,
                            after={"export_id": export_id, "path": stored},
                        )
                        for r in rows
                    ]
                )
        _sweep_temp(path)
        return path

    def _undo(self, export_id: int) -> None:
        """Forget an unfinished export whose file could not be written: its drafts wait again."""
        with self._session() as s, s.begin():
            exp = s.get(ExportRow, export_id)
            if exp is None or exp.completed_at is not None:
                return
            if exp.again_of is None:
                s.execute(
                    update(DraftRow)
                    .where(DraftRow.export_id == export_id)
                    .values(exported_at=None, export_id=None)
                )
            s.execute(
                delete(ExportRow).where(ExportRow.id == export_id, ExportRow.completed_at.is_(None))
            )


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def _holds(path: Path, draft_ids: list[int]) -> bool:
    """Whether the CSV at `path` is an export of exactly these drafts (ours, from before a kill)."""
    try:
        ids = pd.read_csv(path, usecols=["draft_id"])["draft_id"]
        return sorted(int(i) for i in ids) == sorted(int(i) for i in draft_ids)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _free(path: Path) -> Path:
    """`path`, or `<stem>_2<suffix>`... when a file (not of this database) is already there."""
    n, p = 1, Path(path)
    while p.exists():
        n += 1
        p = path.with_name(f"{path.stem}_{n}{path.suffix}")
    return p


def _sweep_temp(path: Path) -> None:
    """Remove the temporary files (tools.csvout: .<name>.<pid>.<thread>.tmp) that a killed
    writer of `path` left; those of a live process are its, and kept."""
    import glob

    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


STALE_AFTER_S = 600
"""An unfinished export recorded on another machine counts as interrupted after this long."""


def _proc_start(pid: int) -> str:
    """The start time of a process (Linux /proc), to tell it from a later one with its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _writer() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{_proc_start(os.getpid())}"


def _writing(writer: str | None) -> bool | None:
    """Whether the process that recorded an export is still running: True, False, or None
    when it cannot be told (another machine, or no writer recorded)."""
    import socket

    host, _, rest = (writer or "").partition(":")
    pid, _, start = rest.partition(":")
    if not writer or host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True  # this process: another thread is writing it
    return _alive(int(pid)) and (not start or _proc_start(int(pid)) in ("", start))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _finished_note(finished: list[tuple]) -> str:
    return "".join(
        f"finished export {i}, interrupted earlier: {len(ids)} drafts in {p}. "
        for i, p, ids in finished
    )


def _finished_only(finished: list[tuple], skipped: list[str], nothing: str) -> ExportResult:
    if not finished:
        return ExportResult(None, [], skipped, nothing)
    i, p, ids = finished[-1]
    return ExportResult(
        p,
        ids,
        skipped,
        _finished_note(finished) + "No other approved drafts were waiting; nothing was sent",
        tuple(finished),
    )


def _store_key(store_path: str | Path) -> str:
    """A store's identity in the audit log: its resolved path."""
    try:
        return str(Path(store_path).resolve())
    except OSError:
        return str(store_path)


def open_queue(workspace: str | Path | None = None, *, url: str | None = None) -> ApprovalQueue:
    """The queue of a workspace (or of `url` / DATABASE_URL)."""
    return ApprovalQueue(make_engine(database_url(workspace, url)), workspace)
