"""`retention approvals ...` and `retention campaigns ...` (DESIGN.md, "Command line").

Thin: every command is a call into `agent.approvals.queue` / `agent.reports.campaigns`. Refusals raise
`ApprovalError` (one line). The software never sends anything; exports are CSV files.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from agent.approvals.errors import ApprovalError
from agent.approvals.people import person
from agent.cli.common import DEFAULT_WS, WorkspaceOpt, run_settings, workspace_queue
from agent.workspace import Workspace

approvals_app = typer.Typer(
    help="The approval queue: nothing leaves without a person's yes.", no_args_is_help=True
)
people_app = typer.Typer(
    help="The people who may approve, edit and reject drafts in this workspace.",
    no_args_is_help=True,
)
approvals_app.add_typer(people_app, name="people")
campaigns_app = typer.Typer(help="Campaigns and their measured results.", no_args_is_help=True)

ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Your name as registered in this workspace "
        "(`approvals people`), recorded in the audit log "
        "(default: your login name).",
    ),
]
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="Store folder (customers, orders); default: the store the campaign was planned on.",
    ),
]
DemoOpt = Annotated[bool, typer.Option("--demo", help="Use the workspace's demo store.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NOTHING_SENT = (
    "Nothing is sent by this software: import the file into Klaviyo or Shopify Email yourself."
)


def _queue(workspace: Path):
    return workspace_queue(Workspace.at(workspace))


def _by(name: str | None) -> str:
    return name if name is not None else getpass.getuser()


def _ask(question: str) -> bool:
    """A yes/no question to the person at the keyboard; no answer (no terminal) is no."""
    try:
        return typer.confirm(question, default=False)
    except (typer.Abort, EOFError):
        return False


def _first_approver(q, name: str) -> bool:
    """Whether `name` is to be registered as the workspace's first approver: asked (and
    confirmed) only while nobody is registered. A refused answer refuses the decision."""
    if q.people():
        return False
    person(name)  # a program's name is refused before anything is asked
    if _ask(
        f"Nobody is registered to approve drafts in this workspace yet. Register {name!r} as "
        "its first approver (decisions are recorded under this name)?"
    ):
        return True
    raise ApprovalError(
        f"nothing done: nobody is registered to decide on drafts yet; register "
        f"yourself with `retention approvals people add {name!r}`"
    )


@people_app.command("add")
def people_add(
    name: Annotated[str, typer.Argument(help="The person's name, as it goes into the audit log.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for a confirmation.")] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Your name: a registered person adds "
            "people (default: your login name); not needed for the first.",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Register a person who may approve, edit and reject drafts (the first one registers
    themselves; later ones are added by a registered person)."""
    q = _queue(workspace)
    name = person(name)
    first = not q.people()
    question = (
        f"Register {name!r} as the first person who may approve drafts in this workspace?"
        if first
        else f"Register {name!r} as a person who may approve drafts in this workspace?"
    )
    if not yes and not _ask(question):
        raise ApprovalError("nobody registered (not confirmed)")
    row, added = q.add_person(name, by=None if first else _by(by))
    if added:
        typer.echo(
            f"Registered {row.name}: they may approve, edit and reject drafts in this workspace"
            + ("." if first else f" (added by {row.added_by}).")
        )
    else:
        typer.echo(f"{row.name} is already registered; nothing to do.")


@people_app.command("list")
def people_list(as_json: JsonOpt = False, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """The people who may decide on drafts."""
    people = _queue(workspace).people()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"name": p.name, "added_at": p.added_at.isoformat(), "added_by": p.added_by}
                    for p in people
                ],
                indent=2,
            )
        )
        return
    if not people:
        typer.echo(
            "Nobody is registered yet: `retention approvals people add NAME` (or the first "
            "approval asks)."
        )
        return
    for p in people:
        typer.echo(f"{p.name}  (added {p.added_at:%Y-%m-%d %H:%M} by {p.added_by})")


def _line(d) -> str:
    flags = f"  [{len(d.flags)} flag(s)]" if d.flags else ""
    return (
        f"{d.id:>5}  {d.status:<9} {d.campaign_id:<18} {d.customer_id:<10} {d.channel:<15}"
        f"{d.playbook_id:<32} {d.subject[:50]}{flags}"
    )


@approvals_app.command("list")
def approvals_list(
    state: Annotated[
        str | None,
        typer.Option("--state", help="pending, edited, approved, rejected, blocked or exported."),
    ] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="One campaign id.")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """List drafts (all, or by state / campaign)."""
    drafts = _queue(workspace).list_drafts(state=state, campaign=campaign)
    if as_json:
        typer.echo(json.dumps([d.to_dict() for d in drafts], indent=2, default=str))
        return
    if not drafts:
        typer.echo("No drafts" + (f" in state {state}" if state else "") + ".")
        return
    typer.echo(
        f"{'id':>5}  {'state':<9} {'campaign':<18} {'customer':<10} {'channel':<15}"
        f"{'playbook':<32} subject"
    )
    for d in drafts:
        typer.echo(_line(d))
    counts: dict[str, int] = {}
    for d in drafts:
        counts[d.status] = counts.get(d.status, 0) + 1
    typer.echo(f"{len(drafts)} drafts: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@approvals_app.command("show")
def approvals_show(
    draft_id: int, as_json: JsonOpt = False, workspace: WorkspaceOpt = DEFAULT_WS
) -> None:
    """Show one draft with its reason, cited playbook, flags and history."""
    q = _queue(workspace)
    d = q.get(draft_id)
    history = [
        {"action": a.action, "actor": a.actor, "at": a.at.isoformat(), "note": a.note}
        for a in q.audit(draft_id)
    ]
    if as_json:
        typer.echo(json.dumps({**d.to_dict(), "history": history}, indent=2, default=str))
        return
    typer.echo(
        f"Draft {d.id} ({d.status}) for customer {d.customer_id}, campaign {d.campaign_id}, "
        f"by {d.channel}"
    )
    typer.echo(f"Playbook: {d.playbook_id}")
    typer.echo(f"Why: {d.reason}")
    typer.echo(f"Offer: {d.offer or 'none'}" + (f" (code {d.offer_code})" if d.offer_code else ""))
    for f in d.flags:
        typer.echo(f"Flag [{f['severity']}] {f['rule']}: {f['message']}")
    typer.echo(f"\nSubject: {d.subject}\n\n{d.body}\n")
    typer.echo("({first_name} is filled in from the customers table at export.)")
    for h in history:
        typer.echo(
            f"  {h['at']}  {h['action']:<9} by {h['actor']}"
            + (f": {h['note']}" if h["note"] else "")
        )


@approvals_app.command("approve")
def approvals_approve(
    draft_ids: Annotated[list[int] | None, typer.Argument(help="Draft ids.")] = None,
    all_pending: Annotated[
        bool,
        typer.Option("--all-pending", help="Approve every pending and edited draft (needs --yes)."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm --all-pending.")] = False,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="With --all-pending: one campaign.")
    ] = None,
    by: ByOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Approve drafts (only a person can; the assistant is refused)."""
    q = _queue(workspace)
    if all_pending:
        if draft_ids:
            raise ApprovalError("give draft ids or --all-pending, not both")
        waiting = [d for d in q.list_drafts(campaign=campaign) if d.state in ("pending", "edited")]
        if not yes:
            raise ApprovalError(
                f"--all-pending would approve {len(waiting)} drafts; add --yes to confirm"
            )
        done = q.approve_all_pending(
            actor=_by(by), campaign=campaign, first_approver=_first_approver(q, _by(by))
        )
    elif draft_ids:
        done = q.approve(list(draft_ids), actor=_by(by), first_approver=_first_approver(q, _by(by)))
    else:
        raise ApprovalError(
            "which drafts? give ids (retention approvals list) or --all-pending --yes"
        )
    for t in done:
        typer.echo(t.message)
    typer.echo(
        f"{sum(t.changed for t in done)} approved. Export them with `retention approvals export`."
    )


@approvals_app.command("reject")
def approvals_reject(
    draft_id: int,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log.")] = "",
    by: ByOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Reject a draft."""
    q = _queue(workspace)
    typer.echo(
        q.reject(
            draft_id, actor=_by(by), reason=reason, first_approver=_first_approver(q, _by(by))
        ).message
    )


@approvals_app.command("edit")
def approvals_edit(
    draft_id: int,
    subject: Annotated[str | None, typer.Option("--subject", help="New subject.")] = None,
    body: Annotated[
        str | None, typer.Option("--body", help="New body ({first_name} allowed).")
    ] = None,
    by: ByOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Edit a draft's subject or body; the guardrails check the new text and the draft needs
    approving again."""
    settings = run_settings(Workspace.at(workspace))
    q = workspace_queue(Workspace.at(workspace), settings)
    cap = settings.discount_cap  # the store's, as saved
    t = q.edit(
        draft_id,
        actor=_by(by),
        subject=subject,
        body=body,
        discount_cap=cap,
        first_approver=_first_approver(q, _by(by)),
    )
    typer.echo(t.message + " (approve it again to export it)")


@approvals_app.command("export")
def approvals_export(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="A new CSV file (default: a new file in "
            "workspace/exports); never an existing file.",
        ),
    ] = None,
    again: Annotated[
        str | None,
        typer.Option(
            "--again", help="Re-write an earlier export (its id or path) with the same drafts."
        ),
    ] = None,
    store: StoreOpt = None,
    demo: DemoOpt = False,
    by: ByOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Export approved drafts as CSV for Klaviyo or Shopify Email. Nothing is sent."""
    from agent.reports.campaigns import export_approved

    ws = Workspace.at(workspace)
    res = export_approved(
        ws, workspace_queue(ws), actor=_by(by), store=store, demo=demo, out=out, again=again
    )
    for s in res.skipped:
        typer.echo(f"  held back: {s}")
    typer.echo(res.message)
    if res.draft_ids:
        from agent.approvals.export import format_paths

        files = format_paths(res.path)
        typer.echo(f"For Klaviyo (profile import): {files['klaviyo']}")
        typer.echo(f"For Shopify (customer import, tags each customer): {files['shopify_tags']}")
        typer.echo("Any offer codes in the file must exist in your shop before you send.")
    typer.echo(NOTHING_SENT)


@campaigns_app.command("results")
def campaigns_results(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    window_days: Annotated[
        int | None,
        typer.Option(
            "--window-days", min=7, max=365, help="Days after the campaign start (default 56)."
        ),
    ] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Treated vs control repurchase and revenue per campaign, with the save rate's interval."""
    from agent.reports.campaigns import all_campaign_results, campaign_store

    ws = Workspace.at(workspace)
    q = workspace_queue(ws)
    table = all_campaign_results(
        q, campaign_store(ws, q, store, demo=demo).orders, window_days=window_days
    )
    if as_json:
        typer.echo(table.to_json(orient="records", indent=2))
        return
    if table.empty:
        typer.echo("No campaigns recorded yet.")
        return
    for r in table.itertuples():
        typer.echo(
            f"{r.campaign_id} ({r.start} to {r.end}{'' if r.complete else ', window not over'}): "
            f"treated {r.treated} ({r.contacted} exported), control {r.control}"
        )
        typer.echo(
            f"  repurchase {r.treated_rate:.1%} vs {r.control_rate:.1%}: save rate {r.uplift:+.1%} "
            f"(95% CI {r.uplift_low:+.1%} to {r.uplift_high:+.1%}, Newcombe)"
        )
        typer.echo(
            f"  revenue per customer {r.treated_revenue_per_customer:,.2f} vs "
            f"{r.control_revenue_per_customer:,.2f}: {r.revenue_difference:+,.2f} "
            f"(95% CI {r.revenue_low:+,.2f} to {r.revenue_high:+,.2f}, Welch)"
        )


@campaigns_app.command("plan")
def campaigns_plan(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    week_of: Annotated[
        str | None,
        typer.Option("--week-of", help="Campaign date (default: the scores' as-of date)."),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Campaign id (default: week-YYYY-MM-DD).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Plan this week's campaign from the latest scores and queue its drafts for approval."""
    import pandas as pd

    from agent.display import store_currency
    from agent.outreach.campaign import create_campaign
    from agent.reports.campaigns import campaign_store
    from agent.reports.snapshots import list_snapshots, load_scores
    from knowledge import builtin_playbook_dir, load_playbooks

    ws = Workspace.at(workspace)
    if not list_snapshots(ws):
        raise ApprovalError("no scores in the workspace yet: run `retention score` first")
    scores, _ = load_scores(ws)
    settings = run_settings(ws)
    q = workspace_queue(ws, settings)
    st = campaign_store(ws, q, store, demo=demo)
    day = pd.Timestamp(week_of or list_snapshots(ws)[-1]).date()
    cid = campaign or f"week-{day}"
    plan, drafts, ids = create_campaign(
        q,
        scores=scores,
        customers=st.customers,
        playbooks=list(load_playbooks([builtin_playbook_dir()]).playbooks),
        settings=settings,
        week_of=day,
        campaign_id=cid,
        orders=st.orders,
        products=st.products,
        store_path=str(Path(st.path).resolve()),
        currency=store_currency(st.currency, settings),
    )
    blocked = sum(d.blocked for d in drafts)
    typer.echo(
        f"Campaign {cid}: {len(ids)} drafts queued ({blocked} blocked by the guardrails), "
        f"{len(plan.control_ids)} customers held out as control."
    )
    for k, v in plan.skipped_counts().items():
        typer.echo(f"  skipped {v:,}: {k}")
    for note in plan.notes[1:]:  # what the files say about consent, and how to supply it
        typer.echo(f"  {note}")
    for r in plan.awaiting_consent[:10]:
        typer.echo(f"  would contact {r['customer_id']} but for unknown consent: {r['reason']}")
    typer.echo("Review them with `retention approvals list`. Nothing is sent.")
