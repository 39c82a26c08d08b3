"""The assistant: one object that answers a merchant's message in LLM or offline mode.

    assistant = Assistant(StoreSession(store_dir, Workspace.at(".retention")))
    answer = assistant.ask("who should I contact this week?")   # Answer(text, trace, mode)

LLM mode when a model is configured (RETENTION_MODEL, or a chat model passed in), else the
offline planner; both call the same tools through one ToolRunner, so the trace (tool, args,
result, timing) looks the same in both. The tools are the registry of `agent.toolbox`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from agent.assistant.planner import Planner
from agent.toolbox import TOOLS  # noqa: F401  (the whole registry, before a turn runs)
from agent.toolbox.tools import Answer, ToolRunner

if TYPE_CHECKING:
    from agent.assistant.llm import LLMAgent

__all__ = ["Answer", "Assistant"]


class Assistant:
    """Answers messages about one store session; keeps the conversation (thread) in memory."""

    def __init__(
        self,
        session,
        *,
        settings=None,
        chat_model=None,
        thread_id: str | None = None,
        max_iterations: int = 8,
    ) -> None:
        self.session = session
        self.settings = settings if settings is not None else session.settings
        self.runner = ToolRunner(session)
        self.thread_id = thread_id or uuid.uuid4().hex
        if chat_model is not None or self.settings.model:
            from agent.assistant.llm import LLMAgent

            self.agent: LLMAgent | Planner = LLMAgent(
                session,
                self.runner,
                settings=self.settings,
                chat_model=chat_model,
                thread_id=self.thread_id,
                max_iterations=max_iterations,
            )
            self.mode = "llm"
        else:
            self.agent = Planner(session, self.runner)
            self.mode = "offline"

    def ask(self, message: str) -> Answer:
        message = (message or "").strip()
        if not message:
            return Answer("Ask me something about your customers (try 'help').", [], self.mode)
        if self.mode != "llm":
            return self.agent.ask(message)
        from agent.assistant.llm import ModelUnavailable

        start = len(self.runner.trace)
        try:
            return self.agent.ask(message)
        except ModelUnavailable as exc:
            return self.offline_turn(message, exc, start)

    @property
    def planner(self) -> Planner:
        """The offline planner over the same runner: the whole agent offline, the fallback of a
        turn whose model server cannot be reached or fails in LLM mode."""
        if isinstance(self.agent, Planner):
            return self.agent
        if getattr(self, "_planner", None) is None:
            self._planner = Planner(self.session, self.runner)
        return self._planner

    def offline_turn(self, message: str, exc: Exception, start: int) -> Answer:
        """This turn answered by the offline planner, saying why (LLM mode only)."""
        import logging

        logging.getLogger(__name__).warning("model unavailable, offline for this turn: %s", exc)
        answer = self.planner.ask(message)
        return Answer(
            f"{fallback_note(exc)}\n\n{answer.text}", self.runner.trace[start:], "offline"
        )

    @property
    def trace(self):
        return self.runner.trace


def fallback_note(exc: Exception) -> str:
    """The first line of a turn the offline planner answered because the model failed."""
    return (
        f"The language model is unavailable ({exc}), so the offline planner answered this "
        "turn instead:"
    )
