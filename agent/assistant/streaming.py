"""One assistant turn as a stream of events, for a chat window that shows the work as it happens.

    for event in stream_answer(assistant, "who is most at risk?"):
        event.kind == "status"   # a tool is being called: event.text says which
        event.kind == "tool"     # a tool finished: event.step is its TraceStep
        event.kind == "text"     # the answer so far (cumulative): event.text
        event.kind == "answer"   # last: event.answer, the same Answer `Assistant.ask` returns

LLM mode streams the model's tokens and steps (`LLMAgent.stream`: LangGraph's "messages" and
"updates" stream modes). Offline mode runs the planner in a worker thread, reports each tool
call as it starts and ends, then gives the templated answer paragraph by paragraph.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from agent.assistant.errors import ModelUnavailable
from agent.toolbox.tools import Answer, TraceStep

__all__ = ["TurnEvent", "stream_answer", "text_pieces"]


@dataclass(frozen=True)
class TurnEvent:
    kind: Literal["status", "tool", "text", "answer"]
    text: str = ""
    step: TraceStep | None = None
    answer: Answer | None = None


def calling(name: str) -> str:
    return f"calling tool {name}"


def finished(step: TraceStep) -> str:
    return f"{step.tool} {'done' if step.ok else 'failed'} ({step.seconds:.2f} s)"


def text_pieces(text: str) -> list[str]:
    """The answer so far, paragraph by paragraph (the last piece is the whole text)."""
    ends = [m.end() for m in re.finditer(r"\n\s*\n", text)]
    return [text[:e].rstrip() for e in ends if text[:e].strip()] + [text]


def stream_answer(assistant, message: str) -> Iterator[TurnEvent]:
    """The events of one turn of `assistant` (agent.assistant.chat.Assistant); the last is "answer"."""
    message = (message or "").strip()
    if assistant.mode == "llm" and message:
        start = len(assistant.runner.trace)
        try:
            yield from assistant.agent.stream(message)
            return
        except ModelUnavailable as exc:  # this turn offline, as `Assistant.ask` does
            yield from _offline(
                assistant, message, ask=lambda m, e=exc: assistant.offline_turn(m, e, start)
            )
            return
    yield from _offline(assistant, message)


def _offline(assistant, message: str, ask=None) -> Iterator[TurnEvent]:
    events: queue.Queue = queue.Queue()
    done = object()
    out: dict = {}

    def listener(name: str, _args: dict, step: TraceStep | None) -> None:
        events.put(
            TurnEvent("status", calling(name))
            if step is None
            else TurnEvent("tool", finished(step), step=step)
        )

    def work() -> None:
        try:
            out["answer"] = (ask or assistant.ask)(message)
        except BaseException as exc:  # re-raised in the caller's thread
            out["error"] = exc
        finally:
            events.put(done)

    runner = assistant.runner
    runner.listeners.append(listener)
    try:
        threading.Thread(target=work, name="assistant-turn", daemon=True).start()
        while (event := events.get()) is not done:
            yield event
    finally:
        runner.listeners.remove(listener)
    if "error" in out:
        raise out["error"]
    answer: Answer = out["answer"]
    for piece in text_pieces(answer.text):
        yield TurnEvent("text", piece)
    yield TurnEvent("answer", answer=answer)
