"""`retention consent ...`: what a store's files say about consent, and the merchant's
confirmation for a channel (agent.outreach.consent).

    retention consent status  --store DIR
    retention consent confirm --store DIR --channel email --by "Ann Smith"
    retention consent withdraw --store DIR --channel email --by "Ann Smith"

A confirmation is one explicit statement by a person that they hold the customers' consent to
be contacted on that channel; it is recorded in the approval queue's audit log with who and
when, and from then on unknown consent on that channel counts (a customer whose data says no
stays refused). Thin: every command is a call into `agent.approvals.queue` / `agent.outreach.consent`.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from agent.approvals.errors import ApprovalError
from agent.cli.common import WorkspaceOpt, workspace_queue
from agent.workspace import Workspace

consent_app = typer.Typer(
    help="Consent to contact: what the store's files say, and your confirmation for a channel.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="Store folder the confirmation is for.")
]
DemoOpt = Annotated[bool, typer.Option("--demo", help="The workspace's demo store.")]
ChannelOpt = Annotated[
    str, typer.Option("--channel", help="email (also covers personal email) or sms.")
]
ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="Your name, recorded in the audit log (default: your login name)."),
]
NoteOpt = Annotated[
    str,
    typer.Option(
        "--note",
        help="Where the consent is held, for the audit log (e.g. 'double opt-in list in Klaviyo').",
    ),
]
DEFAULT_WS = Path(".retention")


def _store(ws: Workspace, store: Path | None, demo: bool) -> Path:
    if store is not None and demo:
        raise ApprovalError("give either --store DIR or --demo, not both")
    path = ws.demo_store if demo else store
    if path is None:
        raise ApprovalError(
            "which store? give --store DIR (the confirmation is for one store) or --demo"
        )
    if not Path(path).exists():
        raise ApprovalError(f"{path}: no such store folder")
    return Path(path)


def _channel(channel: str) -> str:
    from agent.outreach.consent import CHANNEL_KIND

    kind = CHANNEL_KIND.get(channel.strip().lower())
    if kind is None:
        raise ApprovalError(f"--channel must be email or sms, got {channel!r}")
    return kind


def _record(method: str, workspace, store, demo, channel, by, note):
    """(store path, consent kind, audit row) of a confirmation or withdrawal written through
    the queue's `method`; the actor is --by, else the logged-in user."""
    ws = Workspace.at(workspace)
    path = _store(ws, store, demo)
    kind = _channel(channel)
    actor = by if by is not None else getpass.getuser()
    return path, kind, getattr(workspace_queue(ws), method)(path, kind, actor=actor, note=note)


@consent_app.command("confirm")
def consent_confirm(
    channel: ChannelOpt,
    store: StoreOpt = None,
    demo: DemoOpt = False,
    by: ByOpt = None,
    note: NoteOpt = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Confirm that you hold your customers' consent to be contacted on a channel, for the
    customers whose data does not say. Recorded in the audit log with your name and the time."""
    path, kind, row = _record("confirm_consent", workspace, store, demo, channel, by, note)
    typer.echo(
        f"Recorded in the audit log (entry {row.id}) at {row.at:%Y-%m-%d %H:%M} UTC: "
        f"{row.after['statement']}."
    )
    typer.echo(
        f"Plans for {path} now draft {kind} messages for customers whose data does not say; "
        "a customer whose data says no stays refused, and every such draft is marked for review. "
        f"Undo with `retention consent withdraw --channel {kind} --store {path}`."
    )


@consent_app.command("withdraw")
def consent_withdraw(
    channel: ChannelOpt,
    store: StoreOpt = None,
    demo: DemoOpt = False,
    by: ByOpt = None,
    note: NoteOpt = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Withdraw an earlier confirmation: unknown consent on that channel is unknown again."""
    _, _, row = _record("withdraw_consent", workspace, store, demo, channel, by, note)
    typer.echo(f"Recorded in the audit log (entry {row.id}): {row.after['statement']}.")


@consent_app.command("status")
def consent_status(
    store: StoreOpt = None,
    demo: DemoOpt = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """What the store's files say about consent, per channel, and any confirmation in force."""
    from agent.outreach.consent import how_to_supply, statement, summary
    from tools.ingest.load import load_store

    ws = Workspace.at(workspace)
    path = _store(ws, store, demo)
    loaded = load_store(path, rejects_dir=ws.rejects)
    confirmed = workspace_queue(ws).consent_confirmations(path)
    s = summary(loaded.orders["customer_id"].astype(str).unique(), loaded.customers, confirmed)
    typer.echo(f"Consent for {path} ({s['customers']:,} customers in the orders):")
    typer.echo(statement(s))
    for kind in ("email", "sms"):
        conf = confirmed.get(kind)
        typer.echo(
            f"  {kind}: {s[kind]['yes']:,} yes, {s[kind]['no']:,} no, {s[kind]['unknown']:,} unknown; "
            + (
                conf.words() + (f" ({conf.note})" if conf.note else "")
                if conf
                else "no confirmation"
            )
        )
    unknown = [k for k in ("email", "sms") if s[k]["unknown"] and k not in confirmed]
    if unknown:
        typer.echo(
            f"Nobody is contacted on unknown consent. To supply it: {how_to_supply(unknown)}"
        )
