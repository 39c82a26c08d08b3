"""Where one ask of a message may end and the next begin (`agent.assistant.asks`): the places
weighed, and the parts that are never an ask of their own."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from agent.assistant.asks import (
    anchored,
    at_repeats,
    boundaries,
    given_figure,
    negated,
    qualifier,
    run_on,
    shared_quantity,
)
from agent.assistant.parts import enumerated, keyword_chain


def _cuts(text: str, gaps: bool = True) -> list[tuple[str, str]]:
    return [(a, b) for a, _, b in boundaries(text, gaps=gaps)]


def test_separators_are_boundaries():
    assert ("weekly brief", "the segment migration") in _cuts(
        "weekly brief, after that the segment migration"
    )
    assert ("ticket summary", "the weekly report") in _cuts(
        "ticket summary as well as the weekly report"
    )
    assert ("overview", "tickets") in _cuts("overview n tickets")
    assert ("kitne customers churn hue", "weekly brief bhi") in _cuts(
        "kitne customers churn hue aur weekly brief bhi"
    )


def test_a_short_part_with_no_separator_is_weighed_at_its_word_gaps():
    assert _cuts("kpis segment sizes") == [("kpis", "segment sizes"), ("kpis segment", "sizes")]
    assert _cuts("kpis segment sizes", gaps=False) == []  # a side of a split at a separator
    assert len(_cuts(" ".join(["word"] * 12))) == 0  # a long sentence is one ask or has words


def test_no_ask_ends_at_a_preposition_or_article_nor_begins_with_one():
    cuts = _cuts("churn risk list for the champions segment")
    assert all(not a.endswith((" for", " the")) for a, _ in cuts), cuts
    assert all(not b.startswith(("for ", "list ")) for _, b in cuts), cuts
    # a relative "where" (or "who", "which") inside one ask is no boundary of its own
    assert _cuts("show churn-risk custs where the reason is bad service", gaps=False) == []


def test_a_question_word_or_request_verb_inside_a_message_is_a_boundary():
    text = "list top 5 customers draft emails for this weeks plan how did the campaign do"
    cuts = _cuts(text)
    assert (
        "list top 5 customers",
        "draft emails for this weeks plan how did the campaign do",
    ) in cuts
    assert (
        "list top 5 customers draft emails for this weeks plan",
        "how did the campaign do",
    ) in cuts


@pytest.mark.parametrize(
    ("side", "is_negated"),
    [("not just the kpis", True), ("no discounts", True), ("dont want to spam them", True),
     ("now the kpis", False), ("notes on C000123", False)],
)  # fmt: skip
def test_what_is_not_wanted_is_no_ask(side, is_negated):
    assert negated(side) is is_negated


@pytest.mark.parametrize(
    ("side", "is_qualifier"),
    [("sorted by value", True), ("friendly tone", True), ("keep it short and friendly", True),
     ("the ones with service complaints", True), ("short", True), ("segment sizes", False),
     ("by segment", False), ("brief", False), ("tone of the tickets", False), ("overall", True),
     ("how much are they worth", True), ("what did they buy", False), ("overall kpis", False)],
)  # fmt: skip
def test_a_qualifier_of_the_ask_before_is_no_ask(side, is_qualifier):
    assert qualifier(side) is is_qualifier


def test_a_one_word_side_must_name_its_intent():
    assert anchored("kpis", "kpis") and anchored("tickets", "tickets")
    assert not anchored("orders", "kpis") and not anchored("segment", "clv_by_segment")
    assert anchored("segment sizes", "clv_by_segment")  # more words: always weighed


def test_at_risk_and_a_who_question_may_open_an_ask_but_a_relative_who_does_not():
    assert ("kpis", "at risk") in _cuts("kpis at risk")
    assert ("brief", "who should i contact") in _cuts("brief who should i contact")
    assert ("weekly brief", "who to contact") in _cuts("weekly brief who to contact")
    assert ("customers", "who bought twice") not in _cuts("customers who bought twice")
    assert ("list everyone", "who opted in") not in _cuts("list everyone who opted in")
    assert ("show me the brief", "who is at risk") in _cuts("show me the brief who is at risk")
    assert ("top 10 customers", "at risk") not in _cuts("top 10 customers at risk")
    assert ("segment sizes", "campaign results") in _cuts("segment sizes / campaign results")
    assert all(sep != "/" for _, sep, _ in boundaries("orders w/ returns and/or refunds"))


@pytest.mark.parametrize(
    ("side", "given"),
    [
        ("I have $350", True),
        ("only 150 bucks this week", True),
        ("budget is 300", True),
        ("my CAC is $55", True),
        ("our cac was 40 dollars", True),
        ("who should I contact", False),
        ("my top 5 customers", False),
        ("ltv cac with cac 55", False),
        ("revenue this week", False),
    ],
)
def test_a_side_that_only_gives_a_figure_is_no_ask(side, given):
    assert given_figure(side) is given


def test_two_nouns_under_one_quantity_word_are_one_ask():
    """ "total customers and revenue so far": the total is asked of both; "total revenue and the
    at risk list" is two asks (the right side has a determiner)."""
    assert ("total customers", " and ", "revenue so far") not in boundaries(
        "total customers and revenue so far"
    )
    assert not shared_quantity("total revenue", " and ", "the at risk list")
    assert not shared_quantity("customers", " and ", "revenue")
    assert shared_quantity("average order value", " & ", "frequency")


def test_a_customer_named_again_after_words_about_them_starts_another_ask():
    @dataclass
    class M:
        start: int
        end: int
        customer_id: str | None

    text = "c15 history c15 why at risk and c15 draft"
    ms = [M(m.start(), m.end(), "C000015") for m in re.finditer(r"c15", text)]
    assert at_repeats(text, ms) == ["c15 history", "c15 why at risk", "c15 draft"]
    assert at_repeats("compare c15 with c16", [M(8, 11, "C000015"), M(17, 20, "C000016")]) == [
        "compare c15 with c16"
    ]
    assert at_repeats("c15 c15", [M(0, 3, "C000015"), M(4, 7, "C000015")]) == ["c15 c15"]


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("c20 profile hist nbp", ["c20 profile", "hist", "nbp"]),
        ("tickets at risk list ltv cac 40", ["tickets", "at risk list", "ltv cac 40"]),
        ("kpis who to contact overview", ["kpis", "who to contact", "overview"]),
        ("brief segment change tickets", ["brief", "segment change", "tickets"]),
        ("kpis tickets", None),  # two: the ask-split model weighs their one gap
        ("explain why my best customer might churn", None),  # a sentence
        ("at risk customers sorted by value this week", None),  # words that name no ask
        ("kpis, tickets and the brief", None),  # separators: split there
    ],
)
def test_named_asks_typed_one_after_another_are_cut_before_each_keyword(text, asks):
    assert keyword_chain(text) == asks


def test_numbered_asks_and_run_on_questions():
    assert enumerated("a) the brief b) tickets c) kpis") == "the brief ; tickets ; kpis"
    assert enumerated("1. kpis 2. who to contact") == "kpis ; who to contact"
    assert enumerated("draft for my top 5) now") == "draft for my top 5) now"  # no list
    assert enumerated("b) kpis c) brief") == "b) kpis c) brief"  # does not count up from a
    assert run_on("customer #9 what they bought", "what to recommend")
    assert run_on("whats c13 churn chance", "what should i sell her next")
    assert not run_on("c12", "what did they buy")  # one question about c12
    assert not run_on("kpis", "who to contact")  # "who" may be relative: the model weighs it
