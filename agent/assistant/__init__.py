"""The assistant: one object that answers a merchant's message, offline or with a model.

`chat.Assistant` is the front door, over a `session.StoreSession` (one loaded, scored store).
Offline, `planner` routes the message by intent (`intent_model`, the phrasings of `prompts`);
with a model, `llm` runs a LangChain agent whose answers `grounding` checks and whose inputs
`redaction` strips of personal data; `streaming` turns a turn into events for a chat window.
"""

from __future__ import annotations

import importlib

_FRONT = {
    "Assistant": "agent.assistant.chat",
    "StoreSession": "agent.assistant.session",
    "stream_answer": "agent.assistant.streaming",
}
__all__ = sorted(_FRONT)


def __getattr__(name: str):
    """The front door's names, imported on first use (the package stays cheap to import)."""
    if name in _FRONT:
        return getattr(importlib.import_module(_FRONT[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
