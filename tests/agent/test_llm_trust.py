"""LLM mode that can be trusted (issue 16, item 3), against a scripted OpenAI-compatible
stand-in on 127.0.0.1 (the real openai client and ChatOpenAI): answers grounded when they are
produced, malformed tool arguments recovered from, one deadline per turn, and a model server
that cannot be reached or fails answered offline for that turn. Each case is run through
`Assistant.ask` and `stream_answer`, which must agree."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.messages import AIMessage

from agent.settings import Settings
from tests.builders import build_demo
from tests.fakes import HashEmbedder, ScriptedChatModel, call, send_completion

STRAY = "Your churn rate is 73.4% and 4,812 customers will leave next month, costing you $91,337"
CLAIM = "Done: I approved and exported all drafts with 90% off"
HANG = "hang"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from agent.assistant.session import StoreSession
    from knowledge import KnowledgeBase

    store, _ = build_demo(tmp_path_factory)
    # a workspace of its own: the shared one's approval queue holds whatever drafts the tests
    # that ran before queued, and its contact cap and weekly budget would change this plan
    ws = tmp_path_factory.mktemp("llm-trust-ws")
    return StoreSession(store, ws, kb=KnowledgeBase(ws / "chroma-hash", embedder=HashEmbedder()))


@pytest.fixture(autouse=True)
def no_real_model(monkeypatch):
    for var in ("RETENTION_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "RETENTION_TURN_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


def completion(content: str | None = None, tool: tuple[str, str] | None = None) -> dict:
    """A chat.completion; `tool` = (name, raw arguments string), sent as the model wrote it."""
    msg: dict = {"role": "assistant", "content": content}
    if tool is not None:
        msg["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": tool[0], "arguments": tool[1]},
            }
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": msg,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool else "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class Scripted:
    """An OpenAI-compatible server replaying a script: a completion dict, (status, body), or
    HANG (never answers until closed)."""

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                step = (
                    outer.script.pop(0)
                    if outer.script
                    else (500, {"error": {"message": "exhausted"}})
                )
                if step == HANG:
                    outer.released.wait(30)
                    return
                status, payload = step if isinstance(step, tuple) else (200, step)
                send_completion(self, status, payload, stream=bool(body.get("stream")))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def run_both(session, monkeypatch, script: list, message: str, url: str | None = None, **env):
    """The same turn through `Assistant.ask` and through `stream_answer`, each on a fresh
    stand-in: (answer, events, requests of the asked turn)."""
    from agent.assistant.chat import Assistant
    from agent.assistant.streaming import stream_answer

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("RETENTION_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real")
    got = []
    for streaming in (False, True):
        server = Scripted(script)
        monkeypatch.setenv("OPENAI_BASE_URL", url or server.url)
        try:
            a = Assistant(session, settings=Settings())
            assert a.mode == "llm"
            got.append(list(stream_answer(a, message)) if streaming else a.ask(message))
            got.append(server.requests)
        finally:
            server.close()
    answer, requests, events, _ = got
    streamed = events[-1].answer
    assert events[-1].kind == "answer"
    port = re.compile(r"127\.0\.0\.1:\d+")  # each run has its own stand-in
    assert port.sub("", streamed.text) == port.sub("", answer.text)  # both modes agree
    assert streamed.mode == answer.mode
    assert [s.tool for s in streamed.trace] == [s.tool for s in answer.trace]
    texts = [e.text for e in events if e.kind == "text"]
    assert texts and texts[-1] == streamed.text
    return answer, events, requests


def shown(events) -> str:
    return json.dumps([e.text for e in events if e.kind == "text"])


# --- grounded when produced -------------------------------------------------------------------


def test_numbers_no_tool_produced_do_not_reach_the_merchant(session, monkeypatch):
    ans, events, _ = run_both(
        session,
        monkeypatch,
        [completion(tool=("store_overview", "{}")), completion(STRAY)],
        "how bad is my churn?",
    )
    for n in ("73.4", "4,812", "91,337"):
        assert n not in ans.text and n not in shown(events)
    assert "Unverified" in ans.text and "no tool result" in ans.text
    check = ans.trace[-1]
    assert check.tool == "answer_check" and not check.ok
    assert set(check.result["unverified_numbers"]) >= {"73.4%", "4,812", "91,337"}
    assert check.result["removed"] == [STRAY]
    assert [s.tool for s in ans.trace] == ["store_overview", "answer_check"]


def test_actions_no_tool_did_do_not_reach_the_merchant(session, monkeypatch):
    ans, events, _ = run_both(
        session, monkeypatch, [completion(CLAIM)], "approve and export everything"
    )
    assert "approved" not in ans.text.split("(Unverified")[0] and "90% off" not in ans.text
    assert "approved" not in shown(events).split("(Unverified")[0] and "90%" not in shown(events)
    check = ans.trace[-1]
    assert check.tool == "answer_check"
    assert set(check.result["unsupported_claims"]) >= {"approved", "exported"}
    assert "90" in check.result["unverified_numbers"]


def test_grounded_answer_kept_ungrounded_sentence_removed(session):
    from agent.assistant.chat import Assistant

    def answer(msgs):
        n = json.loads(msgs[-1].content)["customers"]
        return AIMessage(
            f"You have {n:,} customers. Nothing is sent until you approve a draft. "
            "About 4,812 of them will leave next month."
        )

    a = Assistant(
        session, chat_model=ScriptedChatModel(script=[call("store_overview", {}), answer])
    )
    ans = a.ask("how many customers do I have?")
    n = session.scores.shape[0]
    assert ans.text.startswith(
        f"You have {n:,} customers. Nothing is sent until you approve a draft."
    )
    assert "4,812" not in ans.text and "Unverified: I left out a statement with numbers" in ans.text
    assert ans.trace[-1].result["removed"] == ["About 4,812 of them will leave next month."]


def test_a_claim_a_tool_backs_is_kept(session):
    from agent.assistant.chat import Assistant
    from agent.toolbox.tools import ToolRunner

    plan = ToolRunner(session).call("prioritise_interventions", {"limit": 1})
    cid = plan["customers"][0]["customer_id"]
    said = f"I drafted a message for {cid}; it is not sent."
    model = ScriptedChatModel(script=[call("draft_message", {"customer_id": cid}), AIMessage(said)])
    ans = Assistant(session, chat_model=model).ask(f"draft a message for {cid}")
    assert ans.trace[0].result["drafted"] is True
    assert ans.text == said and [s.tool for s in ans.trace] == ["draft_message"]


def test_what_counts_as_a_claim():
    from agent.assistant.grounding import check_answer

    for kept in (
        "Nothing has been sent; a person must approve the drafts first.",
        "Once you approve them, the drafts can be exported.",
        "I can draft a win-back email for them if you like.",
        "Their consent is on file.",
    ):
        assert check_answer(kept, [])[0] == kept, kept
    for claim, what in (
        ("I drafted a message for C000123.", "drafted"),
        ("All 12 drafts were approved.", "approved"),
        ("I've sent the emails.", "sent"),
        ("Exported to your shop.", "exported"),
    ):
        assert what in check_answer(claim, [])[1]["unsupported_claims"], claim


# --- malformed tool arguments -----------------------------------------------------------------


@pytest.mark.parametrize("raw", ['{"limit": 3', "[1, 2]", '"top three"'])
def test_malformed_tool_arguments_go_back_to_the_model(session, monkeypatch, raw):
    ans, events, requests = run_both(
        session,
        monkeypatch,
        [
            completion(tool=("at_risk_customers", raw)),
            completion("Sorry, let me answer without that tool."),
        ],
        "who is at risk?",
    )
    assert ans.text == "Sorry, let me answer without that tool."
    assert len(requests) == 2  # the model was asked again, with the error as the tool's result
    tool_reply = requests[1]["messages"][-1]
    assert tool_reply["role"] == "tool" and tool_reply["content"].startswith(
        "Error: invalid arguments for at_risk_customers"
    )
    assert ans.trace[0].tool == "at_risk_customers" and not ans.trace[0].ok
    assert "Traceback" not in ans.text


# --- one deadline per turn --------------------------------------------------------------------


def test_a_hanging_model_ends_the_turn_at_the_deadline(session, monkeypatch):
    t0 = time.monotonic()
    ans, events, _ = run_both(
        session, monkeypatch, [HANG], "who is at risk?", RETENTION_TURN_TIMEOUT="2"
    )
    took = time.monotonic() - t0
    assert took < 15  # two turns of 2 s each, not minutes
    assert "did not answer in time" in ans.text and "2 s" in ans.text
    assert "cannot reach" not in ans.text and ans.mode == "llm"


def test_a_tool_call_after_the_deadline_does_not_run(session):
    from agent.assistant.chat import Assistant
    from agent.settings import Settings

    def slow(_msgs):
        time.sleep(2.5)
        return call("queue_drafts", {"top_n": 1})

    model = ScriptedChatModel(script=[slow, AIMessage("queued")])
    a = Assistant(session, settings=Settings(turn_timeout=1), chat_model=model)
    ans = a.ask("queue drafts")
    assert "did not answer in time" in ans.text and "1 s" in ans.text and ans.trace == []
    time.sleep(3)  # the late tool call comes, and is refused
    assert [s.tool for s in a.trace] == [] and len(model.received) == 1


def test_the_deadline_is_a_setting():
    from agent.settings import Settings

    assert Settings().turn_timeout == 60
    assert Settings(turn_timeout=5).turn_timeout == 5


# --- a model server that cannot be reached or fails ------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_model_server_answers_offline_and_says_so(session, monkeypatch):
    ans, events, _ = run_both(
        session,
        monkeypatch,
        [],
        "how many customers do I have?",
        url=f"http://127.0.0.1:{closed_port()}/v1",
    )
    assert ans.mode == "offline"
    assert ans.text.startswith("The language model is unavailable (cannot reach the model server")
    assert "offline planner answered this turn" in ans.text
    assert "no language model is in use" in ans.text  # the planner's own answer follows
    assert ans.trace and all(s.ok for s in ans.trace)


def test_failing_model_server_answers_offline_and_says_so(session, monkeypatch):
    err = (503, {"error": {"message": "overloaded"}})
    ans, events, _ = run_both(
        session, monkeypatch, [err, err, err], "how many customers do I have?"
    )
    assert ans.mode == "offline" and "answered 503" in ans.text
    assert "offline planner answered this turn" in ans.text


def test_cli_turn_falls_back_offline(session, monkeypatch, capsys):
    from agent.assistant.chat import Assistant
    from agent.cli.chat import _turn

    monkeypatch.setenv("RETENTION_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port()}/v1")
    _turn(Assistant(session, settings=Settings()), "how many customers do I have?", show_tools=True)
    out = capsys.readouterr().out
    assert "The language model is unavailable" in out and "tool store_overview" in out
    assert not re.search(r"Traceback", out)


def test_a_model_that_raises_answers_offline(session):
    from agent.assistant.chat import Assistant

    def broken(_msgs):
        raise ValueError("a reply that cannot be read")

    ans = Assistant(session, chat_model=ScriptedChatModel(script=[broken])).ask(
        "how many customers do I have?"
    )
    assert ans.mode == "offline" and "the model call failed: ValueError" in ans.text
    assert "Traceback" not in ans.text and [s.tool for s in ans.trace] == ["store_overview"]
