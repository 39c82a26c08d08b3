"""The toolbox's core: the registry, the runner, and what every tool shares.

A tool is a plain function `fn(session, args) -> dict` with a pydantic argument model
(descriptions, bounds, extra="forbid") and a docstring the model reads; `@tool(Args)` puts it
in `TOOLS`. Results are compact JSON-able dicts: aggregates and top-N rows with units, never a
whole table, and no personal data (customer ids and features only). Text that comes from the
store's files (product names, ticket text) sits under a `store_text` key: quoted, untrusted
data, never instructions. This module also holds the argument vocabulary the tools share
(churn reasons, CLV tiers, kinds of play, `NoArgs`, `CustomerArgs`) and the result helpers.

`ToolRunner` is the one way to call a tool: it validates the arguments, times the call, turns
an exception into an "Error: ..." result (and a log line) and keeps the trace for the UI.
The tools themselves live in `customers`, `store`, `outreach` and `reporting` (and
`agent.outreach.policy` for outreach_rules); `agent.toolbox` imports them all, so the
registry is whole whichever module a caller imported first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.schema import AT_RISK_PROBABILITY

log = logging.getLogger(__name__)

AT_RISK = AT_RISK_PROBABILITY
"""A customer is at risk when churn_probability > AT_RISK_PROBABILITY (tools.schema, 0.5): more
likely to lapse than to buy. Value at stake is `tools.insights.kpis.value_at_stake`, nowhere else."""
PLAY_KINDS: dict[str, tuple[str, ...]] = {
    "win_back": (
        "win-back-lapsed",
        "fading-engagement-reactivation",
        "price-sensitive-save",
        "service-recovery",
        "quality-returns-recovery",
        "vip-personal-outreach",
    ),
    "replenishment": ("replenishment-reminder", "subscription-conversion"),
    "cross_sell": ("cross-sell-bundles", "upsell-by-clv"),
    "second_purchase": (
        "second-purchase-conversion",
        "new-customer-onboarding",
        "post-purchase-follow-up",
        "thank-you-page-offer",
    ),
    "vip": (
        "vip-personal-outreach",
        "champions-early-access",
        "surprise-and-delight",
        "loyalty-tiers",
    ),
    "feedback": ("feedback-solicitation", "review-request-timing"),
}
"""Kinds of play a merchant names ("a win-back email"): the playbooks each kind may use."""
PlayKind = Literal["win_back", "replenishment", "cross_sell", "second_purchase", "vip", "feedback"]


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Tool:
    name: str
    fn: Callable[[Any, Any], dict]
    args: type[Args]

    @property
    def description(self) -> str:
        return " ".join((self.fn.__doc__ or self.name).split())


TOOLS: dict[str, Tool] = {}


def tool(args: type[Args]):
    def register(fn):
        TOOLS[fn.__name__] = Tool(fn.__name__, fn, args)
        return fn

    return register


@dataclass
class TraceStep:
    tool: str
    args: dict
    result: Any
    seconds: float
    ok: bool = True

    def to_dict(self) -> dict:
        return {
            "tool": self.tool,
            "args": self.args,
            "result": self.result,
            "seconds": round(self.seconds, 4),
            "ok": self.ok,
        }


@dataclass
class Answer:
    """One assistant turn: the text shown, the tool calls behind it, and the mode used."""

    text: str
    trace: list[TraceStep] = field(default_factory=list)
    mode: str = "offline"


@dataclass
class ToolRunner:
    """Calls tools with the session bound; every call lands in `trace`. Each listener is told
    `(name, args, None)` when a call starts and `(name, args, step)` when it ends (streaming)."""

    session: Any
    trace: list[TraceStep] = field(default_factory=list)
    listeners: list[Callable[[str, dict, TraceStep | None], None]] = field(default_factory=list)

    def call(self, name: str, args: dict | None = None) -> dict | str:
        args = dict(args or {})
        for listener in list(self.listeners):
            listener(name, args, None)
        start = time.perf_counter()
        spec = TOOLS.get(name)
        try:
            if spec is None:
                raise LookupError(f"unknown tool {name!r}; tools: {', '.join(TOOLS)}")
            parsed = spec.args.model_validate(args)
            result: dict | str = spec.fn(self.session, parsed)
            ok = True
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            result, ok = f"Error: invalid arguments for {name}: {problems}", False
        except Exception as exc:  # a tool's failure is a result the model can read
            result, ok = f"Error: {exc}", False
        if isinstance(result, str):
            ok = False
        if not ok:
            log.warning("tool %s(%s) failed: %s", name, args, result)
        step = TraceStep(name, args, result, time.perf_counter() - start, ok)
        self.trace.append(step)
        for listener in list(self.listeners):
            listener(name, args, step)
        return result


# --- helpers ------------------------------------------------------------------------------------


def rounded(x: float, nd: int = 2) -> float:
    return round(float(x), nd)


def store_queue(session):
    """The approval queue of the session's workspace, on the database its settings name."""
    from agent.approvals.queue import open_queue  # SQLAlchemy: only when a tool needs the queue

    return open_queue(session.workspace.root, url=session.settings.database_url)


def confirmed_consent(session, queue=None) -> dict:
    """The merchant's consent confirmations for this store, from the audit log (agent.outreach.consent)."""
    queue = queue if queue is not None else store_queue(session)
    return queue.consent_confirmations(session.store_dir)


def base_result(session) -> dict:
    from tools.schema import UNKNOWN_CURRENCY

    return {"as_of": str(session.as_of.date()), "currency": session.currency or UNKNOWN_CURRENCY}


# --- arguments several tools share --------------------------------------------------------------


class NoArgs(Args):
    """No arguments."""


class CustomerArgs(Args):
    customer_id: str = Field(
        description="The customer's id, e.g. C000123.", min_length=1, max_length=64
    )
