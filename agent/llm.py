"""LLM mode: a LangChain v1 agent (`create_agent`) on any OpenAI-compatible chat model.

Configured by RETENTION_MODEL (the model name), OPENAI_API_KEY and OPENAI_BASE_URL (OpenAI
itself, or a local server: Ollama, vLLM, llama.cpp), read through `agent.settings.Settings`.
The tools are thin StructuredTools over `agent.agent_tools` with the session bound; the model
only ever sees customer ids and features: the merchant's message and every string of every
tool result have known customers' emails, phones and full names replaced by their ids (any
other email or phone by a placeholder) before they leave the machine (agent.redaction).
Conversation memory is per thread (an in-memory checkpointer); a run stops after
`max_iterations` model calls with a clear message.
"""

from __future__ import annotations

import json
import logging

from agent.agent_tools import TOOLS, Answer, ToolRunner
from agent.prompts import system_prompt

log = logging.getLogger(__name__)

FIX = "set OPENAI_API_KEY=… or unset RETENTION_MODEL to use offline mode"
LIMIT_PREFIX = "Model call limits exceeded"


class ModelConfigError(RuntimeError):
    """The model is misconfigured or refused us; the message says how to fix it (one line)."""


def chat_model_from_settings(settings):
    """ChatOpenAI for RETENTION_MODEL. Without OPENAI_BASE_URL (i.e. api.openai.com) a key is
    required; a local server gets a dummy key when none is set."""
    if not settings.model:
        raise ModelConfigError("no model configured: set RETENTION_MODEL=<model name>")
    if not settings.openai_api_key and not settings.openai_base_url:
        raise ModelConfigError(f"RETENTION_MODEL={settings.model} needs an API key: {FIX}")
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=settings.model, api_key=settings.openai_api_key or "not-needed",
                      base_url=settings.openai_base_url or None, temperature=0, max_retries=1,
                      timeout=120)


def langchain_tools(runner: ToolRunner) -> list:
    """One StructuredTool per registered tool: name, docstring and argument schema from the
    tool; the call goes through `runner` (trace, "Error: ..." results)."""
    from langchain_core.tools import StructuredTool

    out = []
    for spec in TOOLS.values():
        def call(_name: str = spec.name, **kwargs):
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

        out.append(StructuredTool.from_function(func=call, name=spec.name,
                                                description=spec.description,
                                                args_schema=spec.args, infer_schema=False,
                                                handle_validation_error=bad_args))
    return out


class LLMAgent:
    """A create_agent graph over the session's tools, one conversation thread."""

    def __init__(self, session, runner: ToolRunner, *, settings, chat_model=None,
                 thread_id: str = "default", max_iterations: int = 8) -> None:
        from langchain.agents import create_agent
        from langchain.agents.middleware import ModelCallLimitMiddleware
        from langgraph.checkpoint.memory import InMemorySaver

        self.session = session
        self.runner = runner
        self.settings = settings
        self.thread_id = thread_id
        self.max_iterations = max_iterations
        self.model = chat_model if chat_model is not None else chat_model_from_settings(settings)
        self.graph = create_agent(
            self.model, langchain_tools(runner),
            system_prompt=system_prompt(as_of=str(session.as_of.date()),
                                        horizon_days=session.horizon_days),
            middleware=[ModelCallLimitMiddleware(run_limit=max_iterations, exit_behavior="end")],
            checkpointer=InMemorySaver())

    def _config(self) -> dict:
        return {"configurable": {"thread_id": self.thread_id},
                "recursion_limit": 4 * self.max_iterations + 10}

    def _answer(self, text: str, start: int) -> Answer:
        if text.startswith(LIMIT_PREFIX):
            text = (f"I stopped after {self.max_iterations} model calls without a final answer "
                    "(the iteration cap). Try a narrower question, or see the tool trace.")
        return Answer(text, self.runner.trace[start:], "llm")

    def ask(self, message: str) -> Answer:
        from langchain_core.messages import HumanMessage
        from langgraph.errors import GraphRecursionError

        start = len(self.runner.trace)
        try:
            out = self.graph.invoke({"messages": [HumanMessage(self.session.redact(message))]},
                                    self._config())
            text = _text(out["messages"][-1].content)
        except GraphRecursionError:
            text = LIMIT_PREFIX
        except Exception as exc:
            raise _explain(exc, self.settings) from exc
        return self._answer(text, start)

    def stream(self, message: str):
        """`ask`, as events (agent.streaming.TurnEvent): the model's tokens as the answer so far,
        "status" when it calls a tool, "tool" when the tool's result is back, then "answer"
        (what `ask` would have returned). LangGraph stream modes "messages" and "updates"."""
        from langchain_core.messages import AIMessage, HumanMessage
        from langgraph.errors import GraphRecursionError

        from agent.streaming import TurnEvent, calling, finished

        start = len(self.runner.trace)
        seen = start
        config = self._config()
        text = ""
        try:
            for part in self.graph.stream({"messages": [HumanMessage(self.session.redact(message))]},
                                          config, stream_mode=["messages", "updates"], version="v2"):
                if part["type"] == "messages":
                    token, meta = part["data"]
                    if meta.get("langgraph_node") == "model" and isinstance(token, AIMessage):
                        piece = _text(token.content)
                        if piece:
                            text += piece
                            yield TurnEvent("text", text)
                    continue
                for update in (part["data"] or {}).values():
                    for m in (update or {}).get("messages", []) if isinstance(update, dict) else []:
                        if isinstance(m, AIMessage) and m.tool_calls:
                            text = ""  # words before a tool call were a step, not the answer
                            for call in m.tool_calls:
                                yield TurnEvent("status", calling(call["name"]))
                    for step in self.runner.trace[seen:]:
                        yield TurnEvent("tool", finished(step), step=step)
                    seen = len(self.runner.trace)
            text = _text(self.graph.get_state(config).values["messages"][-1].content)
        except GraphRecursionError:
            text = LIMIT_PREFIX
        except Exception as exc:
            raise _explain(exc, self.settings) from exc
        yield TurnEvent("answer", answer=self._answer(text, start))


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


def _explain(exc: Exception, settings) -> Exception:
    """A one-line, fixable message for the usual failures; anything else unchanged."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return exc
    where = settings.openai_base_url or "api.openai.com"
    if isinstance(exc, openai.AuthenticationError):
        return ModelConfigError(f"the model server at {where} rejected the API key (401): {FIX}")
    if isinstance(exc, openai.NotFoundError):
        return ModelConfigError(f"model {settings.model!r} not found at {where} (404): set "
                                "RETENTION_MODEL to a model the server has, or unset it for offline mode")
    if isinstance(exc, openai.APIConnectionError):
        return ModelConfigError(f"cannot reach the model server at {where}: check OPENAI_BASE_URL, "
                                "or unset RETENTION_MODEL to use offline mode")
    if isinstance(exc, openai.APIStatusError):
        return ModelConfigError(f"the model server at {where} answered {exc.status_code}: "
                                f"{str(exc)[:200]}")
    return exc
