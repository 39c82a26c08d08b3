"""The approval queue's database: its tables, the engine, and the base every queue part shares.

SQLAlchemy 2 ORM on `sqlite:///<workspace>/approvals.sqlite` or `DATABASE_URL` (PostgreSQL;
portable SQL only). Tables: campaigns, drafts, audit_log (append-only: the ORM and a database
trigger refuse updates and deletes), exports, people. `make_engine` creates them (and adds the
columns added since the first version); on SQLite every transaction starts with BEGIN IMMEDIATE
(writers queue up to 30 s). `QueueBase` holds the engine and the workspace and opens one
session per operation; the queue's parts (agent.approvals.people, .confirmations, .exporting,
.queue) build on it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

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
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from agent.approvals.errors import ApprovalError

CONSENT_CONFIRMED, CONSENT_WITHDRAWN = "consent_confirmed", "consent_withdrawn"
"""Audit-log actions of a merchant's consent confirmation (agent.outreach.consent)."""
SETTINGS_CHANGED = "settings_changed"
"""Audit-log action of a change of the app's settings (`record_settings_change`)."""
PERSON_ADDED = "person_added"
"""Audit-log action of a person registered to decide on drafts."""
STATES = ("pending", "edited", "approved", "rejected", "blocked")


class Base(DeclarativeBase):
    pass


def now_utc() -> datetime:
    return datetime.now(UTC)


class CampaignRow(Base):
    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
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
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class ExportRow(Base):
    __tablename__ = "exports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
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
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now_utc)
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
    """`url` (the `database_url` setting, DATABASE_URL), else
    sqlite:///<workspace>/approvals.sqlite."""
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


class QueueBase:
    """The queue on one database: the engine, the workspace, one session per operation."""

    def __init__(self, engine: Engine, workspace: str | Path | None = None) -> None:
        self.engine = engine
        self.workspace = Path(workspace).expanduser().resolve() if workspace is not None else None
        """The workspace whose files this queue writes (exports): stored paths are relative
        to it and never resolved against the current folder."""

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @staticmethod
    def _row(s: Session, draft_id: int) -> DraftRow:
        r = s.get(DraftRow, int(draft_id))
        if r is None:
            raise ApprovalError(f"no draft with id {draft_id}")
        return r
