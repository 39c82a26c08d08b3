"""The Approvals tab's handlers: the queue as the merchant filtered it (kept on the server), one
draft in the editor and the decision on it, the bulk approval and rejection behind a tick the server notes, the people
who decide, the campaign results and the export."""

from __future__ import annotations

import logging

import gradio as gr

from agent.approvals.errors import ApprovalError
from ui import views
from ui.handlers.context import AppContext, JobRunning, error_message

log = logging.getLogger(__name__)


def show_draft(ctx: AppContext, draft_id) -> tuple:
    """One draft for the Approvals editor: (subject, body, detail, preview as the customer will
    see it: the name filled in from the store's customers file, on this machine)."""
    if draft_id is None or draft_id == "":
        return "", "", "Pick a draft: click a row of the table or choose it in «Draft».", ""
    try:
        d = ctx.queue().get(int(draft_id)).to_dict()
    except Exception as exc:
        return "", "", error_message(exc), ""
    from agent.outreach.render import render

    person = people_of(ctx, [d]).get(int(d["id"]))
    subject, body = render(d, person or {})
    to = (person or {}).get("phone" if d["channel"] == "sms" else "email") or ""
    return (
        d["subject"],
        d["body"],
        views.draft_detail(d, ctx.currency, person),
        views.draft_preview(subject, body, d["channel"], str(to)),
    )


def draft_rows(ctx: AppContext, state: str, only: str = ""):
    """The approval queue's table, by state and, when `only` names draft ids, just those."""
    return views.drafts_table([d.to_dict() for d in _listed(ctx, state, only)])


def _listed(ctx: AppContext, state: str, only: str = "") -> list:
    ids = set(views.parse_ids(only))
    return [
        d
        for d in ctx.queue().list_drafts(state=None if state in (views.ALL, None, "") else state)
        if not ids or d.id in ids
    ]


def people_of(ctx: AppContext, drafts: list[dict]) -> dict[int, dict]:
    """draft id -> its customer's personal row (first and last name, email, phone) for the drafts planned
    on the current store, read from the store's own customers file on this machine: shown in
    the queue and the preview, never given to a model. Empty while the store is being scored,
    and for drafts of another store in the same workspace (the same id is another person)."""
    if not ctx.loaded or not drafts:
        return {}
    from agent.reports.campaigns import store_campaigns

    mine = set(store_campaigns(ctx.queue(), ctx.store_dir)[0])
    s = ctx.session()
    return {
        int(d["id"]): s.personal(str(d["customer_id"])) or {}
        for d in drafts
        if d.get("campaign_id") in mine
    }


SHOWN = 7
"""What `shown_rows` fills: table, view, bulk box, arming, draft picker, bulk approve and bulk
reject buttons."""


def shown_rows(ctx: AppContext, state: str, only: str = "", picked=None) -> tuple:
    """The queue's table as the merchant asked for it, and what it shows, kept on the server
    (a gr.State: {"state", "only", "ids"}); the bulk box is cleared and disarmed, since what
    it would approve has changed; the draft picker lists the drafts shown, and the bulk buttons
    say how many of them they would approve or reject; `picked` stays picked when it is still
    shown. (table, view, box, arming, picker, bulk approve button, bulk reject button)"""
    drafts = [d.to_dict() for d in _listed(ctx, state, only)]
    view = {"state": state, "only": only or "", "ids": [d["id"] for d in drafts]}
    people = people_of(ctx, drafts)
    n = sum(d["status"] in ("pending", "edited") for d in drafts)
    bulk = gr.update(value=bulk_label("Approve", n), interactive=n > 0)
    bulk_no = gr.update(value=bulk_label("Reject", n), interactive=n > 0)
    keep = int(picked) if picked not in (None, "") and int(picked) in view["ids"] else None
    return (
        views.drafts_view(drafts, people, ctx.currency),
        view,
        False,
        None,
        gr.update(choices=views.draft_choices(drafts, people), value=keep),
        bulk,
        bulk_no,
    )


def bulk_label(verb: str, n: int) -> str:
    """A bulk button's label with its count: "Approve the 2 pending drafts shown"."""
    return f"{verb} the {n} pending draft{'s' if n != 1 else ''} shown"


def queue_results(ctx: AppContext):
    """The campaign results beside the queue (agent.reports.campaigns.all_campaign_results), as shown."""
    if not ctx.loaded:
        return views.empty(views.CAMPAIGN_HEADINGS)
    from agent.reports.campaigns import all_campaign_results

    try:
        return views.campaigns_view(all_campaign_results(ctx.queue(), ctx.session().orders))
    except Exception:
        log.exception("campaign results failed")
        return views.empty(views.CAMPAIGN_HEADINGS)


def decide_draft(
    ctx: AppContext,
    kind: str,
    draft_id,
    actor: str,
    subject: str,
    body: str,
    reason: str | None,
    view: dict | None,
) -> tuple:
    """The editor's Approve, Reject (with the reason, optional) or Save edit (`kind`: "approve",
    "reject", "edit") on the picked draft, by `actor`; then the table as the merchant filtered
    it and the draft again. (message, *shown_rows, *show_draft)"""
    try:
        q = ctx.queue()
        if draft_id is None or draft_id == "":
            raise ApprovalError("pick a draft first")
        if kind == "approve":
            m = q.approve([int(draft_id)], actor=actor)[0].message
        elif kind == "reject":
            m = q.reject(int(draft_id), actor=actor, reason=reason or "").message
        else:
            m = q.edit(
                int(draft_id),
                actor=actor,
                subject=subject,
                body=body,
                discount_cap=ctx.settings.discount_cap,
            ).message
        m = views.merchant_text(m[:1].upper() + m[1:])
    except (ApprovalError, LookupError, ValueError) as exc:
        m = error_message(exc)
    v = view or {}
    return (
        (m,)
        + shown_rows(ctx, v.get("state", views.ALL), v.get("only", ""), draft_id)
        + show_draft(ctx, draft_id)
    )


def _approvable(ctx: AppContext, view: dict | None) -> list[int]:
    """The pending and edited drafts among those the table shows (the server's view)."""
    shown = set((view or {}).get("ids") or [])
    return [
        d.id
        for d in ctx.queue().list_drafts()
        if d.id in shown and d.state in ("pending", "edited")
    ]


def arm_bulk(ctx: AppContext, ticked: bool, view: dict | None) -> tuple:
    """The bulk confirmation box ticked (or unticked) by the merchant: the server notes which
    drafts it confirms, the pending and edited drafts the table shows now; the bulk approve
    (or reject) button acts on those and no other. (arming, message)"""
    if not ticked:
        return None, "Bulk approval not confirmed."
    ids = _approvable(ctx, view)
    if not ids:
        return None, "None of the drafts shown is pending or edited: nothing to approve or reject."
    return (
        {"ids": ids, "view": list((view or {}).get("ids") or [])},
        f"Confirmed for the {len(ids)} pending and edited draft(s) shown (ids {_id_list(ids)}): "
        f"press «{bulk_label('Approve', len(ids))}» or «{bulk_label('Reject', len(ids))}».",
    )


def _id_list(ids: list[int], most: int = 20) -> str:
    words = ", ".join(map(str, ids[:most]))
    return words + (f" and {len(ids) - most} more" if len(ids) > most else "")


def bulk_approve(ctx: AppContext, armed: dict | None, actor: str, view: dict | None) -> tuple:
    """Approve the pending and edited drafts the table shows, only when the merchant's tick
    (`arm_bulk`, kept on the server) confirmed them for the same table; drafts that appeared or
    changed since are left alone. The box is cleared afterwards, so the next bulk approval needs
    a new tick. (message, *shown_rows)"""
    return _bulk(ctx, "approve", armed, actor, view)


def bulk_reject(
    ctx: AppContext, armed: dict | None, actor: str, view: dict | None, reason: str = ""
) -> tuple:
    """Reject the pending and edited drafts the table shows, on the same terms as
    `bulk_approve` (the tick, the same table), each with the reason typed for the single
    reject (optional), through the queue's `reject_many`: the audit log gets one row per
    draft, as a single reject writes it. (message, *shown_rows)"""
    return _bulk(ctx, "reject", armed, actor, view, reason)


def _bulk(
    ctx: AppContext, kind: str, armed: dict | None, actor: str, view: dict | None, reason: str = ""
) -> tuple:
    verb, done_word = {"approve": ("approve", "approved"), "reject": ("reject", "rejected")}[kind]
    view = view or {"state": views.ALL, "only": "", "ids": []}

    def after(message: str) -> tuple:
        return (message,) + shown_rows(ctx, view.get("state", views.ALL), view.get("only", ""))

    if not armed or not armed.get("ids"):
        return after(f"Tick the confirmation box to {verb} the pending drafts shown.")
    if list(armed.get("view") or []) != list(view.get("ids") or []):
        return after(
            f"The drafts shown changed since the box was ticked: nothing {done_word}; tick it again."
        )
    ids = [i for i in _approvable(ctx, view) if i in set(armed["ids"])]
    if not ids:
        return after(
            f"None of the confirmed drafts is still pending or edited: nothing {done_word}."
        )
    try:
        q = ctx.queue()
        done = (
            q.approve(ids, actor=actor)
            if kind == "approve"
            else q.reject_many(ids, actor=actor, reason=(reason or "").strip())
        )
        changed = [t.draft_id for t in done if t.changed]
        m = f"{len(changed)} drafts {done_word} by {actor} (ids {_id_list(changed)})."
    except (ApprovalError, LookupError, ValueError) as exc:
        m = error_message(exc)
    return after(m)


def people_line(ctx: AppContext) -> str:
    """Who may decide on drafts in this workspace (agent.approvals.queue: a registered person)."""
    try:
        names = [p.name for p in ctx.queue().people()]
    except Exception as exc:
        return error_message(exc)
    if not names:
        return (
            "Nobody is registered yet to decide on drafts in this workspace: register yourself "
            "(the name you give in «Your name»), then approve."
        )
    return "People who decide on drafts here: " + ", ".join(names) + "."


def register_person(ctx: AppContext, name: str | None, by: str | None) -> tuple:
    """Register a person who may approve, edit and reject drafts: the first one registers
    themselves, later ones are added by a registered person (`by`, «Your name»). (message, people)"""
    try:
        row, added = ctx.queue().add_person(name or "", by=(by or "").strip() or None)
    except (ApprovalError, ValueError) as exc:
        return error_message(exc), people_line(ctx)
    return (
        f"Registered {row.name} to decide on drafts."
        if added
        else f"{row.name} is registered already."
    ), people_line(ctx)


def export_drafts(ctx: AppContext, actor: str, view: dict | None = None, picked=None) -> tuple:
    """Approved drafts to CSV (agent.reports.campaigns.export_approved): the export, and next to it the
    same drafts as Klaviyo's profile import and Shopify's customer-tag import; those three
    files are the downloads the app then serves for exports. (message, table, export file,
    view, box, arming, picker, bulk approve and reject buttons, the Klaviyo and Shopify files)"""
    from agent.approvals.export import format_paths
    from agent.reports.campaigns import export_approved

    view = view or {"state": views.ALL, "only": ""}

    def out(message, file, platform):
        table, v, box, armed, picker, bulk, bulk_no = shown_rows(
            ctx, view.get("state", views.ALL), view.get("only", ""), picked
        )
        return message, table, file, v, box, armed, picker, bulk, bulk_no, platform

    try:
        with ctx.job("the export"):
            res = export_approved(
                ctx.ws, ctx.queue(), store=ctx.store_dir, actor=actor or "merchant"
            )
    except JobRunning as exc:
        return out(str(exc), gr.update(), gr.update())
    except Exception as exc:
        log.exception("export failed")
        ctx.downloads.withdraw("export")
        return out(error_message(exc), None, None)
    paths = [res.path, *format_paths(res.path).values()] if res.path else []
    served = ctx.downloads.offer("export", [p for p in paths if p.exists()])
    msg = "Done: " + (res.message.replace(f" to {res.path}", "") if res.path else res.message) + "."
    if res.path:
        msg += (
            " Three files: the export, and the same drafts for **Klaviyo** (Lists & segments › Import "
            "contacts; subject, message and offer code become profile properties) and for **Shopify** "
            "(Customers › Import, with «Overwrite existing customers»: tags each customer with the campaign)."
        )
    if res.skipped:
        msg += (
            f" Held back: {'; '.join(res.skipped[:5])}"
            + (" …" if len(res.skipped) > 5 else "")
            + "."
        )
    return out(msg, served[0] if served else None, served[1:] or None)
