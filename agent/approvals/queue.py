"""The approval queue: nothing leaves without a person's yes.

States: pending -> approved | edited | rejected; edited -> approved | edited | rejected;
approved -> edited (needs approving again) | rejected, until it is exported (exported_at set,
state stays approved; listed as "exported"); blocked (by the guardrails) -> edited, by an edit
that clears the blocking flags, or rejected. Only a person approves, edits or rejects: actors
such as "assistant" or "agent" are refused, and a decision names a person registered in the
workspace (agent.approvals.people). A call that changes nothing (approving an approved draft)
is a no-op with a message and no audit row. Each change is one transaction with a conditional
UPDATE (WHERE state = <the state read>).

`ApprovalQueue` is the whole queue on one database (agent.approvals.database: SQLite, or
PostgreSQL with DATABASE_URL): the drafts and decisions here, the people who decide
(agent.approvals.people), the merchant's consent confirmations (agent.approvals.confirmations)
and the exports, which survive a kill (agent.approvals.exporting). The software never sends
anything: exports are CSV files for Klaviyo or Shopify Email; next to each, the same drafts as
Klaviyo's profile import and as Shopify's customer-tag import (agent.approvals.export).
`open_queue` opens the queue of a workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, cast

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from agent.approvals.confirmations import ConsentConfirmations
from agent.approvals.database import (
    SETTINGS_CHANGED,
    STATES,
    AuditRow,
    CampaignRow,
    DraftRow,
    database_url,
    make_engine,
    now_utc,
)
from agent.approvals.errors import ApprovalError
from agent.approvals.exporting import Exports
from agent.approvals.people import People, person


class Transition(NamedTuple):
    draft_id: int
    before: str
    after: str
    changed: bool
    message: str


class ApprovalQueue(People, ConsentConfirmations, Exports):
    """The queue on one database. Every method is one transaction."""

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

    # --- a person's decisions ---------------------------------------------------------------
    def _move(
        self, s: Session, r: DraftRow, to: str, actor: str, action: str, note: str = "", **values
    ) -> Transition:
        before = r.snapshot()
        was = r.state
        now = now_utc()
        done = cast(
            CursorResult,
            s.execute(
                update(DraftRow)
                .where(DraftRow.id == r.id, DraftRow.state == was, DraftRow.exported_at.is_(None))
                .values(state=to, updated_at=now, decided_by=actor, decided_at=now, **values)
            ),
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


def open_queue(workspace: str | Path | None = None, *, url: str | None = None) -> ApprovalQueue:
    """The queue of a workspace: on `url` (the `database_url` setting, DATABASE_URL) when it is
    given, else the workspace's SQLite file."""
    return ApprovalQueue(make_engine(database_url(workspace, url)), workspace)
