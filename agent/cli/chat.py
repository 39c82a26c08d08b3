"""`retention chat`: one-shot with a message, an interactive loop without one.

    retention chat --demo "who should I contact this week?"
    retention chat --store shop/ --show-tools

`agent.cli.main` wires `chat_command` into the `chat` command. Errors a person can act on (no
store, a model without a key, a 401) are raised as one-line `agent.cli.common.UserError`s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from agent.cli.common import UserError, out, resolve_store, run_settings
from tools.models.choices import DEFAULT_MODEL

if TYPE_CHECKING:
    from agent.settings import Settings

BYE = ("exit", "quit", "bye", ":q")


def chat_command(
    message: str | None,
    store: Path | None,
    demo: bool,
    workspace: Path,
    show_tools: bool = False,
    *,
    model: str = DEFAULT_MODEL,
    settings: Settings | None = None,
) -> None:
    """Answer one message, or chat until the person types exit (or Ctrl-D). `model`: the
    scoring model (tools.models.choices.MODELS, `--model`); `settings`: the command's
    (agent.cli.common.run_settings; default: this workspace's)."""
    from agent.assistant.llm import ModelConfigError
    from agent.workspace import Workspace

    ws = Workspace.at(workspace)
    path = resolve_store(ws, store, demo)
    _log_to(ws.root / "chat.log")
    settings = settings if settings is not None else run_settings(ws)
    try:
        assistant = _assistant(path, ws, settings, model=model)
        if message is not None:
            _turn(assistant, message, show_tools)
            return
        out.print(
            f"Retention assistant on {path} ({_mode_words(assistant)}). "
            "Type 'help' for ideas, 'exit' to leave."
        )
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                out.print()
                return
            if line.lower() in BYE:
                return
            if line:
                _turn(assistant, line, show_tools)
    except ModelConfigError as exc:
        raise UserError(str(exc)) from None


def _log_to(path: Path) -> None:
    """Tool failures and model errors are logged to the workspace, not the terminal."""
    import logging

    logger = logging.getLogger("agent")
    target = str(Path(path).resolve())
    for h in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        if h.baseFilename != target:  # an earlier chat in this process, another workspace
            logger.removeHandler(h)
            h.close()
    if not any(isinstance(h, logging.FileHandler) for h in logger.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _assistant(path: Path, ws, settings, *, model: str = DEFAULT_MODEL):
    from agent.assistant.chat import Assistant
    from agent.assistant.session import StoreSession

    with out.status("Loading the store ...") as status:
        session = StoreSession(
            path,
            ws,
            horizon_days=settings.horizon_days,
            settings=settings,
            model=model,
            progress=lambda m: status.update(m[:1].upper() + m[1:] + " ..."),
        )
        assistant = Assistant(session, settings=settings)
        if assistant.mode == "offline":
            status.update("Loading the local language-understanding model ...")
            assistant.planner.classify("hello")  # warm the embedder so the first answer is quick
    return assistant


def _mode_words(assistant) -> str:
    if assistant.mode == "llm":
        return f"model {assistant.settings.model}"
    return "offline mode: no language model is in use"


def _turn(assistant, message: str, show_tools: bool) -> None:
    answer = assistant.ask(message)
    if show_tools:
        for step in answer.trace:
            result = (
                step.result
                if isinstance(step.result, str)
                else json.dumps(step.result, default=str)
            )
            out.print(
                Text(
                    f"tool {step.tool}({json.dumps(step.args, default=str)}) "
                    f"{step.seconds * 1000:.0f} ms -> {result[:400]}",
                    style="dim",
                ),
                soft_wrap=True,
            )
    out.print(answer.text, markup=False, highlight=False, soft_wrap=True)
