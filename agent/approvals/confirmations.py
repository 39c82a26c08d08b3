"""The approval queue's record of a merchant's consent confirmations (agent.outreach.consent).

A merchant's confirmation that they hold consent for a channel of a store is an audit-log row
(action consent_confirmed / consent_withdrawn, with who and when; the latest per store and
channel is in force): `confirm_consent`, `withdraw_consent`, `consent_confirmations`. Unknown
consent on a confirmed channel then counts as given; a customer whose data says no stays refused.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from agent.approvals.database import CONSENT_CONFIRMED, CONSENT_WITHDRAWN, AuditRow, QueueBase
from agent.approvals.errors import ApprovalError
from agent.approvals.people import person


class ConsentConfirmations(QueueBase):
    """The approval queue's consent confirmations, per store and channel."""

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


def _store_key(store_path: str | Path) -> str:
    """A store's identity in the audit log: its resolved path."""
    try:
        return str(Path(store_path).resolve())
    except OSError:
        return str(store_path)
