"""LLM mode: the real create_agent loop driven by a scripted fake chat model, and the real
openai client + ChatOpenAI against a local stand-in server replaying recorded exchanges.
Nothing here reaches the network; no personal field reaches a prompt."""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from agent.settings import Settings
from tests.builders import personal_strings
from tests.fakes import (
    CASSETTES,
    HashEmbedder,
    ScriptedChatModel,
    StandIn,
    StreamingScriptedModel,
    call,
    top_high_value_at_risk,
    use_stand_in,
)


@pytest.fixture(scope="module")
def session(demo):
    from agent.assistant.session import StoreSession
    from knowledge import KnowledgeBase

    store, ws = demo
    return StoreSession(store, ws, kb=KnowledgeBase(ws / "chroma-hash", embedder=HashEmbedder()))


@pytest.fixture(autouse=True)
def no_real_model(monkeypatch):
    for var in ("RETENTION_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def assistant_with(session, script, **kw):
    from agent.assistant.chat import Assistant

    model = ScriptedChatModel(script=list(script))
    return Assistant(session, chat_model=model, **kw), model


def test_tool_chain_every_step(session):
    a, model = assistant_with(
        session,
        [
            call("at_risk_customers", {"segment": "Champions", "limit": 2}, "c1"),
            lambda msgs: call(
                "explain_customer",
                {"customer_id": json.loads(msgs[-1].content)["customers"][0]["customer_id"]},
                "c2",
            ),
            AIMessage("Call your top Champion first."),
        ],
    )
    assert a.mode == "llm"
    ans = a.ask("Which Champions should I call?")
    assert ans.mode == "llm" and ans.text == "Call your top Champion first."
    assert [s.tool for s in ans.trace] == ["at_risk_customers", "explain_customer"]
    first, second = ans.trace
    assert first.args == {"segment": "Champions", "limit": 2} and first.ok
    top = first.result["customers"][0]["customer_id"]
    assert second.args == {"customer_id": top} and second.result["customer_id"] == top
    assert all(s.seconds >= 0 for s in ans.trace)
    # what the model saw: the system prompt, the question, then each tool result as JSON
    assert len(model.received) == 3
    last = model.received[-1]
    tool_msgs = [m for m in last if isinstance(m, ToolMessage)]
    assert [json.loads(m.content).get("customer_id") for m in tool_msgs][1] == top
    assert json.loads(tool_msgs[0].content) == json.loads(json.dumps(first.result, default=str))
    assert "Every number you state must come from a tool result" in last[0].content
    names = {t["function"]["name"] for t in model.tools}
    assert {"store_overview", "explain_customer", "search_playbooks", "queue_drafts"} <= names
    schema = next(t for t in model.tools if t["function"]["name"] == "at_risk_customers")
    assert schema["function"]["parameters"]["properties"]["limit"]["maximum"] == 50


def test_memory_per_thread(session):
    a, model = assistant_with(session, [AIMessage("first"), AIMessage("second")])
    a.ask("remember the number seven")
    a.ask("what did I say?")
    contents = [m.content for m in model.received[-1]]
    assert "remember the number seven" in contents and "first" in contents


def test_tool_errors_go_back_to_the_model(session):
    a, model = assistant_with(
        session,
        [
            call("explain_customer", {"customer_id": "Z999"}, "c1"),
            call("at_risk_customers", {"limit": 500}, "c2"),
            call("no_such_tool", {}, "c3"),
            AIMessage("Sorry, I could not find that customer."),
        ],
    )
    ans = a.ask("tell me about Z999")
    tool_msgs = [m for m in model.received[-1] if isinstance(m, ToolMessage)]
    assert tool_msgs[0].content.startswith("Error: no customer 'Z999'")
    assert tool_msgs[1].content.startswith("Error: invalid arguments for at_risk_customers")
    assert "no_such_tool" in tool_msgs[2].content and "rror" in tool_msgs[2].content
    assert ans.trace[0].ok is False and ans.trace[0].result.startswith("Error:")


def test_iteration_cap(session):
    a, model = assistant_with(
        session, [call("store_overview", {}, f"c{i}") for i in range(10)], max_iterations=3
    )
    ans = a.ask("loop forever")
    assert "iteration cap" in ans.text and "3 model calls" in ans.text
    assert len(model.received) == 3 and len(ans.trace) == 3


def stream_script():
    return [
        AIMessage(
            "Let me look that up.",
            tool_calls=[
                {
                    "name": "at_risk_customers",
                    "args": {"segment": "Champions", "limit": 2},
                    "id": "c1",
                    "type": "tool_call",
                }
            ],
        ),
        AIMessage("Call your top Champion first: they carry the most value at stake this quarter."),
    ]


def test_stream_gives_tokens_and_steps_then_the_answer_ask_gives(session):
    from agent.assistant.chat import Assistant
    from agent.assistant.streaming import stream_answer

    want = assistant_with(session, stream_script())[0].ask("Which Champions should I call?")
    model = StreamingScriptedModel(script=stream_script())
    events = list(
        stream_answer(Assistant(session, chat_model=model), "Which Champions should I call?")
    )
    kinds = [e.kind for e in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert kinds.index("status") < kinds.index("tool") < len(kinds) - 1
    assert events[kinds.index("status")].text == "calling tool at_risk_customers"
    tool = events[kinds.index("tool")]
    assert tool.step.tool == "at_risk_customers" and tool.step.ok and "done" in tool.text
    texts = [e.text for e in events if e.kind == "text"]
    assert (
        texts[0] == "Let " and "Let me look that up." in texts
    )  # the model's tokens, as they come
    final = [t for t in texts[texts.index("Let me look that up.") + 1 :]]
    assert len(final) > 5 and all(
        b.startswith(a) for a, b in zip(final, final[1:])
    )  # the answer so far
    got = events[-1].answer
    assert got.text == want.text == final[-1] and got.mode == "llm"
    assert [(s.tool, s.args, s.result) for s in got.trace] == [
        (s.tool, s.args, s.result) for s in want.trace
    ]


def test_stream_keeps_the_iteration_cap(session):
    from agent.assistant.chat import Assistant
    from agent.assistant.streaming import stream_answer

    model = StreamingScriptedModel(script=[call("store_overview", {}, f"c{i}") for i in range(10)])
    events = list(stream_answer(Assistant(session, chat_model=model, max_iterations=2), "loop"))
    assert "iteration cap" in events[-1].answer.text and len(events[-1].answer.trace) == 2
    assert [e.text for e in events if e.kind == "status"] == ["calling tool store_overview"] * 2


def test_no_personal_field_reaches_the_prompt(session, demo):
    import pandas as pd

    c = pd.read_csv(demo[0] / "customers.csv", dtype=str).iloc[1]
    a, model = assistant_with(
        session,
        [
            call("explain_customer", {"customer_id": "C000002"}, "c1"),
            call("next_best_product", {"customer_id": "C000002"}, "c2"),
            call("at_risk_customers", {"limit": 20}, "c3"),
            call("draft_message", {"customer_id": "C000859"}, "c4"),
            AIMessage("done"),
        ],
    )
    a.ask(f"Why might {c['first_name']} {c['last_name']} ({c['email']}, {c['phone']}) leave us?")
    sent = json.dumps([[m.content for m in msgs] for msgs in model.received], default=str)
    leaks = [p for p in personal_strings(demo[0]) if re.search(rf"\b{re.escape(p)}\b", sent)]
    assert leaks == []
    assert "C000002" in sent  # the email was replaced by the customer's id


# --- the real openai client against a local stand-in server ----------------------------------------


def test_cassettes_hold_no_secrets():
    for path in CASSETTES.glob("*.json"):
        text = path.read_text()
        assert not re.search(r"sk-[A-Za-z0-9]{8,}|Bearer |\"authorization\"", text), path.name


def test_chatopenai_tool_loop_replayed(session, monkeypatch, demo):
    from agent.assistant.chat import Assistant

    top_id = top_high_value_at_risk(session)
    server = StandIn("chat_tool_loop.json", {"TOP_ID": top_id})
    try:
        use_stand_in(monkeypatch, server)
        a = Assistant(session, settings=Settings())
        assert a.mode == "llm"
        ans = a.ask("Who should I contact first among my high-value customers?")
    finally:
        server.close()
    assert ans.text.startswith(f"Start with {top_id}")
    assert [s.tool for s in ans.trace] == ["at_risk_customers", "explain_customer"]
    assert ans.trace[0].args == {"clv_tier": "high", "limit": 3}
    assert ans.trace[0].result["customers"][0]["customer_id"] == top_id
    assert len(server.requests) == 3 and not server.interactions
    assert server.requests[0]["auth"] == "Bearer test-key-not-real"
    sent_tools = {t["function"]["name"] for t in server.requests[0]["body"]["tools"]}
    assert "at_risk_customers" in sent_tools
    tool_reply = server.requests[2]["body"]["messages"][-1]
    assert (
        tool_reply["role"] == "tool" and json.loads(tool_reply["content"])["customer_id"] == top_id
    )
    sent = json.dumps([r["body"] for r in server.requests])
    assert [p for p in personal_strings(demo[0]) if re.search(rf"\b{re.escape(p)}\b", sent)] == []


def test_chatopenai_streams_the_replayed_tool_loop(session, monkeypatch):
    from agent.assistant.chat import Assistant
    from agent.assistant.streaming import stream_answer

    top_id = top_high_value_at_risk(session)
    server = StandIn("chat_tool_loop.json", {"TOP_ID": top_id})
    try:
        use_stand_in(monkeypatch, server)
        events = list(
            stream_answer(
                Assistant(session, settings=Settings()),
                "Who should I contact first among my high-value customers?",
            )
        )
    finally:
        server.close()
    assert (
        all(r["body"].get("stream") is True for r in server.requests) and len(server.requests) == 3
    )
    assert [e.text for e in events if e.kind == "status"] == [
        "calling tool at_risk_customers",
        "calling tool explain_customer",
    ]
    texts = [e.text for e in events if e.kind == "text"]
    answer = events[-1].answer
    assert len(texts) > 5 and texts[0] == "Start " and texts[-1] == answer.text
    assert (
        answer.text
        == f"Start with {top_id}: the highest value at stake among your high-value at-risk customers."
    )
    assert [s.tool for s in answer.trace] == ["at_risk_customers", "explain_customer"]
    assert answer.trace[0].args == {"clv_tier": "high", "limit": 3}


def test_401_says_how_to_fix(session, monkeypatch):
    from agent.assistant.chat import Assistant
    from agent.assistant.llm import ModelConfigError

    server = StandIn("auth_401.json")
    try:
        monkeypatch.setenv("RETENTION_MODEL", "gpt-4o-mini")
        monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        with pytest.raises(ModelConfigError) as err:
            Assistant(session, settings=Settings()).ask("hello")
    finally:
        server.close()
    msg = str(err.value)
    assert "401" in msg and "set OPENAI_API_KEY=" in msg and "unset RETENTION_MODEL" in msg
    assert "\n" not in msg


def test_missing_key_says_how_to_fix(session, monkeypatch):
    from agent.assistant.chat import Assistant
    from agent.assistant.llm import ModelConfigError

    monkeypatch.setenv("RETENTION_MODEL", "gpt-4o-mini")
    with pytest.raises(ModelConfigError, match=r"set OPENAI_API_KEY=… or unset RETENTION_MODEL"):
        Assistant(session, settings=Settings())
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # a local server needs no key
    assert Assistant(session, settings=Settings()).mode == "llm"


def test_cli_chat_one_shot_offline(demo, capsys):
    import logging

    from agent.cli.chat import chat_command

    store, ws = demo
    logger = logging.getLogger("agent")
    before = (list(logger.handlers), logger.propagate, logger.level)
    try:
        chat_command("what is my LTV:CAC at $40 CAC?", store, False, ws, show_tools=True)
    finally:  # chat_command sends the agent's log lines to <workspace>/chat.log
        for h in logger.handlers[len(before[0]) :]:
            logger.removeHandler(h)
            h.close()
        logger.propagate, logger.level = before[1], before[2]
    assert (ws / "chat.log").exists()
    out = capsys.readouterr().out
    assert (
        "tool clv_ltv_cac" in out and "LTV:CAC is" in out and "no language model is in use" in out
    )
