"""LLM mode: a LangChain v1 agent (`create_agent`) on any OpenAI-compatible chat model.

Configured by RETENTION_MODEL (the model name), OPENAI_API_KEY and OPENAI_BASE_URL (OpenAI
itself, or a local server: Ollama, vLLM, llama.cpp), read through `agent.settings.Settings`.
The tools are thin StructuredTools over `agent.toolbox.tools` with the session bound; the model
only ever sees customer ids and features: the merchant's message and every string of every
tool result have known customers' emails, phones and full names replaced by their ids (any
other email or phone by a placeholder) before they leave the machine (agent.assistant.redaction).
Conversation memory is per thread (an in-memory checkpointer); a run stops after
`max_iterations` model calls with a clear message.

A turn can be trusted: the final answer is grounded when it is produced
(`agent.assistant.grounding.check_answer`: a sentence with a number no tool result of the turn holds, or a
claim of drafting, queuing, approving, exporting or sending that no tool did, is removed, the
answer says so and the trace gets an `answer_check` step naming them); tool calls with malformed
arguments come back to the model as "Error: ..." tool results; each turn has one deadline
(`Settings.turn_timeout`, RETENTION_TURN_TIMEOUT, 60 s) after which the turn ends saying the model
did not answer in time; a server that cannot be reached or fails raises `ModelUnavailable`, and
`agent.assistant.chat.Assistant` / `agent.assistant.streaming.stream_answer` answer that turn offline. `ask` and
`stream` run the same worker and give the same Answer.
"""

from __future__ import annotations

import contextvars
import json
import logging
import queue
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from agent.assistant.errors import ModelConfigError, ModelUnavailable
from agent.assistant.grounding import check_answer
from agent.assistant.prompts import system_prompt
from agent.toolbox.tools import TOOLS, Answer, ToolRunner, TraceStep

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

log = logging.getLogger(__name__)

FIX = "set OPENAI_API_KEY=… or unset RETENTION_MODEL to use offline mode"
LIMIT_PREFIX = "Model call limits exceeded"
_TURN_EXPIRED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "turn_expired", default=None
)
"""The running turn's deadline flag, set in the turn's worker thread (LangGraph copies the
context into the threads that run tools)."""


def _expired() -> bool:
    event = _TURN_EXPIRED.get()
    return event is not None and event.is_set()


CHECK_STEP = "answer_check"
"""The trace step that says what of an LLM answer was not grounded (numbers, claimed actions)."""


def chat_model_from_settings(settings):
    """ChatOpenAI for RETENTION_MODEL. Without OPENAI_BASE_URL (i.e. api.openai.com) a key is
    required; a local server gets a dummy key when none is set."""
    if not settings.model:
        raise ModelConfigError("no model configured: set RETENTION_MODEL=<model name>")
    if not settings.openai_api_key and not settings.openai_base_url:
        raise ModelConfigError(f"RETENTION_MODEL={settings.model} needs an API key: {FIX}")
    return _chat_openai()(
        model=settings.model,
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url or None,
        temperature=0,
        max_retries=1,
        timeout=settings.turn_timeout + 5,
    )  # the turn's deadline ends it first


def _chat_openai():
    """ChatOpenAI whose tool calls with arguments that are JSON but not an object (a list, a
    string) become invalid tool calls (an "Error: ..." result the model reads, through
    `_recoverable_tool_calls`) instead of an exception while the reply is read."""
    from langchain_openai import ChatOpenAI

    class ObjectArgsChatOpenAI(ChatOpenAI):
        def _create_chat_result(self, response, generation_info=None):
            _objects_only(response)
            return super()._create_chat_result(response, generation_info)

    return ObjectArgsChatOpenAI


def _objects_only(response) -> None:
    def get(obj, key):
        return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

    for choice in get(response, "choices") or []:
        for tc in get(get(choice, "message"), "tool_calls") or []:
            fn = get(tc, "function")
            raw = get(fn, "arguments")
            try:
                parsed = json.loads(raw or "{}")
            except (TypeError, ValueError):
                continue  # not JSON: langchain makes it an invalid tool call already
            if not isinstance(parsed, dict):
                bad = f"(not a JSON object) {raw}"
                if isinstance(fn, dict):
                    fn["arguments"] = bad
                else:
                    fn.arguments = bad


def langchain_tools(runner: ToolRunner) -> list:
    """One StructuredTool per registered tool: name, docstring and argument schema from the
    tool; the call goes through `runner` (trace, "Error: ..." results)."""
    from langchain_core.tools import StructuredTool

    out = []
    for spec in TOOLS.values():

        def call(_name: str = spec.name, **kwargs):
            if _expired():  # the turn's deadline passed: a late call must not act
                return "Error: the turn's deadline passed; no tool runs"
            args = {k: v for k, v in kwargs.items() if v is not None}  # None = left unset
            result = runner.call(_name, args)
            redact = getattr(runner.session, "redact_result", None)
            if redact is not None:  # every string the model is sent, store text or not
                result = redact(result)
            return result if isinstance(result, str) else json.dumps(result, default=str)

        def bad_args(exc, _name: str = spec.name) -> str:
            msg = f"Error: invalid arguments for {_name}: {exc}".replace("\n", " ")
            log.warning(msg)
            return msg

        out.append(
            StructuredTool.from_function(
                func=call,
                name=spec.name,
                description=spec.description,
                args_schema=spec.args,
                infer_schema=False,
                handle_validation_error=bad_args,
            )
        )
    return out


class LLMAgent:
    """A create_agent graph over the session's tools, one conversation thread.

    Each turn has one deadline (`settings.turn_timeout`); tool calls whose arguments are not
    valid JSON, or whose tool raises, come back to the model as "Error: ..." tool results; the
    final answer is grounded (agent.assistant.grounding.check_answer) before anyone sees it. `ask` and
    `stream` run the same graph the same way and give the same Answer."""

    def __init__(
        self,
        session,
        runner: ToolRunner,
        *,
        settings,
        chat_model=None,
        thread_id: str = "default",
        max_iterations: int = 8,
    ) -> None:
        from langchain.agents import create_agent
        from langchain.agents.middleware import ModelCallLimitMiddleware
        from langgraph.checkpoint.memory import InMemorySaver

        self.session = session
        self.runner = runner
        self.settings = settings
        self.thread_id = thread_id
        self.max_iterations = max_iterations
        self.deadline_s = float(getattr(settings, "turn_timeout", 60.0) or 60.0)
        self.model = chat_model if chat_model is not None else chat_model_from_settings(settings)
        self.graph = create_agent(
            self.model,
            langchain_tools(runner),
            system_prompt=system_prompt(
                as_of=str(session.as_of.date()), horizon_days=session.horizon_days
            ),
            middleware=[
                ModelCallLimitMiddleware(run_limit=max_iterations, exit_behavior="end"),
                _recoverable_tool_calls(runner),
            ],
            checkpointer=InMemorySaver(),
        )

    def _config(self) -> RunnableConfig:
        return {
            "configurable": {"thread_id": self.thread_id},
            "recursion_limit": 4 * self.max_iterations + 10,
        }

    def _answer(self, text: str, start: int, message: str) -> Answer:
        if text.startswith(LIMIT_PREFIX):
            text = (
                f"I stopped after {self.max_iterations} model calls without a final answer "
                "(the iteration cap). Try a narrower question, or see the tool trace."
            )
        elif text == TIMED_OUT:
            text = (
                f"The model did not answer in time: no final answer within "
                f"{self.deadline_s:g} s (RETENTION_TURN_TIMEOUT). Try again, or ask a "
                "narrower question."
            )
        elif not text.strip():
            text = (
                "The model gave an empty answer. Try again, or ask a narrower question "
                "(see the tool trace for what was called)."
            )
        else:
            text = self._ground(text, start, message)
        return Answer(text, self.runner.trace[start:], "llm")

    def _ground(self, text: str, start: int, message: str) -> str:
        """The answer as the merchant may see it: what the turn's tools do not support removed,
        and a trace step (`answer_check`) that says which numbers and claims those were."""
        checked, report = check_answer(
            text, self.runner.trace[start:], request=self.session.redact(message)
        )
        if report["removed"]:
            log.warning("ungrounded LLM answer: %s", report)
            self.runner.trace.append(
                TraceStep(CHECK_STEP, {}, {**report, "original": text}, 0.0, ok=False)
            )
        return checked

    def _run(self, message: str, *, streaming: bool):
        """The graph's output for one turn, from a worker thread, under the turn's deadline:
        yields ("part", part) while streaming, then ("done", final text)."""
        from langchain_core.messages import HumanMessage
        from langgraph.errors import GraphRecursionError

        config = self._config()
        inputs: Any = {"messages": [HumanMessage(self.session.redact(message))]}
        parts: queue.Queue = queue.Queue()
        expired = threading.Event()  # this turn's; a late thread of an earlier turn keeps its own

        def work() -> None:
            _TURN_EXPIRED.set(expired)
            try:
                if streaming:
                    for part in self.graph.stream(
                        inputs, config, stream_mode=["messages", "updates"], version="v2"
                    ):
                        parts.put(("part", part))
                    out = self.graph.get_state(config).values
                else:
                    out = self.graph.invoke(inputs, config)
                parts.put(("done", _text(out["messages"][-1].content)))
            except GraphRecursionError:
                parts.put(("done", LIMIT_PREFIX))
            except BaseException as exc:  # re-raised in the caller's thread
                parts.put(("error", exc))

        threading.Thread(target=work, name="llm-turn", daemon=True).start()
        end = time.monotonic() + self.deadline_s
        while True:
            try:
                kind, value = parts.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                expired.set()  # a late tool call or model call of this turn is refused
                log.warning("the model did not answer within %s s", self.deadline_s)
                yield "done", TIMED_OUT
                return
            if kind == "error":
                raise _explain(value, self.settings) from value
            yield kind, value
            if kind == "done":
                return

    def ask(self, message: str) -> Answer:
        start = len(self.runner.trace)
        text = ""
        for kind, value in self._run(message, streaming=False):
            if kind == "done":
                text = value
        return self._answer(text, start, message)

    def stream(self, message: str):
        """`ask`, as events (agent.assistant.streaming.TurnEvent): the model's tokens as the answer so far,
        "status" when it calls a tool, "tool" when the tool's result is back, then "answer"
        (what `ask` would have returned). LangGraph stream modes "messages" and "updates".
        A sentence with a number or a claimed action is shown only once it is complete and
        grounded; the last "text" is the answer's text."""
        from langchain_core.messages import AIMessage

        from agent.assistant.streaming import TurnEvent, calling, finished

        start = len(self.runner.trace)
        seen = start
        request = self.session.redact(message)
        text, shown, final = "", "", ""
        for kind, part in self._run(message, streaming=True):
            if kind == "done":
                final = part
                break
            if part["type"] == "messages":
                token, meta = part["data"]
                if meta.get("langgraph_node") == "model" and isinstance(token, AIMessage):
                    piece = _text(token.content)
                    if piece:
                        text += piece
                        visible = self._visible(text, start, request)
                        if visible != shown:
                            shown = visible
                            yield TurnEvent("text", shown)
                continue
            for update in (part["data"] or {}).values():
                for m in (update or {}).get("messages", []) if isinstance(update, dict) else []:
                    if isinstance(m, AIMessage) and m.tool_calls:
                        text = shown = ""  # words before a tool call were a step, not the answer
                        for call in m.tool_calls:
                            yield TurnEvent("status", calling(call["name"]))
                for step in self.runner.trace[seen:]:
                    yield TurnEvent("tool", finished(step), step=step)
                seen = len(self.runner.trace)
        answer = self._answer(final, start, message)
        if answer.text != shown:
            yield TurnEvent("text", answer.text)
        yield TurnEvent("answer", answer=answer)

    def _visible(self, text: str, start: int, request: str = "") -> str:
        """What of a streamed answer may be shown yet: its complete sentences that are grounded,
        and the sentence being written while it holds no number and no claimed action."""
        from agent.assistant.grounding import safe_prefix, sentences, tool_numbers

        trace = self.runner.trace[start:]
        key = (start, len(trace))  # what is known changes only when a tool result comes back
        if getattr(self, "_seen_key", None) != key:
            self._seen_key = key
            self._grounded: dict = {}
            self._known = tool_numbers([s.result for s in trace] + [request])
        parts = sentences(text)
        done, last = (
            (parts, "")
            if re.search(r"[.!?\n]\s*$", text)
            else (parts[:-1], parts[-1] if parts else "")
        )
        for s in done:
            if s not in self._grounded:
                self._grounded[s] = not check_answer(s, trace, request=request)[1]["removed"]
        return "".join(s for s in done if self._grounded[s]) + safe_prefix(
            last, [], known=self._known
        )


TIMED_OUT = "\x00timed out"


def _recoverable_tool_calls(runner: ToolRunner):
    """Middleware: a tool call whose arguments are not valid JSON goes back to the model as an
    "Error: ..." tool result (not an empty answer); a tool that raises does too (not a
    traceback); once the turn's deadline has passed, no more model calls."""
    from langchain.agents.middleware import AgentMiddleware, hook_config
    from langchain_core.messages import AIMessage, ToolMessage

    class RecoverableToolCalls(AgentMiddleware):
        @hook_config(can_jump_to=["end"])
        def before_model(self, state, runtime):
            return {"jump_to": "end"} if _expired() else None

        @hook_config(can_jump_to=["model"])
        def after_model(self, state, runtime):
            last = state["messages"][-1] if state.get("messages") else None
            if not isinstance(last, AIMessage) or not last.invalid_tool_calls:
                return None
            replies = []
            for bad in last.invalid_tool_calls:
                name = bad.get("name") or "?"
                msg = (
                    f"Error: invalid arguments for {name}: not a JSON object "
                    f"({(bad.get('error') or 'could not parse')[:160]}); call it again with "
                    "JSON arguments that match its schema"
                ).replace("\n", " ")
                log.warning("%s: %r", msg, (bad.get("args") or "")[:200])
                runner.trace.append(
                    TraceStep(
                        name, {"raw_arguments": (bad.get("args") or "")[:500]}, msg, 0.0, ok=False
                    )
                )
                replies.append(
                    ToolMessage(
                        msg, tool_call_id=bad.get("id") or "invalid", name=name, status="error"
                    )
                )
            if last.tool_calls:  # the valid calls still run; the model reads every reply next
                return {"messages": replies}
            return {"messages": replies, "jump_to": "model"}

        def wrap_tool_call(self, request, handler):
            try:
                return handler(request)
            except Exception as exc:  # e.g. arguments that are JSON but not an object
                call = request.tool_call
                msg = f"Error: invalid arguments for {call.get('name')}: {exc}".replace("\n", " ")[
                    :400
                ]
                log.warning(msg)
                runner.trace.append(
                    TraceStep(
                        call.get("name") or "?",
                        {"raw_arguments": str(call.get("args"))[:500]},
                        msg,
                        0.0,
                        ok=False,
                    )
                )
                return ToolMessage(
                    msg,
                    tool_call_id=call.get("id") or "invalid",
                    name=call.get("name"),
                    status="error",
                )

    return RecoverableToolCalls()


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


def _explain(exc: BaseException, settings) -> BaseException:
    """A one-line, fixable message for the usual failures: ModelConfigError for a key or model
    the server refuses (401, 403, 404), ModelUnavailable for a server that cannot be reached or
    fails (the turn goes offline); anything else unchanged."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return exc
    where = settings.openai_base_url or "api.openai.com"
    if isinstance(exc, openai.AuthenticationError):
        return ModelConfigError(f"the model server at {where} rejected the API key (401): {FIX}")
    if isinstance(exc, openai.NotFoundError):
        return ModelConfigError(
            f"model {settings.model!r} not found at {where} (404): set "
            "RETENTION_MODEL to a model the server has, or unset it for offline mode"
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return ModelConfigError(f"the model server at {where} refused the request (403): {FIX}")
    if isinstance(exc, openai.APITimeoutError):
        return ModelUnavailable(f"the model server at {where} did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(
            f"cannot reach the model server at {where}: check OPENAI_BASE_URL, "
            "or unset RETENTION_MODEL to use offline mode"
        )
    if isinstance(exc, openai.APIStatusError):
        return ModelUnavailable(
            f"the model server at {where} answered {exc.status_code}: "
            f"{' '.join(str(exc).split())[:200]}"
        )
    if isinstance(exc, Exception) and not isinstance(exc, ModelConfigError):
        # anything else the model's turn raised (a reply that cannot be read, a provider's
        # bug): logged in full, and the turn answered offline rather than a traceback
        log.error("the model turn failed", exc_info=exc)
        return ModelUnavailable(
            f"the model call failed: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        )
    return exc
