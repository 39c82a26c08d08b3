"""Test doubles shared by the test modules: nothing here reaches the network.

- `HashEmbedder`: deterministic bag-of-words vectors, where the embedding model is not the subject.
- `ScriptedChatModel` (and `StreamingScriptedModel`): a LangChain chat model that replays queued
  AI messages and records every prompt it is sent; `call` writes one tool call for its script.
- `StandIn`: a tiny OpenAI-compatible server on 127.0.0.1 replaying a recorded cassette
  (tests/cassettes), for the real openai client and ChatOpenAI; `use_stand_in` points the app at
  it, `send_completion` answers one request as the OpenAI API does (JSON or a stream), and
  `top_high_value_at_risk` is the customer the recorded tool loop names.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

CASSETTES = Path(__file__).parent / "cassettes"


class HashEmbedder:
    """Deterministic bag-of-words vectors: the KB is not the subject here."""

    name = "test-hash-embedder"

    def embed(self, texts):
        out = []
        for t in texts:
            v = [0.0] * 64
            for w in re.findall(r"[a-z]+", t.lower()):
                v[int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1.0
            n = sum(x * x for x in v) ** 0.5 or 1.0
            out.append([x / n for x in v])
        return out


# --- a scripted fake chat model -----------------------------------------------------------------


class ScriptedChatModel(BaseChatModel):
    """Replays queued AI messages (tool calls or text) and records every prompt it is sent."""

    script: list = Field(default_factory=list)
    received: list = Field(default_factory=list)
    tools: list = Field(default_factory=list)

    def bind_tools(self, tools, **kwargs):
        from langchain_core.utils.function_calling import convert_to_openai_tool

        self.tools = [convert_to_openai_tool(t) for t in tools]
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.received.append(list(messages))
        step = self.script.pop(0) if self.script else AIMessage("(script exhausted)")
        msg = step(messages) if callable(step) else step
        return ChatResult(generations=[ChatGeneration(message=msg)])

    @property
    def _llm_type(self) -> str:
        return "scripted"


class StreamingScriptedModel(ScriptedChatModel):
    """The scripted model, streamed: text word by word, each tool call as one chunk."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        self.received.append(list(messages))
        step = self.script.pop(0) if self.script else AIMessage("(script exhausted)")
        msg = step(messages) if callable(step) else step
        for word in re.findall(r"\S+\s*", msg.content if isinstance(msg.content, str) else ""):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        for i, tc in enumerate(msg.tool_calls):
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": tc["name"],
                            "args": json.dumps(tc["args"]),
                            "id": tc["id"],
                            "index": i,
                        }
                    ],
                )
            )


def call(name: str, args: dict, cid: str = "call_1") -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": cid, "type": "tool_call"}])


# --- the real openai client against a local stand-in server ----------------------------------------


def send_completion(handler, status: int, payload: dict, *, stream: bool) -> None:
    """Answer one request of a stand-in server as the OpenAI API does: JSON, or the reply as
    server-sent chunks when the client asked for a stream."""
    if stream and status == 200:
        raw = "".join(f"data: {json.dumps(c)}\n\n" for c in as_chunks(payload)).encode()
        raw, kind = raw + b"data: [DONE]\n\n", "text/event-stream"
    else:
        raw, kind = json.dumps(payload).encode(), "application/json"
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)


class StandIn:
    """A tiny OpenAI-compatible server on 127.0.0.1 replaying one cassette in order."""

    def __init__(self, cassette: str, subs: dict[str, str] | None = None) -> None:
        data = json.loads((CASSETTES / cassette).read_text())
        self.interactions = list(data["interactions"])
        self.subs = subs or {}
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization", "")}
                )
                status, payload = outer.reply(self.path, body)
                send_completion(self, status, payload, stream=bool(body.get("stream")))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, path: str, body: dict) -> tuple[int, dict]:
        if not self.interactions:
            return 500, {"error": {"message": "cassette exhausted"}}
        rec = self.interactions.pop(0)
        want = rec["request"]
        roles = [m["role"] for m in body.get("messages", [])]
        last_user = next(
            (m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), ""
        )
        if (
            path != want["path"]
            or body.get("model") != want["model"]
            or roles != want["roles"]
            or want.get("last_user_contains", "") not in last_user
        ):
            return 500, {"error": {"message": f"request does not match the cassette: {roles}"}}
        text = json.dumps(rec["response"]["body"])
        for k, v in self.subs.items():
            text = text.replace("{{" + k + "}}", v)
        return rec["response"]["status"], json.loads(text)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def as_chunks(payload: dict) -> list[dict]:
    """A recorded chat.completion as the chat.completion.chunk events of a streamed reply: the
    role, the content word by word, each tool call's name then its arguments in pieces, the
    finish reason, and the usage last."""
    choice, head = payload["choices"][0], {k: payload[k] for k in ("id", "created", "model")}
    msg = choice["message"]

    def chunk(delta: dict, finish=None) -> dict:
        return {
            **head,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": w}) for w in re.findall(r"\S+\s*", msg.get("content") or "")]
    for i, tc in enumerate(msg.get("tool_calls") or []):
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": tc["id"],
                            "type": "function",
                            "function": {"name": tc["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        args = tc["function"]["arguments"]
        out += [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j : j + 7]}}]})
            for j in range(0, len(args), 7)
        ]
    out.append(chunk({}, choice["finish_reason"]))
    if payload.get("usage"):
        out.append(
            {**head, "object": "chat.completion.chunk", "choices": [], "usage": payload["usage"]}
        )
    return out


def top_high_value_at_risk(session) -> str:
    """The customer the recorded tool loop names: high CLV tier, churn > 50%, most value at stake."""
    top = session.scores.loc[
        (session.scores["clv_tier"] == "high") & (session.scores["churn_probability"] > 0.5)
    ]
    return (
        top.assign(v=top["churn_probability"] * top["predicted_clv"])
        .nlargest(1, "v")["customer_id"]
        .iloc[0]
    )


def use_stand_in(monkeypatch, server) -> None:
    monkeypatch.setenv("RETENTION_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
