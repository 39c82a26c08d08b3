"""What can go wrong with a language model: misconfigured (the merchant fixes it) or unavailable
(the turn falls back to the offline planner)."""

from __future__ import annotations

from tools.errors import RetentionError


class ModelConfigError(RetentionError, RuntimeError):
    """The model is misconfigured or refused us; the message says how to fix it (one line)."""


class ModelUnavailable(ModelConfigError):
    """The model server cannot be reached or failed (connection, timeout, 429, 5xx): the turn
    falls back to the offline planner (agent.assistant.chat.Assistant)."""
