"""`retention kb ...`: the playbook knowledge base (index and search).

    retention kb index [--playbooks DIR] [--workspace DIR]
    retention kb search "query" [-k 3] [--segment S] [--reason R] [--channel C] [--json]

The index lives in `<workspace>/chroma` (or on a Chroma server when CHROMA_HOST/CHROMA_PORT
are set). Mistakes a person can fix are raised as the CLI's one-line UserError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.common import DEFAULT_WS, UserError, WorkspaceOpt, err, out
from agent.workspace import Workspace

kb_app = typer.Typer(no_args_is_help=True)

PlaybooksOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--playbooks",
        help="A folder of your own playbooks (*.md), indexed with the built-in ones; repeatable.",
    ),
]


def _knowledge_base(workspace: Path, playbooks: list[Path] | None):
    from knowledge import KnowledgeBase

    for d in playbooks or []:
        if not d.is_dir():
            raise UserError(f"--playbooks {d}: no such folder")
    return KnowledgeBase(Workspace.at(workspace).chroma, playbook_dirs=list(playbooks or []))


def _index(kb):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from knowledge import KnowledgeError

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("Reading playbooks", total=None)

        def report(done: int, total: int, message: str) -> None:
            progress.update(
                task,
                completed=done,
                total=max(total, 1),
                description=f"Embedding playbook chunks ({message})",
            )

        try:
            return kb.index(progress=report)
        except KnowledgeError as exc:
            raise UserError(str(exc)) from None


@kb_app.command("index")
def index(playbooks: PlaybooksOpt = None, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Index the built-in playbooks (and yours) into the workspace's vector store.
    Unchanged passages are not embedded again; deleted playbooks are removed."""
    kb = _knowledge_base(workspace, playbooks)
    report = _index(kb)
    out.print(str(report), markup=False, highlight=False)


@kb_app.command("search")
def search(
    query: Annotated[
        str, typer.Argument(help="A question, e.g. 'customers angry about a late refund'.")
    ],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=50, help="How many playbooks.")] = 3,
    segment: Annotated[
        str | None,
        typer.Option("--segment", help="Only playbooks for this segment, e.g. 'At risk'."),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Only playbooks for this churn reason, e.g. service_problems."
        ),
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only playbooks using this channel, e.g. sms.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
    playbooks: PlaybooksOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Find the playbooks that answer a question (hybrid: meaning and exact terms)."""
    from knowledge import KnowledgeError

    kb = _knowledge_base(workspace, playbooks)
    try:
        empty = kb.count() == 0
    except KnowledgeError as exc:
        raise UserError(str(exc)) from None
    if empty or playbooks:
        report = _index(kb)
        if not as_json:
            out.print(str(report), markup=False, highlight=False)
    try:
        hits = kb.search(query, k=k, segment=segment, reason=reason, channel=channel)
    except KnowledgeError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        out.print_json(json.dumps([h.to_dict() for h in hits]))
        return
    if not hits:
        out.print("No playbook matches (check the filters).")
        return
    for rank, h in enumerate(hits, 1):
        out.print(
            f"[bold]{rank}. {h.playbook_id}[/bold]  {h.title}  (score {h.score:.3f})",
            highlight=False,
        )
        out.print(f"   section: {h.section}", markup=False, highlight=False)
        for line in h.passage.splitlines():
            out.print(f"   {line}", markup=False, highlight=False, soft_wrap=True)
        out.print()
