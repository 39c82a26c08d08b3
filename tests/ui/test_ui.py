"""The app's view functions on data, without a browser (tests/ui/test_ui_browser.py drives the real page)."""

from __future__ import annotations

import json
import re
import threading
from types import SimpleNamespace

import pandas as pd
import pytest

from agent.toolbox.tools import Answer, TraceStep
from ui import charts, views

ALL = views.ALL


@pytest.fixture
def scores():
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "segment": ["Champions", "At risk", "At risk", "New"],
            "clv_tier": ["high", "high", "low", "low"],
            "churn_reason": ["overdue", "returns", "overdue", "none"],
            "predicted_clv": [300.0, 200.0, 20.0, 50.0],
            "clv_low": [100.0, 50.0, 0.0, 10.0],
            "clv_high": [500.0, 300.0, 40.0, 90.0],
            "churn_probability": [0.1, 0.8, 0.9, 0.3],
            "orders_to_date": [9, 4, 1, 1],
            "revenue_to_date": [900.0, 300.0, 30.0, 50.0],
            "next_best_product": ["P1", "P2", "P3", "P1"],
        }
    )


@pytest.fixture
def customers():
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "accepts_email": [True, True, False, False],
            "accepts_sms": [False, True, False, True],
        }
    )


def test_mode_banner_names_the_mode():
    assert "offline: no language model in use" in views.mode_banner("offline", None)
    assert "gpt-4o-mini" in views.mode_banner("llm", "gpt-4o-mini")


def test_answer_has_collapsible_trace_and_points_to_approvals():
    step = TraceStep("queue_drafts", {"top_n": 3}, {"queued": 3, "draft_ids": [1, 2, 3]}, 0.5)
    msgs = views.answer_messages(Answer("Drafted 3.", [step], "offline"))
    assert msgs[0]["role"] == "assistant" and "Approvals tab" in msgs[0]["content"]
    assert msgs[1]["metadata"]["title"] == "Tools used: queue_drafts"
    assert '"draft_ids"' in msgs[1]["content"] and '{"top_n": 3}' in msgs[1]["content"]
    assert len(views.answer_messages(Answer("hi", [], "offline"))) == 1
    # the ids behind the link to the Approvals tab: every successful queue_drafts call, once each
    again = TraceStep("queue_drafts", {"top_n": 1}, {"queued": 2, "draft_ids": [3, 7]}, 0.1)
    failed = TraceStep("queue_drafts", {"top_n": 1}, "Error: not available yet", 0.1, ok=False)
    assert views.queued_draft_ids(Answer("x", [step, failed, again], "offline")) == [1, 2, 3, 7]
    assert views.queued_draft_ids(Answer("x", [failed], "offline")) == []
    assert (
        "Approvals tab" not in views.answer_messages(Answer("x", [failed], "offline"))[0]["content"]
    )
    assert views.open_drafts_label([1, 2, 3]) == "Open these 3 drafts in Approvals"
    assert views.open_drafts_label([4]) == "Open this draft in Approvals"
    assert views.parse_ids(" 4, 12 x 7,") == [4, 12, 7] and views.parse_ids(None) == []


def test_trace_marks_errors_and_truncates():
    step = TraceStep(
        "explain_customer", {"customer_id": "X"}, "Error: no customer X", 0.01, ok=False
    )
    assert "(error," in views.trace_markdown([step])
    long = TraceStep("t", {}, {"x": "a" * 5000}, 0.0)
    assert "…" in views.trace_markdown([long])
    assert views.trace_markdown([]) == "No tools were called."


def test_message_text_reads_gradio_parts():
    assert views.message_text([{"type": "text", "text": "who is at risk?"}]) == "who is at risk?"
    assert views.message_text("plain") == "plain"


def test_kpi_cards_show_value_and_week_over_week_change():
    html = views.kpi_cards(
        {"customers": 800, "repeat_rate": 0.75, "at_risk": 365},
        {"customers": 15, "repeat_rate": 0.0085, "at_risk": 217},
    )
    assert "800" in html and "+15 w/w" in html and "75.0%" in html and "+0.9 pts w/w" in html
    assert "#c62828" in html  # more customers at risk is shown red


def test_scores_table_filters_sorts_and_keeps_personal_data_out(scores, customers):
    t = views.scores_table(scores, customers, first_names={"C2": "Ann"}, top_n=10)
    assert list(t["customer_id"]) == ["C2", "C1", "C3", "C4"]  # by value at stake
    assert t.loc[0, "first_name"] == "Ann" and "email" not in t.columns
    assert list(views.scores_table(scores, customers, segment="At risk")["customer_id"]) == [
        "C2",
        "C3",
    ]
    assert list(views.scores_table(scores, customers, consent="none")["customer_id"]) == ["C3"]
    assert list(
        views.scores_table(scores, customers, consent="sms", clv_tier="low")["customer_id"]
    ) == ["C4"]
    assert len(views.scores_table(scores, None, top_n=2)) == 2


def test_segment_table_sums_to_all_customers(scores):
    t = views.segment_table(scores)
    assert t["customers"].sum() == 4 and t.loc[0, "segment"] == "Champions"
    assert t["share"].sum() == pytest.approx(1.0)
    assert views.filter_choices(scores)["segment"] == ["(all)", "At risk", "Champions", "New"]


def test_customer_markdown_shows_interval_drivers_and_next_product():
    info = {
        "customer_id": "C2",
        "scores": {
            "predicted_clv": 200.0,
            "clv_interval_90": [50.0, 300.0],
            "churn_probability": 0.8,
            "p_alive": 0.4,
            "expected_orders": 0.5,
            "segment": "At risk",
            "clv_tier": "high",
            "at_risk": True,
        },
        "history": {
            "purchase_occasions": 4,
            "revenue_to_date": 300.0,
            "last_purchase": "2026-05-01",
            "days_since_last_purchase": 180,
            "expected_next_purchase": "2026-07-01",
            "days_overdue": 120,
        },
        "drivers": [{"reason": "overdue", "words": "120 days past the expected next purchase"}],
        "consent": {"accepts_email": True, "accepts_sms": False},
    }
    nbp = {
        "next_best_product_id": "P2",
        "price": 19.5,
        "why": "a best seller they have not bought",
        "store_text": {"product_name": "Mug"},
    }
    md = views.customer_markdown(info, nbp)
    for part in (
        "50.00–300.00",
        "80.0%",
        "120 days past",
        "Mug (price 19.50)",
        "email yes, SMS no",
        "at risk",
        "120 days overdue",
        "last purchase on 1 May 2026",
        "around 1 July 2026",
        "**high value**",
    ):
        assert part in md
    assert "P(alive)" not in md and "0.40" not in md  # not shown beside the churn risk
    assert "P2" not in md  # the product's name, not its code
    assert views.customer_markdown("Error: no customer X") == "Error: no customer X"
    # a product without a name is shown by its id; money in the store's currency; unknown consent
    bare = {**nbp, "store_text": {"product_name": None}, "currency": "GBP"}
    md = views.customer_markdown(
        {**info, "currency": "GBP", "consent": {"accepts_email": None, "accepts_sms": False}}, bare
    )
    assert "P2 (price 19.50 GBP)" in md and "Predicted value **200.00 GBP**" in md
    assert "email unknown, SMS no" in md


def test_orders_table_newest_first():
    o = pd.DataFrame(
        {
            "order_date": pd.to_datetime(["2026-01-01", "2026-03-01"]),
            "order_id": ["a", "b"],
            "amount": [10.0, -5.0],
            "secret": [1, 2],
        }
    )
    t = views.orders_table(o)
    assert (
        list(t["order_id"]) == ["b", "a"]
        and "secret" not in t
        and t.loc[0, "order_date"] == "2026-03-01"
    )


def test_drafts_table_and_detail_show_flags():
    d = {
        "id": 7,
        "status": "pending",
        "customer_id": "C2",
        "channel": "email",
        "subject": "Hi",
        "playbook_id": "winback",
        "expected_value": 12.34,
        "campaign_id": "c1",
        "reason": "overdue",
        "offer": "",
        "flags": [{"severity": "warn", "message": "discount near the cap"}],
    }
    t = views.drafts_table([d])
    assert t.loc[0, "flags"] == "[warn] discount near the cap" and t.loc[
        0, "expected_value"
    ] == pytest.approx(12.34)
    md = views.draft_detail(d)
    assert "`winback`" in md and "**warn**: discount near the cap" in md and "overdue" in md
    assert list(views.drafts_table([]).columns) == views.DRAFT_COLUMNS


def test_load_report_rows_add_up():
    from tools.ingest.tables import FileReport

    reps = [
        FileReport(
            "/s/orders.csv", "orders", 10, 8, 2, {"negative quantity": 2}, rejects_path="/r.csv"
        ),
        FileReport("/s/customers.csv", "customers", 5, 5, 0),
    ]
    t = views.load_report_table(reps)
    assert (
        list(t["file"]) == ["orders.csv", "customers.csv"]
        and t.loc[0, "reasons"] == "negative quantity: 2"
    )
    assert (t["rows_read"] == t["rows_accepted"] + t["rows_rejected"]).all()
    assert views.load_summary(reps) == "Loaded 2 file(s): 15 rows read, 13 accepted, 2 rejected."


def test_cohort_retention_curve_on_data():
    o = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "c"],
            "order_date": pd.to_datetime(
                ["2026-01-05", "2026-02-10", "2026-01-20", "2026-04-01", "2026-05-02"]
            ),
            "amount": [10.0, 12.0, 8.0, 5.0, -5.0],
        }
    )
    t = charts.cohort_retention_table(o, max_months=3)
    assert t.loc["2026Q1", 1] == pytest.approx(0.5)  # a came back in month 1, b did not
    assert t.loc["2026Q2", 1] == 0.0  # a refund is not a purchase
    fig = charts.cohort_retention(o, max_months=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "months since first purchase" and len(ax.get_lines()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["2026Q1", "2026Q2"]
    # months that have not happened yet are not 0%: the data ends in May 2026, so month 2 of
    # the April cohort (June) and months 5+ of January's are unknown, not "nobody came back"
    assert pd.isna(t.loc["2026Q2", 2]) and pd.isna(t.loc["2026Q2", 3])
    assert t.loc["2026Q1", 2] == 0.0 and t.loc["2026Q1", 3] == 0.0  # March, April: happened
    wide = charts.cohort_retention_table(o, max_months=6)
    assert pd.isna(wide.loc["2026Q1", 5]) and wide.loc["2026Q1", 4] == 0.0
    # a customer whose month has not happened is not in that month's denominator
    late = pd.concat(
        [
            o,
            pd.DataFrame(
                {
                    "customer_id": ["d"],
                    "order_date": pd.to_datetime(["2026-03-30"]),
                    "amount": [7.0],
                }
            ),
        ]
    )
    assert (
        charts.cohort_retention_table(late, max_months=3).loc["2026Q1", 3] == 0.0
    )  # a, b (Apr) only
    assert charts.cohort_retention_table(late, max_months=3).loc["2026Q1", 1] == pytest.approx(
        1 / 3
    )
    # the title fits the figure (drawn, it stays inside it)
    fig.canvas.draw()
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height


def test_working_messages_show_each_step_then_the_text_so_far():
    msgs = views.working_messages(
        ["calling tool at_risk_customers", "at_risk_customers done (0.01 s)"], "Three customers"
    )
    assert msgs[0]["metadata"] == {
        "title": "Working: at_risk_customers done (0.01 s)",
        "status": "pending",
    }
    assert (
        msgs[0]["content"] == "- calling tool at_risk_customers\n- at_risk_customers done (0.01 s)"
    )
    assert msgs[1] == {"role": "assistant", "content": "Three customers"}
    assert len(views.working_messages([])) == 1


# --- the app's handlers, called as Gradio calls them (no browser) ----------------------------------

QUESTION = "Who is most at risk of churning?"
TIMING = re.compile(r"\((ok|error), \d+\.\d+ s\)")


@pytest.fixture(scope="module")
def offline_settings():
    from agent.settings import Settings

    return Settings().model_copy(
        update={"model": None, "openai_api_key": None, "openai_base_url": None}
    )


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory):
    from agent.assistant.session import StoreSession
    from knowledge import KnowledgeBase, default_embedder
    from tests.builders import build_demo
    from tests.fakes import HashEmbedder

    store, _ = build_demo(tmp_path_factory)
    ws = tmp_path_factory.mktemp(
        "ui-ws"
    )  # its own queue: other modules' drafts use up the week's contacts
    return StoreSession(
        store,
        ws,
        kb=KnowledgeBase(ws / "chroma-hash", embedder=HashEmbedder()),
        embedder=default_embedder(),
    )


@pytest.fixture
def ui_ctx(demo_session, offline_settings):
    from ui.handlers import AppContext

    return AppContext(
        demo_session.store_dir,
        demo_session.workspace.root,
        settings=offline_settings,
        session=demo_session,
    )


def _no_timing(msgs: list[dict]) -> list[dict]:
    return [{**m, "content": TIMING.sub("(…)", m["content"])} for m in msgs]


def test_chat_streams_status_then_text_and_ends_with_the_plain_answer(
    ui_ctx, demo_session, offline_settings
):
    from agent.assistant.chat import Assistant
    from ui.handlers import chat_turn

    history = [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]
    yields = list(chat_turn(ui_ctx, history))
    assert len(yields) >= 4
    shown = [json.dumps(y[0][len(history) :]) for y in yields[:-1]]
    assert any("calling tool at_risk_customers" in s for s in shown)  # before the answer is there
    assert (
        all(y[1]["interactive"] is False for y in yields[:-1])
        and yields[-1][1]["interactive"] is True
    )
    partial = [y[0][-1]["content"] for y in yields[:-1] if "metadata" not in y[0][-1]]
    assert len(partial) >= 2 and all(b.startswith(a) for a, b in zip(partial, partial[1:]))
    plain = Assistant(demo_session, settings=offline_settings).ask(QUESTION)
    final = yields[-1][0]
    assert (
        final[:1] == history
        and final[1]["content"] == views.codes_in_words(plain.text) == partial[-1]
    )
    assert "_" not in re.sub(r"C\d+|`[^`]*`", "", final[1]["content"])  # no codes in the answer
    assert _no_timing(final[1:]) == _no_timing(views.answer_messages(plain))
    assert final[2]["metadata"]["title"] == "Tools used: at_risk_customers"
    # no drafts written in this turn: no link to the Approvals tab
    assert all(y[3] == {"__type__": "update", "visible": False} and y[4] == [] for y in yields)


def test_drafts_written_in_chat_open_in_the_approvals_tab_filtered_to_them(ui_ctx):
    import gradio as gr

    from ui.handlers import chat_turn, draft_rows, open_chat_drafts

    earlier = ui_ctx.runner().call("queue_drafts", {"top_n": 1})["draft_ids"]  # not this turn's
    before = {d.id for d in ui_ctx.queue().list_drafts()}
    history = [{"role": "user", "content": "Draft messages for the top 3 at-risk customers"}]
    yields = list(chat_turn(ui_ctx, history))
    assert all(y[3]["visible"] is False for y in yields[:-1])  # hidden while the turn runs
    final, _, _, link, ids = yields[-1]
    assert final[-1]["metadata"]["title"].startswith("Tools used: ")
    assert "queue_drafts" in final[-1]["metadata"]["title"]
    assert ids == sorted({d.id for d in ui_ctx.queue().list_drafts()} - before) and len(ids) >= 1
    assert link == {"__type__": "update", "visible": True, "value": views.open_drafts_label(ids)}

    (
        tabs,
        only,
        state,
        msg,
        subject,
        body,
        info,
        preview,
        table,
        view,
        box,
        armed,
        picker,
        bulk,
        bulk_no,
    ) = open_chat_drafts(ui_ctx, ids)
    first = picker["value"]
    assert view["ids"] == ids and box is False and armed is None  # the server knows what is shown
    assert isinstance(tabs, gr.Tabs) and tabs.selected == "approvals"
    assert views.parse_ids(only) == ids and state == ALL
    assert list(table["Draft"]) == ids and set(table["Status"]) <= {"pending", "blocked"}
    assert f"Showing the {len(ids)} draft(s) written in chat" in msg
    d = ui_ctx.queue().get(ids[0])
    assert (
        first == ids[0] and (subject, body) == (d.subject, d.body) and f"### Draft {ids[0]}" in info
    )
    # each draft with the customer's name and email, from the store's own file (on this machine)
    who = ui_ctx.session().personal(d.customer_id)
    row = table.set_index("Draft").loc[ids[0]]
    assert row["Email"] == who["email"] and row["Name"].startswith(who["first_name"])
    assert f"**To:** {who['first_name']}" in info and "_" not in row["Channel"]
    # the preview is the message as the customer will read it: their name in, no placeholder
    assert f"Hi {who['first_name']}," in preview and "{first_name}" not in preview
    assert [v for _, v in picker["choices"]] == ids and picker["choices"][0][0].startswith(
        f"Draft {ids[0]}: "
    )
    n = sum(ui_ctx.queue().get(i).state == "pending" for i in ids)
    assert bulk["value"] == f"Approve the {n} pending draft{'s' if n != 1 else ''} shown"
    assert bulk_no["value"] == f"Reject the {n} pending draft{'s' if n != 1 else ''} shown"
    # the plan's calculation is in the details fold, not in the text
    words, calc = info.split("<details>") if "<details>" in info else (info, "")
    assert " = " not in words and (" x " in calc or not calc)
    # the filter stays on while the merchant works through those drafts, and clears to the whole queue
    assert list(draft_rows(ui_ctx, ALL, only)["id"]) == ids
    assert set(draft_rows(ui_ctx, ALL, "")["id"]) == before | set(ids) and earlier[0] in before


def test_offline_stream_events_match_ask(demo_session, offline_settings):
    from agent.assistant.chat import Assistant
    from agent.assistant.streaming import stream_answer

    events = list(stream_answer(Assistant(demo_session, settings=offline_settings), QUESTION))
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["status", "tool"] and kinds[-1] == "answer" and kinds.count("text") >= 2
    plain = Assistant(demo_session, settings=offline_settings).ask(QUESTION)
    got = events[-1].answer
    assert got.text == plain.text and got.mode == "offline"
    assert [(s.tool, s.args, s.result) for s in got.trace] == [
        (s.tool, s.args, s.result) for s in plain.trace
    ]


def test_chat_in_llm_mode_streams_the_models_tokens(demo_session, offline_settings, tmp_path):
    from tests.fakes import StandIn, top_high_value_at_risk
    from ui.handlers import AppContext, chat_turn

    top_id = top_high_value_at_risk(demo_session)
    server = StandIn("chat_tool_loop.json", {"TOP_ID": top_id})
    try:
        settings = offline_settings.model_copy(
            update={
                "model": "gpt-4o-mini",
                "openai_base_url": server.url,
                "openai_api_key": "test-key-not-real",
            }
        )
        ctx = AppContext(
            demo_session.store_dir,
            demo_session.workspace.root,
            settings=settings,
            session=demo_session,
        )
        history = [
            {"role": "user", "content": "Who should I contact first among my high-value customers?"}
        ]
        yields = list(chat_turn(ctx, history))
    finally:
        server.close()
    assert "gpt-4o-mini" in yields[-1][2]
    tokens = [y[0][-1]["content"] for y in yields[:-1] if "metadata" not in y[0][-1]]
    assert (
        len(tokens) > 5
        and tokens[0] == "Start "
        and all(b.startswith(a) for a, b in zip(tokens, tokens[1:]))
    )
    shown = json.dumps([y[0] for y in yields[:-1]])
    assert "calling tool at_risk_customers" in shown and "calling tool explain_customer" in shown
    final = yields[-1][0]
    assert final[1]["content"] == tokens[-1] and final[1]["content"].startswith(
        f"Start with {top_id}"
    )
    assert final[2]["metadata"]["title"] == "Tools used: at_risk_customers, explain_customer"


def test_customer_filters_segment_tier_reason_and_consent(ui_ctx, demo_session):
    from ui.handlers import customer_rows

    s, c = demo_session.scores, demo_session.customers.set_index("customer_id")
    everyone, segments, seg_u, tier_u, reason_u, count = customer_rows(
        ui_ctx, ALL, ALL, ALL, ALL, 100_000
    )
    assert len(everyone) == len(s) and segments["Customers"].sum() == len(s)
    assert count == f"**{len(s):,} customers match** the filters (of {len(s):,} scored)."
    choices = views.filter_choices(s)
    assert [v for _, v in seg_u["choices"]] == choices["segment"]
    assert [v for _, v in tier_u["choices"]] == choices["clv_tier"]
    assert [v for _, v in reason_u["choices"]] == choices["churn_reason"]
    # one vocabulary: a filter option says what the table says (agent.display), never a code
    from agent.display import reason_label

    words = dict((v, w) for w, v in reason_u["choices"])
    assert words[ALL] == "All" and all("_" not in w for w in words.values())
    assert set(everyone["Main churn reason"]) <= set(words.values())
    assert set(everyone["Main churn reason"]) == {reason_label(r) for r in s["churn_reason"]}
    assert everyone.columns[0] == "Customer" and everyone.columns[2].startswith("Value at stake")
    assert everyone["Churn risk"].str.fullmatch(r"\d{1,3}%").all()  # percentages, not fractions
    assert all("_" not in c for c in everyone.columns) and segments["Share"].str.endswith("%").all()
    seg, tier, reason = "At risk", "high", s["churn_reason"].value_counts().index[0]

    def ids(**f):
        args = [f.get(k, ALL) for k in ("segment", "clv_tier", "churn_reason", "consent")]
        return set(customer_rows(ui_ctx, *args, 100_000)[0]["Customer"])

    assert ids(segment=seg) == set(s.loc[s["segment"] == seg, "customer_id"]) and 0 < len(
        ids(segment=seg)
    ) < len(s)
    assert ids(clv_tier=tier) == set(s.loc[s["clv_tier"] == tier, "customer_id"])
    assert ids(churn_reason=reason) == set(s.loc[s["churn_reason"] == reason, "customer_id"])
    email = set(c.index[c["accepts_email"].astype(bool)]) & set(s["customer_id"])
    assert ids(consent="email") == email and 0 < len(email) < len(s)
    both = s.loc[(s["segment"] == seg) & (s["clv_tier"] == tier), "customer_id"]
    assert ids(segment=seg, clv_tier=tier) == set(both)
    top, *_, count = customer_rows(ui_ctx, seg, ALL, ALL, ALL, 10)
    stake = top[top.columns[2]]
    assert len(top) == 10 and list(stake) == sorted(stake, reverse=True)
    # the count is of every match, not of the rows shown
    n_seg = int((s["segment"] == seg).sum())
    assert count == (
        f"**{n_seg:,} customers match** the filters (of {len(s):,} scored); the 10 with the "
        "most value at stake are shown."
    )
    n_both = len(both)
    assert customer_rows(ui_ctx, seg, tier, ALL, ALL, 100_000)[-1].startswith(
        f"**{n_both:,} customers match**"
    )
    assert views.match_count(1, 5, 1) == "**1 customer matches** the filters (of 5 scored)."


@pytest.fixture
def small_app(tmp_path, monkeypatch, offline_settings):
    """An app on a two-file store whose queue holds 2 pending drafts and 1 blocked one."""
    from agent.outreach.guardrails import Flag
    from tests.builders import draft, plan, three_customer_store
    from ui.handlers import AppContext

    monkeypatch.delenv("DATABASE_URL", raising=False)
    store = three_customer_store(tmp_path / "store")
    ctx = AppContext(store, tmp_path / "ws", settings=offline_settings)
    ctx.queue().add_campaign(
        plan(),
        [draft("C1"), draft("C2"), draft("C3", [Flag("consent", "block", "no")])],
        store_path=str(store),
    )
    return ctx


def test_bulk_approve_needs_the_tick_and_approves_only_the_drafts_shown(small_app):
    """The issue's attack: with the queue filtered to ids 1 and 2, "Approve all pending"
    approved every pending draft. Now it approves the pending drafts the table shows, and only
    after the merchant's tick, noted on the server for that same table."""
    from tests.builders import draft, plan
    from ui.handlers import (
        arm_bulk,
        bulk_approve,
        export_drafts,
        people_line,
        register_person,
        shown_rows,
    )

    small_app.queue().add_campaign(
        plan("c2"),
        [draft("C1", cam="c2"), draft("C2", cam="c2")],
        store_path=str(small_app.store_dir),
    )  # drafts 4 and 5, pending
    states = lambda: [d.state for d in small_app.queue().list_drafts()]  # noqa: E731
    assert "Nobody is registered yet" in people_line(small_app)
    assert register_person(small_app, "Maria", "")[0] == "Registered Maria to decide on drafts."
    assert people_line(small_app) == "People who decide on drafts here: Maria."
    table, view, box, armed, picker, button, reject_button = shown_rows(small_app, ALL, "1, 2")
    assert list(table["Draft"]) == [1, 2] and view == {"state": ALL, "only": "1, 2", "ids": [1, 2]}
    assert box is False and armed is None
    # the bulk action names exactly what it acts on: the pending drafts shown, with their count
    assert button["value"] == "Approve the 2 pending drafts shown" and button["interactive"] is True
    assert [v for _, v in picker["choices"]] == [1, 2]
    assert (
        shown_rows(small_app, ALL, "3")[5]["interactive"] is False
    )  # a blocked draft: nothing to approve
    assert shown_rows(small_app, ALL, "")[5]["value"] == "Approve the 4 pending drafts shown"
    # no tick noted on the server: nothing approved, whatever the page says
    msg, table, view2, box, armed, *_ = bulk_approve(small_app, None, "Maria", view)
    assert "Tick the confirmation box" in msg and box is False and armed is None
    assert states() == ["pending", "pending", "blocked", "pending", "pending"]
    armed, note = arm_bulk(small_app, True, view)
    assert armed == {"ids": [1, 2], "view": [1, 2]} and "(ids 1, 2)" in note
    assert arm_bulk(small_app, False, view) == (None, "Bulk approval not confirmed.")
    # a tick for another table (the filter changed since) approves nothing
    _, other, *_ = shown_rows(small_app, ALL, "")
    msg, *_ = bulk_approve(small_app, armed, "Maria", other)
    assert "changed since the box was ticked" in msg and states()[0] == "pending"
    msg, *_ = bulk_approve(small_app, armed, "assistant", view)
    assert msg.startswith("**Could not do that:** Only a person") and states()[:2] == [
        "pending",
        "pending",
    ]
    # drafts not shown are never approved, even if the arming named them
    msg, table, view3, box, armed_after, *_ = bulk_approve(
        small_app, {"ids": [1, 2, 4, 5], "view": [1, 2]}, "Maria", view
    )
    assert msg == "2 drafts approved by Maria (ids 1, 2)." and box is False and armed_after is None
    assert states() == ["approved", "approved", "blocked", "pending", "pending"]
    assert list(table["Draft"]) == [1, 2] and view3["ids"] == [1, 2]  # the same filter, shown again
    assert {d.decided_by for d in small_app.queue().list_drafts(state="approved")} == {"Maria"}
    msg, table, path, *_, platform = export_drafts(small_app, "Maria", view3)
    klaviyo, shopify = platform
    paths = [path, klaviyo, shopify]
    rows = pd.read_csv(path)
    assert msg.startswith("Done: exported 2 drafts; nothing was sent.") and list(
        rows["draft_id"]
    ) == [1, 2]
    assert str(small_app.ws.root) not in msg and "Klaviyo" in msg and "Shopify" in msg
    assert (
        list(rows["email"]) == ["ann@example.com", "bo@example.com"]
        and "Hi Ann," in rows.loc[0, "body"]
    )
    assert list(pd.read_csv(klaviyo)["Email"]) == ["ann@example.com", "bo@example.com"]
    assert list(pd.read_csv(shopify)["Tags"]) == ["retention-c1", "retention-c1"]
    # the files handed to the page are copies in Gradio's cache, the files served for exports
    for p in paths:
        assert small_app.downloads.allowed(p) and not str(p).startswith(str(small_app.ws.root))
    assert not small_app.downloads.allowed(str(small_app.ws.root))


def test_bulk_reject_acts_on_exactly_the_drafts_shown_like_the_single_reject(small_app):
    """The bulk reject beside the bulk approve: the same count in its label, the same tick for
    the same table, only the pending drafts shown, each with the single reject's reason and
    audit row (agent.approvals.queue: reject and reject_many write the same)."""
    from tests.builders import draft, plan
    from ui.handlers import arm_bulk, bulk_reject, register_person, shown_rows

    small_app.queue().add_campaign(
        plan("c2"),
        [draft("C1", cam="c2"), draft("C2", cam="c2")],
        store_path=str(small_app.store_dir),
    )  # drafts 4 and 5, pending
    states = lambda: [d.state for d in small_app.queue().list_drafts()]  # noqa: E731
    register_person(small_app, "Maria", "")
    *_, approve_button, button = shown_rows(small_app, ALL, "1, 2")
    assert button["value"] == "Reject the 2 pending drafts shown" and button["interactive"] is True
    assert (
        shown_rows(small_app, ALL, "3")[6]["interactive"] is False
    )  # a blocked draft: nothing to reject
    assert shown_rows(small_app, ALL, "")[6]["value"] == "Reject the 4 pending drafts shown"
    assert shown_rows(small_app, ALL, "4")[6]["value"] == "Reject the 1 pending draft shown"
    view = shown_rows(small_app, ALL, "1, 2")[1]
    msg, *_ = bulk_reject(small_app, None, "Maria", view, "not this week")
    assert "Tick the confirmation box to reject" in msg and states()[:2] == ["pending", "pending"]
    armed, note = arm_bulk(small_app, True, view)
    assert "Reject the 2 pending drafts shown" in note
    other = shown_rows(small_app, ALL, "")[1]
    msg, *_ = bulk_reject(small_app, armed, "Maria", other, "not this week")
    assert "changed since the box was ticked: nothing rejected" in msg and states()[0] == "pending"
    # drafts not shown are never rejected, even if the arming named them
    msg, table, view2, box, armed_after, picker, approve_after, reject_after = bulk_reject(
        small_app, {"ids": [1, 2, 4, 5], "view": [1, 2]}, "Maria", view, "  not this week "
    )
    assert msg == "2 drafts rejected by Maria (ids 1, 2)." and box is False and armed_after is None
    assert states() == ["rejected", "rejected", "blocked", "pending", "pending"]
    assert list(table["Draft"]) == [1, 2] and reject_after["interactive"] is False
    assert reject_after["value"] == "Reject the 0 pending drafts shown"
    # the audit trail is the single reject's, row for row
    small_app.queue().reject(4, actor="Maria", reason="not this week")
    single = small_app.queue().audit(4)[-1]
    for i in (1, 2):
        row = small_app.queue().audit(i)[-1]
        assert (row.action, row.actor, row.note) == (single.action, single.actor, single.note)
        assert (
            row.before["state"] == single.before["state"]
            and row.after["state"] == single.after["state"]
        )
    # an empty reason is allowed, as for the single reject
    armed, _ = arm_bulk(small_app, True, shown_rows(small_app, ALL, "5")[1])
    msg, *_ = bulk_reject(small_app, armed, "Maria", shown_rows(small_app, ALL, "5")[1], "")
    assert (
        msg == "1 drafts rejected by Maria (ids 5)." and small_app.queue().audit(5)[-1].note == ""
    )


def test_settings_a_new_endpoint_clears_the_key_and_every_change_is_logged(small_app):
    from ui.handlers import save_settings, settings_log

    small_app.settings = small_app.settings.model_copy(
        update={"openai_base_url": "https://api.openai.com/v1", "openai_api_key": "sk-old-not-real"}
    )
    args = dict(model="", key="", cap=0.15, budget=100, control=0.1, margin=1.0, currency="")
    msg, key_box = save_settings(small_app, "http://evil.example:8080/v1", by="Maria", **args)
    assert small_app.settings.openai_base_url == "http://evil.example:8080/v1" and key_box == ""
    assert small_app.settings.openai_api_key is None and "API key: not set" in msg
    assert "the stored API key was cleared" in msg
    log = settings_log(small_app)
    assert len(log) == 1 and log[0]["by"] == "Maria"
    assert log[0]["changes"]["openai_base_url"] == {
        "before": "https://api.openai.com/v1",
        "after": "http://evil.example:8080/v1",
    }
    assert log[0]["changes"]["openai_api_key"] == {"before": "set", "after": "not set"}
    import sqlite3

    with sqlite3.connect(small_app.ws.root / "approvals.sqlite") as db:  # the audit log itself
        rows = db.execute(
            "SELECT actor, before, after FROM audit_log WHERE action = 'settings_changed'"
        ).fetchall()
    assert rows and rows[-1][0] == "Maria" and "sk-old" not in repr(rows)
    # a key given with the new endpoint is kept; the same endpoint again keeps the key
    save_settings(small_app, "http://localhost:11434/v1", **{**args, "key": "sk-new-not-real"})
    assert small_app.settings.openai_api_key == "sk-new-not-real"
    msg, _ = save_settings(
        small_app, "http://localhost:11434/v1", **{**args, "cap": 0.2, "control": 0.0}
    )
    assert (
        small_app.settings.openai_api_key == "sk-new-not-real"
        and small_app.settings.control_share == 0.0
    )
    assert settings_log(small_app)[-1]["changes"] == {
        "discount_cap": {"before": 0.15, "after": 0.2},
        "control_share": {"before": 0.1, "after": 0.0},
    }
    assert settings_log(small_app)[-1]["by"] == "merchant"
    # out of range, whatever the page sends: refused, nothing changed, nothing logged
    n = len(settings_log(small_app))
    for bad in ({"cap": 0.9}, {"control": -0.1}, {"margin": float("nan")}, {"budget": -3}):
        msg, _ = save_settings(
            small_app, "http://localhost:11434/v1", **{**args, "cap": 0.2, "control": 0.0, **bad}
        )
        assert (
            msg.startswith("**Could not do that:** The ") and small_app.settings.discount_cap == 0.2
        )
        assert "error" not in msg.lower() and ("%" in msg or "whole number" in msg)
    msg, _ = save_settings(small_app, "file:///etc/passwd", **args)
    assert (
        "http:// or https://" in msg
        and small_app.settings.openai_base_url == "http://localhost:11434/v1"
    )
    assert len(settings_log(small_app)) == n


def _second_click_while_running(first, second, started: threading.Event, release: threading.Event):
    """Start `first` in a thread, click `second` while it runs; return (first's, second's) result."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("first", first()))
    t.start()
    assert started.wait(30)
    try:
        out["second"] = second()
    finally:
        release.set()
        t.join(30)
    return out["first"], out["second"]


def test_store_settings_are_kept_in_the_workspace_and_shown_after_a_reload(
    small_app, offline_settings
):
    """Saved store settings go to the workspace: the page opened again (settings_values, the
    header's store line) and a new app on the same workspace show them, not the defaults, so a
    save from a reloaded page does not overwrite them; drafts are signed with them."""
    from agent.outreach.drafts import template_text
    from agent.outreach.facts import StoreFacts
    from agent.settings import STORE_SETTINGS_FILE, saved_store_settings
    from ui.handlers import AppContext, save_settings, settings_log, settings_values, store_line

    args = dict(model="", key="", cap=0.2, budget=40, control=0.05, margin=0.6, currency="gbp")
    msg, _ = save_settings(
        small_app,
        "",
        by="Maria",
        store_name="Green Leaf Tea",
        sender="Maria",
        sign_off="Warm wishes",
        **args,
    )
    assert msg.startswith("Saved.") and (small_app.ws.root / STORE_SETTINGS_FILE).is_file()
    saved = saved_store_settings(small_app.ws.root)
    assert saved == {
        "store_name": "Green Leaf Tea",
        "currency": "GBP",
        "sender_name": "Maria",
        "sign_off": "Warm wishes",
        "discount_cap": 0.2,
        "weekly_contact_budget": 40,
        "control_share": 0.05,
        "margin": 0.6,
    }
    shown = ("", "", 0.2, 40, 0.05, 0.6, "GBP", "Green Leaf Tea", "Maria", "Warm wishes")
    assert settings_values(small_app) == shown
    assert "Green Leaf Tea" in store_line(small_app) and str(small_app.store_dir) in store_line(
        small_app
    )
    # a restart on the same workspace: the saved values, not the defaults
    again = AppContext(small_app.store_dir, small_app.ws.root, settings=offline_settings)
    assert settings_values(again) == shown
    # saving from the reloaded page without touching the store fields keeps them
    save_settings(
        again,
        "",
        by="Maria",
        **{**args, "cap": 0.1},
        store_name="Green Leaf Tea",
        sender="Maria",
        sign_off="Warm wishes",
    )
    assert saved_store_settings(again.ws.root)["discount_cap"] == 0.1
    assert saved_store_settings(again.ws.root)["store_name"] == "Green Leaf Tea"
    # an explicit setting (an argument, the environment) still wins over the workspace
    explicit = AppContext(
        small_app.store_dir,
        small_app.ws.root,
        settings=offline_settings.model_copy(update={"discount_cap": 0.05}),
    )
    assert (
        explicit.settings.discount_cap == 0.05 and explicit.settings.store_name == "Green Leaf Tea"
    )
    # the drafts are signed with the store's name, sender and sign-off
    facts = {"store_name": "Green Leaf Tea", "sender_name": "Maria", "sign_off": "Warm wishes"}
    store = StoreFacts.from_settings(again.settings)
    assert (store.store_name, store.sender_name, store.sign_off) == (
        "Green Leaf Tea",
        "Maria",
        "Warm wishes",
    )
    _, body = template_text(
        "Hi {first_name},\n\nWe miss you.", facts, channel="email", churn_reason=""
    )
    assert body.endswith("Warm wishes,\nMaria, Green Leaf Tea")
    log = settings_log(again)
    assert any("store_name" in e["changes"] for e in log)


def test_the_brief_tab_shows_its_charts_embedded_and_serves_only_the_downloads(ui_ctx):
    """The brief's charts are data: URIs in the page (never a file to fetch: no 404, nothing more
    for ui.guard to serve); the downloads are the self-contained HTML file and the Markdown."""
    from pathlib import Path

    from ui.handlers import make_brief

    out = make_brief(ui_ctx, "", None)
    assert out[0].startswith("Brief for the week ending") and len(out) == 9
    for chart in out[2:5]:
        srcs = re.findall(r'src="([^"]*)"', chart)
        assert len(srcs) == 1 and srcs[0].startswith("data:image/png;base64,")
    html_file, md_file = out[7], out[8]
    assert len(ui_ctx.downloads.served()) == 2
    assert ui_ctx.downloads.allowed(html_file) and ui_ctx.downloads.allowed(md_file)
    text = Path(html_file).read_text()
    assert text.count("data:image/png;base64,") == 3 and '.png"' not in text


def test_a_second_click_does_not_make_the_brief_twice(ui_ctx, monkeypatch):
    import agent.reports.brief
    from ui.handlers import make_brief

    started, release, calls = threading.Event(), threading.Event(), []

    def slow_brief(store, **kw):
        calls.append(kw["week_ending"])
        started.set()
        release.wait(30)
        return SimpleNamespace(
            week_ending="2026-10-31",
            paths={"md": "/b.md", "html": "/b.html"},
            facts={"kpi": {"customers": 1500}, "kpi_change": {}},
            markdown="# Brief",
        )

    monkeypatch.setattr(agent.reports.brief, "weekly_brief", slow_brief)
    first, second = _second_click_while_running(
        lambda: make_brief(ui_ctx, "", None), lambda: make_brief(ui_ctx, "", None), started, release
    )
    assert calls == [None]
    assert (
        second[0].startswith("the weekly brief is already running")
        and len(second) == len(first) == 9
    )
    assert first[0].startswith("Brief for the week ending **31 October 2026**")
    make_brief(ui_ctx, "", None)  # once it is done, the next click runs again
    assert len(calls) == 2


def test_a_second_click_does_not_score_an_upload_twice(small_app, tmp_path, monkeypatch):
    from ui.handlers import upload_store

    started, release, calls = threading.Event(), threading.Event(), []

    def slow_use_store(folder, progress=None):
        calls.append(folder)
        started.set()
        release.wait(30)
        return SimpleNamespace(reports=[], scores=pd.DataFrame({"customer_id": ["C1"]}), params={})

    monkeypatch.setattr(small_app, "use_store", slow_use_store)
    orders = str(small_app.store_dir / "orders.csv")
    first, second = _second_click_while_running(
        lambda: upload_store(small_app, [orders], "shop"),
        lambda: upload_store(small_app, [orders], "shop"),
        started,
        release,
    )
    assert len(calls) == 1 and "already running" in second[0] and "Scored 1 customers" in first[0]


def test_an_upload_with_a_short_history_says_so(small_app, tmp_path, online_retail_csv):
    """The Online Retail sample covers 5 days: the status says a year's prediction extrapolates."""
    from ui.handlers import upload_store

    orders = tmp_path / "upload" / "orders.csv"
    orders.parent.mkdir()
    orders.write_bytes(online_retail_csv.read_bytes())
    status, report, rejects, _ = upload_store(small_app, [str(orders)], "uk")
    assert "Scored 323 customers" in status and "Note: The order history covers 5 days" in status
    assert report["Rejected"].sum() == 2291 and rejects  # the lines without a CustomerID
    assert "--horizon-days" not in status.split("<details>")[0]  # a flag only in the details fold


def test_the_app_sends_no_analytics(small_app):
    import os

    from ui.app import build_app

    assert build_app(small_app).analytics_enabled is False
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_retention_ui_reads_the_store_once(tmp_path, monkeypatch, capsys, offline_settings):
    """`retention ui` (make run) prints the summary from one load, and the app's session is
    built from that load instead of reading the files again."""
    import tools.ingest.load
    import ui.app
    from agent.cli.main import main
    from ui.handlers import AppContext

    monkeypatch.delenv("DATABASE_URL", raising=False)
    store = tmp_path / "store"
    store.mkdir()
    pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C1"],
            "order_id": ["O1", "O2", "O3", "O4"],
            "order_date": ["2026-01-05", "2026-01-06", "2026-02-01", "2026-03-01"],
            "amount": [10.0, 12.0, 9.0, 11.0],
        }
    ).to_csv(store / "orders.csv", index=False)
    launched = {}
    monkeypatch.setattr(
        ui.app, "launch", lambda path, ws, **kw: launched.update(path=path, ws=ws, **kw)
    )
    assert main(["ui", "--store", str(store), "--workspace", str(tmp_path / "ws")]) == 0
    assert "Load report" in capsys.readouterr().out
    loaded = launched["loaded"]
    assert loaded.path == store and len(loaded.orders) == 4

    def no_second_read(*a, **kw):
        raise AssertionError("the store was read again")

    monkeypatch.setattr(tools.ingest.load, "load_store", no_second_read)
    ctx = AppContext(launched["path"], launched["ws"], settings=offline_settings, loaded=loaded)
    session = ctx.session()
    assert session.reports == loaded.reports and len(session.scores) == 3


def test_an_internal_check_never_reaches_the_merchant_as_the_error():
    from tools.errors import DataError
    from ui.handlers import error_message

    bug = error_message(RuntimeError("orders_export_1.csv: read 811 != accepted 745 + rejected 67"))
    assert "811" not in bug and "unchanged" in bug and bug.count("\n") == 0
    told = error_message(
        DataError("no value can be read as a date", file="orders.csv", column="Created at")
    )
    assert "orders.csv" in told and "Created at" in told


def test_no_event_of_the_app_is_in_its_api(small_app):
    """Every event is api_name=False: none is listed in the API page (/gradio_api/info). That does
    not refuse a call by itself (gradio-app/gradio#13051); ui.guard's launch key does, tested over
    HTTP in tests/agent/test_hostile.py."""
    from ui.app import build_app

    app = build_app(small_app)
    assert len(app.fns) > 20 and {fn.api_visibility for fn in app.fns.values()} == {"private"}
    info = app.get_api_info(all_endpoints=True)
    assert info["named_endpoints"] == {} and info["unnamed_endpoints"] == {}


# --- issue 17: the first screen, approvals, the merchant's words ------------------------------------


def test_the_store_is_scored_at_start_up_and_the_first_screen_shows_its_numbers(
    small_app, monkeypatch
):
    """launch starts the scoring in the background; the first screen names the step while it
    runs, then greets the merchant with the store's numbers (the tools' own figures)."""
    import knowledge
    import knowledge.base
    from tests.fakes import HashEmbedder
    from ui.handlers import home_view

    for where in (knowledge, knowledge.base):  # the embedding model is not the subject here
        monkeypatch.setattr(where, "default_embedder", HashEmbedder)

    seen = []
    bar, hello, numbers, polling = home_view(small_app)  # before the start: nothing loaded
    assert polling is True and "being scored" in hello and "…" in numbers
    original = small_app._step
    small_app._step = lambda m: (original(m), seen.append(home_view(small_app)[0]))[0]
    small_app.start_warmup()
    assert small_app.wait_ready(120) and small_app.loaded
    assert any('data-state="working"' in b and "%)" in b for b in seen)  # a bar naming its step
    assert any("Scoring" in b or "Loading" in b for b in seen)
    assert not any(
        "/" in re.sub(r"<[^>]+>", "", b).replace("w/w", "") for b in seen
    )  # no folder named
    bar, hello, numbers, polling = home_view(small_app)
    assert polling is False and 'data-state="ready"' in bar and "Ready: 3 customers scored" in bar
    assert "Your 3 customers are scored" in hello and "nothing is sent" in hello.lower()
    o = small_app.runner().call("store_overview", {})
    for title in (
        "Active customers",
        "At risk",
        "Value at stake",
        "Drafts waiting",
        "Last campaign",
    ):
        assert title in numbers
    assert (
        f">{o['active_customers_last_90_days']:,}<" in numbers
        and f">{o['at_risk_customers']:,}<" in numbers
    )
    assert ">2<" in numbers  # drafts waiting: the two pending ones (the blocked one is not waiting)
    small_app.settings = small_app.settings.model_copy(update={"store_name": "Green Leaf Tea"})
    assert "Green Leaf Tea" in home_view(small_app)[1]


def test_a_failed_brief_clears_the_old_one_and_an_empty_cost_is_no_cost(ui_ctx, monkeypatch):
    import agent.reports.brief
    from ui.handlers import make_brief

    got = {}

    def fake(store, **kw):
        got.update(kw)
        return SimpleNamespace(
            week_ending="2026-10-31",
            paths={},
            facts={"kpi": {"customers": 5}, "kpi_change": {}},
            markdown="# Brief",
        )

    monkeypatch.setattr(agent.reports.brief, "weekly_brief", fake)
    assert (
        make_brief(ui_ctx, "", "")[0].startswith("Brief for the week ending") and got["cac"] is None
    )
    make_brief(ui_ctx, "", "1,200")
    assert got["cac"] == 1200.0
    out = make_brief(ui_ctx, "", "thirty")
    assert out[0].startswith(
        "**Could not do that:** The customer acquisition cost must be an amount"
    )
    assert out[1:] == ("", "", "", "", None, "", None, None)  # nothing left of the brief before

    def broken(store, **kw):
        raise ValueError("week_ending 2031-01-01 is after the last order")

    monkeypatch.setattr(agent.reports.brief, "weekly_brief", broken)
    out = make_brief(ui_ctx, "2031-01-01", "")
    assert out[0].startswith("**Could not do that:**") and "error:" not in out[0].lower()
    assert out[1:] == ("", "", "", "", None, "", None, None) and not ui_ctx.downloads.served()


def test_merchant_words_fold_flags_variables_and_formulas_away():
    text, details = views.merchant_words(
        "The history is short. Treat them as rough, or score a shorter --horizon-days."
    )
    assert text == "The history is short." and "--horizon-days" in details
    text, _ = views.merchant_words(
        "orders.csv, column 'x': missing. Rename the column or pass --map x=<your column>"
    )
    assert (
        text.endswith("Rename the column in your file and upload it again") and "--map" not in text
    )
    assert (
        views.merchant_words("Set OPENAI_BASE_URL to use a model.")[0]
        == "Set OPENAI_BASE_URL to use a model."
    )
    text, details = views.merchant_words("Done.\nNext: retention approvals approve 3.\n\nBye")
    assert text == "Done.\n\nBye" and "retention approvals approve" in details
    md = views.with_details(*views.merchant_words("Ok. Run retention approvals list."))
    assert md.startswith("Ok.") and "<details><summary>Details</summary>" in md
    words, calc = views.reason_parts(
        "57% likely to lapse (purchase cycle overdue); expected value 4.72 = 0.57 x 55 "
        "x 0.15 - (0 + 0.01); consent: merchant"
    )
    assert " = " not in words and "expected value 4.72" in words and "consent: merchant" in words
    assert calc == "expected value 4.72 = 0.57 x 55 x 0.15 - (0 + 0.01)"
    assert (
        views.codes_in_words("by personal_email (cycle_overdue)")
        == "by personal email (purchase cycle overdue)"
    )


def test_tables_have_headings_and_no_codes_when_empty_or_full():
    for heads in (
        views.CUSTOMER_HEADINGS,
        views.DRAFT_HEADINGS,
        views.CAMPAIGN_HEADINGS,
        views.ORDER_HEADINGS,
        views.SEGMENT_HEADINGS,
        views.LOAD_HEADINGS,
    ):
        t = views.empty(heads)
        assert list(t.columns) == heads and len(t) == 0  # headings, not Gradio's 1 2 3
    assert list(views.drafts_view([]).columns) == views.DRAFT_HEADINGS
    assert list(views.campaigns_view(pd.DataFrame()).columns) == views.CAMPAIGN_HEADINGS
    d = {
        "id": 7,
        "status": "pending",
        "customer_id": "C2",
        "channel": "personal_email",
        "subject": "Hi",
        "playbook_id": "win-back-lapsed",
        "expected_value": 12.345,
        "campaign_id": "c1",
        "flags": [],
    }
    t = views.drafts_view(
        [d], {7: {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}}, "GBP"
    )
    assert t.loc[0, "Name"] == "Ann Lee" and t.loc[0, "Email"] == "ann@example.com"
    assert t.loc[0, "Channel"] == "personal email" and t.loc[0, "Expected value (GBP)"] == 12.35
    assert t.loc[0, "Playbook"] == "Win back lapsed"
    res = pd.DataFrame(
        [
            {
                "campaign_id": "c1",
                "start": "2026-11-02",
                "treated": 40,
                "control": 5,
                "contacted": 38,
                "treated_rate": 0.25,
                "control_rate": 0.2,
                "uplift": 0.05,
                "uplift_low": -0.1,
                "uplift_high": 0.2,
                "complete": False,
            }
        ]
    )
    c = views.campaigns_view(res)
    assert c.loc[0, "Week of"] == "2 November 2026" and c.loc[0, "Bought again"] == "25.0%"
    assert (
        c.loc[0, "Difference"] == "+5.0 pts (-10.0 to +20.0)"
        and c.loc[0, "Status"] == "still running"
    )
    head = views.campaign_headline(res.iloc[0].to_dict())
    assert (
        head["headline"] == "+5.0 pts"
        and "25%" in head["detail"]
        and "still running" in head["detail"]
    )
    preview = views.draft_preview(
        "For you", "Hi Ann,\n\nA <b>line</b>.\n\nWarm wishes,\nMaria", "email", "a@x.io"
    )
    assert (
        preview.count("<p ") == 3
        and "&lt;b&gt;line&lt;/b&gt;" in preview
        and "Warm wishes,<br>Maria" in preview
    )
    assert "To: a@x.io" in preview and "For you" in preview


def test_a_draft_shows_its_customer_and_a_preview_only_for_its_own_store(small_app):
    """The queue shows each draft with the customer's name and email from the store's own
    customers file; a draft planned on another store in the same workspace (the same id is
    another person there) is shown without them."""
    from tests.builders import draft, plan
    from ui.handlers import show_draft

    small_app.queue().add_campaign(
        plan("elsewhere"), [draft("C1", cam="elsewhere")], store_path="/another/store"
    )
    before = shown_rows_table(small_app)
    assert set(before["Name"]) == {""}  # not loaded yet: no names read
    small_app.session()
    table = shown_rows_table(small_app).set_index("Draft")
    assert table.loc[1, "Name"] == "Ann" and table.loc[1, "Email"] == "ann@example.com"
    assert table.loc[4, "Name"] == "" and table.loc[4, "Email"] == ""  # another store's C1
    subject, body, info, preview = show_draft(small_app, 1)
    assert (
        subject == "A note for {first_name}" and "{first_name}" in body
    )  # the editor keeps the placeholders
    assert "A note for Ann" in preview and "Hi Ann," in preview and "To: ann@example.com" in preview
    assert "**To:** Ann, ann@example.com" in info
    assert "Ann" not in show_draft(small_app, 4)[3] and "Hi there," in show_draft(small_app, 4)[3]
    assert show_draft(small_app, None)[2].startswith("Pick a draft")


def shown_rows_table(ctx):
    from ui.handlers import shown_rows

    return shown_rows(ctx, ALL, "")[0]


CLI_LEFTOVERS = re.compile(r"--[a-z][a-z-]*|\b[a-z]+(?:_[a-z]+)+\b")
"""A command-line flag or a snake_case column name: never in the app's text (a Details fold may keep them)."""


def test_scoring_warnings_reach_the_app_in_the_merchants_words(
    tmp_path, monkeypatch, offline_settings
):
    """A store one day long fires the scoring warnings (history shorter than the horizon, an
    uncalibrated value range, fallbacks): the load message, the chat's store overview and the
    brief's notes show them with no flag (--horizon-days) and no column name (clv_low)."""
    from types import SimpleNamespace

    from agent.assistant import answers as prompts
    from agent.display import plain_words
    from tests.builders import three_customer_store
    from ui.handlers import AppContext, upload_store

    monkeypatch.delenv("DATABASE_URL", raising=False)
    store = three_customer_store(tmp_path / "store")
    ctx = AppContext(store, tmp_path / "ws", settings=offline_settings)
    msg, *_ = upload_store(ctx, [str(p) for p in sorted(store.iterdir())], "short")
    warnings = ctx.session().params["warnings"]
    raw = " ".join(warnings)
    assert "--horizon-days" in raw and "clv_low" in raw  # the CLI keeps its words ...
    overview = views.answer_messages(
        SimpleNamespace(text=prompts.overview(ctx.runner().call("store_overview", {})), trace=[])
    )[0]["content"]
    brief_notes = plain_words("\n".join(f"Note: {w}" for w in warnings))
    for shown in (msg, overview, brief_notes):  # ... the app says them in the merchant's words
        outside = re.sub(r"<details>.*?</details>", "", shown, flags=re.S)
        assert "prediction window" in outside and "value range" in outside, outside
        assert not CLI_LEFTOVERS.findall(outside), (CLI_LEFTOVERS.findall(outside), outside)
