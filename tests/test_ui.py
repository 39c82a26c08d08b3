"""The app's view functions on data, without a browser (tests/test_ui_browser.py drives the real page)."""

from __future__ import annotations

import pandas as pd
import pytest

from agent.agent_tools import Answer, TraceStep
from ui import charts, views


@pytest.fixture
def scores():
    return pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C4"],
        "segment": ["Champions", "At risk", "At risk", "New"],
        "clv_tier": ["high", "high", "low", "low"],
        "churn_reason": ["overdue", "returns", "overdue", "none"],
        "predicted_clv": [300.0, 200.0, 20.0, 50.0], "clv_low": [100.0, 50.0, 0.0, 10.0],
        "clv_high": [500.0, 300.0, 40.0, 90.0], "churn_probability": [0.1, 0.8, 0.9, 0.3],
        "orders_to_date": [9, 4, 1, 1], "revenue_to_date": [900.0, 300.0, 30.0, 50.0],
        "next_best_product": ["P1", "P2", "P3", "P1"]})


@pytest.fixture
def customers():
    return pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"], "accepts_email": [True, True, False, False],
                         "accepts_sms": [False, True, False, True]})


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


def test_trace_marks_errors_and_truncates():
    step = TraceStep("explain_customer", {"customer_id": "X"}, "Error: no customer X", 0.01, ok=False)
    assert "(error," in views.trace_markdown([step])
    long = TraceStep("t", {}, {"x": "a" * 5000}, 0.0)
    assert "…" in views.trace_markdown([long])
    assert views.trace_markdown([]) == "No tools were called."


def test_message_text_reads_gradio_parts():
    assert views.message_text([{"type": "text", "text": "who is at risk?"}]) == "who is at risk?"
    assert views.message_text("plain") == "plain"


def test_kpi_cards_show_value_and_week_over_week_change():
    html = views.kpi_cards({"customers": 800, "repeat_rate": 0.75, "at_risk": 365},
                           {"customers": 15, "repeat_rate": 0.0085, "at_risk": 217})
    assert "800" in html and "+15 w/w" in html and "75.0%" in html and "+0.9 pts w/w" in html
    assert "#c62828" in html  # more customers at risk is shown red


def test_scores_table_filters_sorts_and_keeps_personal_data_out(scores, customers):
    t = views.scores_table(scores, customers, first_names={"C2": "Ann"}, top_n=10)
    assert list(t["customer_id"]) == ["C2", "C1", "C3", "C4"]  # by value at stake
    assert t.loc[0, "first_name"] == "Ann" and "email" not in t.columns
    assert list(views.scores_table(scores, customers, segment="At risk")["customer_id"]) == ["C2", "C3"]
    assert list(views.scores_table(scores, customers, consent="none")["customer_id"]) == ["C3"]
    assert list(views.scores_table(scores, customers, consent="sms", clv_tier="low")["customer_id"]) == ["C4"]
    assert len(views.scores_table(scores, None, top_n=2)) == 2


def test_segment_table_sums_to_all_customers(scores):
    t = views.segment_table(scores)
    assert t["customers"].sum() == 4 and t.loc[0, "segment"] == "Champions"
    assert t["share"].sum() == pytest.approx(1.0)
    assert views.filter_choices(scores)["segment"] == ["(all)", "At risk", "Champions", "New"]


def test_customer_markdown_shows_interval_drivers_and_next_product():
    info = {"customer_id": "C2", "scores": {"predicted_clv": 200.0, "clv_interval_90": [50.0, 300.0],
                                            "churn_probability": 0.8, "p_alive": 0.4, "expected_orders": 0.5,
                                            "segment": "At risk", "clv_tier": "high", "at_risk": True},
            "history": {"purchase_occasions": 4, "revenue_to_date": 300.0, "last_purchase": "2026-05-01",
                        "days_since_last_purchase": 180, "expected_next_purchase": "2026-07-01",
                        "days_overdue": 120},
            "drivers": [{"reason": "overdue", "words": "120 days past the expected next purchase"}],
            "consent": {"accepts_email": True, "accepts_sms": False}}
    nbp = {"next_best_product_id": "P2", "price": 19.5, "why": "a best seller they have not bought",
           "store_text": {"product_name": "Mug"}}
    md = views.customer_markdown(info, nbp)
    for part in ("50.00–300.00", "80.0%", "120 days past", "Mug (P2, price 19.50)", "email yes, sms no",
                 "at risk", "120 days overdue"):
        assert part in md
    assert views.customer_markdown("Error: no customer X") == "Error: no customer X"


def test_orders_table_newest_first():
    o = pd.DataFrame({"order_date": pd.to_datetime(["2026-01-01", "2026-03-01"]), "order_id": ["a", "b"],
                      "amount": [10.0, -5.0], "secret": [1, 2]})
    t = views.orders_table(o)
    assert list(t["order_id"]) == ["b", "a"] and "secret" not in t and t.loc[0, "order_date"] == "2026-03-01"


def test_drafts_table_and_detail_show_flags():
    d = {"id": 7, "status": "pending", "customer_id": "C2", "channel": "email", "subject": "Hi",
         "playbook_id": "winback", "expected_value": 12.34, "campaign_id": "c1", "reason": "overdue",
         "offer": "", "flags": [{"severity": "warn", "message": "discount near the cap"}]}
    t = views.drafts_table([d])
    assert t.loc[0, "flags"] == "[warn] discount near the cap" and t.loc[0, "expected_value"] == pytest.approx(12.34)
    md = views.draft_detail(d)
    assert "`winback`" in md and "**warn**: discount near the cap" in md and "overdue" in md
    assert list(views.drafts_table([]).columns) == views.DRAFT_COLUMNS


def test_load_report_rows_add_up():
    from tools.load import FileReport

    reps = [FileReport("/s/orders.csv", "orders", 10, 8, 2, {"negative quantity": 2}, rejects_path="/r.csv"),
            FileReport("/s/customers.csv", "customers", 5, 5, 0)]
    t = views.load_report_table(reps)
    assert list(t["file"]) == ["orders.csv", "customers.csv"] and t.loc[0, "reasons"] == "negative quantity: 2"
    assert (t["rows_read"] == t["rows_accepted"] + t["rows_rejected"]).all()
    assert views.load_summary(reps) == "Loaded 2 file(s): 15 rows read, 13 accepted, 2 rejected."


def test_cohort_retention_curve_on_data():
    o = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c"],
                      "order_date": pd.to_datetime(["2026-01-05", "2026-02-10", "2026-01-20", "2026-04-01",
                                                    "2026-05-02"]),
                      "amount": [10.0, 12.0, 8.0, 5.0, -5.0]})
    t = charts.cohort_retention_table(o, max_months=3)
    assert t.loc["2026Q1", 1] == pytest.approx(0.5)  # a came back in month 1, b did not
    assert t.loc["2026Q2", 1] == 0.0  # a refund is not a purchase
    fig = charts.cohort_retention(o, max_months=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "months since first purchase" and len(ax.get_lines()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["2026Q1", "2026Q2"]
