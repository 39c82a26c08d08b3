"""The offline planner: requests (typos, paraphrases) map to the right intent, entities and
tools on the real local embedding model; answers use tool numbers and say no LLM is in use."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import yaml

from tests.builders import build_demo
from tests.fakes import HashEmbedder

CASES = yaml.safe_load(resources.files("evals").joinpath("data/planner_phrasings.yaml").read_text())
HELDOUT = yaml.safe_load(
    resources.files("evals").joinpath("data/planner_phrasings_heldout.yaml").read_text()
)
HELDOUT_2 = resources.files("evals").joinpath("data/planner_phrasings_heldout_2.yaml")
NO_LLM = "no language model is in use"
HELDOUT_FLOOR = 0.90
"""The routing accuracy on held-out 1 (seen: its misses were looked at on 2026-12-02, so it guards
against a regression and is no clean measure)."""
HELDOUT_2_FLOOR = 0.90
"""The floor on held-out 2, written blind by someone else. The target is 95% (`retention eval`
reports every split's figure); a floor catches a regression without tuning on the split."""
BLIND_FLOOR = 0.85
"""The floor on held-out 3 and 4, each written blind with a dev split by a writer who had not
read the planner: the clean measures (87.9% and 88.8% with the intent model, 82.6% and 81.6%
without it, on 2026-12-02)."""
HELDOUT_7_FLOOR = 0.80
"""Held-out 7's floor: its writer wrote mostly several asks in one and one-ask look-alikes (79.2%
before dev 6 was used, 86.3% after, 2026-12-04); held-out 8's, an eighth writer's many merchants
(82.1% before dev 7 was used, 85.2% after, 2026-12-05); held-out 9's, a ninth writer's
dictation and shorthand (89.0% before dev 8 was used, 89.6% after, 2026-12-07); held-out 10's,
a tenth writer's shop team in a work chat (88.5% before dev 9 was used, 2026-12-07)."""


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, monkeypatch_module):
    from agent.assistant.chat import Assistant
    from agent.assistant.session import StoreSession
    from knowledge import KnowledgeBase, default_embedder

    store, ws = build_demo(tmp_path_factory)
    kb = KnowledgeBase(ws / "chroma-hash", embedder=HashEmbedder())
    session = StoreSession(store, ws, kb=kb, embedder=default_embedder())
    a = Assistant(session)
    assert a.mode == "offline"
    return a


@pytest.fixture
def own_queue(assistant, tmp_path):
    """The module's assistant on a copy of its workspace without the approval queue: a test that
    drafts or measures a campaign starts from an empty queue, so drafts queued by the phrasings
    before it cannot use up the week's contacts."""
    import shutil

    from agent.assistant.chat import Assistant
    from agent.assistant.session import StoreSession

    s = assistant.session
    ws = tmp_path / "ws"
    shutil.copytree(
        s.workspace.root, ws, ignore=shutil.ignore_patterns("approvals.sqlite*", "chroma*")
    )
    return Assistant(StoreSession(s.store_dir, ws, kb=s.kb, embedder=s.embedder))


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    mp.delenv("RETENTION_MODEL", raising=False)
    yield mp
    mp.undo()


def test_at_least_150_phrasings_with_a_held_out_split():
    assert len(CASES) + len(HELDOUT) >= 150 and len(HELDOUT) >= 60
    dev = {c["text"].lower() for c in CASES}
    assert not dev & {c["text"].lower() for c in HELDOUT}
    from agent.assistant.prompts import INTENT_EXAMPLES

    examples = {x.lower() for xs in INTENT_EXAMPLES.values() for x in xs}
    assert not examples & {c["text"].lower() for c in HELDOUT}
    intents = {
        i
        for c in CASES + HELDOUT
        for i in (c["intent"] if isinstance(c["intent"], list) else [c["intent"]])
    }
    assert set(INTENT_EXAMPLES) <= intents  # every intent, so every tool the planner calls


def test_no_blind_phrasing_leaked_into_what_the_planner_is_tuned_on():
    """Held-out 3 and 4 were written blind and are never tuned on: none of held-out 3's sentences
    is in the dev splits or the planner's intent examples, none of held-out 4's is in dev 3 and
    none of held-out 5's in dev 4 and none of held-out 6's in dev 5, each written with it; none
    of held-out 7's, 8's or 9's in any dev split (their writers' sentences already in an
    earlier split were dropped from their pools).
    (Held-out 2 shares 14 short sentences, such as "aov this week vs last", held-out 4 shares 8
    and held-out 5 10 ("campaign results"), with the earlier dev splits and the examples,
    written apart by different people, so their figures are slightly optimistic.)"""
    from agent.assistant.prompts import INTENT_EXAMPLES

    def texts(name):
        return {
            c["text"].strip().lower()
            for c in yaml.safe_load(resources.files("evals").joinpath(f"data/{name}").read_text())
        }

    tuned = (
        texts("planner_phrasings.yaml")
        | texts("planner_phrasings_dev_2.yaml")
        | texts("planner_phrasings_dev_3.yaml")
        | {x.strip().lower() for xs in INTENT_EXAMPLES.values() for x in xs}
    )
    assert not tuned & texts("planner_phrasings_heldout_3.yaml")
    assert not texts("planner_phrasings_dev_3.yaml") & texts("planner_phrasings_heldout_4.yaml")
    assert len(tuned & texts("planner_phrasings_heldout_4.yaml")) <= 8
    assert not texts("planner_phrasings_dev_4.yaml") & texts("planner_phrasings_heldout_5.yaml")
    assert len(tuned & texts("planner_phrasings_heldout_5.yaml")) <= 10
    assert not texts("planner_phrasings_dev_5.yaml") & texts("planner_phrasings_heldout_6.yaml")
    every_dev = tuned | {
        t
        for n in ("dev_4", "dev_5", "dev_6", "dev_7", "dev_8", "dev_9")
        for t in texts(f"planner_phrasings_{n}.yaml")
    }
    assert not every_dev & texts("planner_phrasings_heldout_7.yaml")
    assert not every_dev & texts("planner_phrasings_heldout_8.yaml")
    assert not every_dev & texts("planner_phrasings_heldout_9.yaml")
    assert not every_dev & texts("planner_phrasings_heldout_10.yaml")


def test_the_shipped_intent_model_is_trained_on_the_dev_phrasings_of_today():
    """The intent model (`agent/data/intent_model.npz`) records a digest of what it learned from;
    a dev phrasing or intent example added since without retraining (`python -m
    evals.quality.train_router`) fails here. It learns from the dev splits only."""
    from agent.assistant.intent_model import IntentModel, training_digest
    from evals.quality.train_router import TRAIN_SPLITS, training_pairs

    model = IntentModel.load()
    assert model is not None and model.embedder == "all-minilm-l6-v2"
    assert model.digest == training_digest(training_pairs()), (
        "retrain: python -m evals.quality.train_router"
    )
    assert not any(s.startswith("held") for s in TRAIN_SPLITS)


def test_the_intent_model_is_not_used_with_another_embedder(assistant):
    """Trained on MiniLM vectors, the model means nothing on another embedder's: the planner then
    routes by its rules and examples alone, and still answers."""
    from agent.assistant.planner import Planner
    from agent.assistant.router import _intent_model

    other = Planner(assistant.session, embedder=HashEmbedder())
    assert not _intent_model().fits(other.embedder)
    intent, scores = other.classify("what's my repeat purchase rate?")
    assert set(scores) >= {"kpis", "overview"} and intent in (None, *scores)


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:40] for c in CASES])
def test_phrasing_maps_to_intent_entities_and_tools(assistant, case):
    from agent.assistant.entities import extract

    session = assistant.session
    ents = extract(session, case["text"])
    intents = [r[0] for r in assistant.agent.route(case["text"])]
    assert intents == (case["intent"] if isinstance(case["intent"], list) else [case["intent"]])
    for key, attr in (
        ("segment", "segment"),
        ("reason", "reason"),
        ("money", "money"),
        ("count", "count"),
        ("tier", "tier"),
    ):
        if key in case:
            assert getattr(ents, attr) == case[key], key
    if "customer" in case:
        assert case["customer"] in ents.customer_ids
    if (
        case["intent"] == "brief"
        and case["text"] != CASES[[c["intent"] for c in CASES].index("brief")]["text"]
    ):
        return  # the brief is slow to build: answer it once
    answer = assistant.ask(case["text"])
    assert [s.tool for s in answer.trace] == case["tools"]
    assert NO_LLM in answer.text
    if case.get("customer") and case["intent"] != "draft":
        assert case["customer"] in answer.text
    if case["intent"] is None:
        assert "can't map" in answer.text and "who to contact this week" in answer.text


def test_answers_use_tool_numbers(assistant):
    a = assistant.ask("what is my LTV:CAC at $40 CAC?")
    res = a.trace[0].result
    assert f"{res['ltv_to_cac']:.2f}" in a.text and f"{res['max_cac_for_3x']:,.2f}" in a.text
    a = assistant.ask("how many champions do I have and how did that change?")
    summary, mig = a.trace[0].result, a.trace[1].result
    champs = next(s for s in summary["segments"] if s["segment"] == "Champions")
    before = next(s for s in mig["segments"] if s["segment"] == "Champions")["before"]
    assert f"{champs['customers']:,} Champions" in a.text and f"there were {before:,}" in a.text
    # every number in the answer appears in the tool results (as written or formatted)
    blob = " ".join(str(v) for s in a.trace for v in _flatten(s.result))
    for num in re.findall(r"\d[\d,]*(?:\.\d+)?", a.text.split("(Offline")[0]):
        plain = num.replace(",", "")
        assert plain in blob or num in a.text.split("as of")[1] or plain.startswith("2026"), num


def _flatten(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _flatten(v)
    elif isinstance(x, list):
        for v in x:
            yield from _flatten(v)
    else:
        yield x
        if isinstance(x, float):
            yield f"{x:.0%}" if x <= 1 else x
            yield round(x * 100)


def test_unknown_customer_and_missing_id(assistant):
    a = assistant.ask("why is customer C999999 at risk?")
    assert "Error: no customer" in a.text and NO_LLM in a.text
    a = assistant.ask("what should I cross-sell to this customer?")
    assert a.text.startswith("Which customer?") or "C0" in a.text


def test_follow_up_remembers_the_customer(assistant):
    assistant.ask("tell me about C000045")
    a = assistant.ask("what should I cross-sell to this customer?")
    assert [s.tool for s in a.trace] == ["next_best_product"]
    assert "C000045" in a.text


# --- issue 16: the questions a merchant asks, answered by the tool for them ----------------------


def test_held_out_phrasings_reach_the_right_tools(assistant):
    from evals.quality.agent import routing_eval

    r = routing_eval(assistant, HELDOUT)
    assert r["phrasings"] >= 60
    assert r["accuracy"] >= HELDOUT_FLOOR, r["misses"]


@pytest.mark.parametrize(
    "split,floor",
    [
        ("held-out 2", HELDOUT_2_FLOOR),
        ("held-out 3", BLIND_FLOOR),
        ("held-out 4", BLIND_FLOOR),
        ("held-out 5", BLIND_FLOOR),
        ("held-out 6", BLIND_FLOOR),
        ("held-out 7", HELDOUT_7_FLOOR),
        ("held-out 8", HELDOUT_7_FLOOR),
        ("held-out 9", HELDOUT_7_FLOOR),
        ("held-out 10", HELDOUT_7_FLOOR),
    ],
)
def test_blind_held_out_phrasings_reach_the_right_tools(assistant, split, floor):
    """The blind split: only its accuracy is reported, never which phrasings miss, so that it
    stays a clean measure (read nothing else of it to tune on)."""
    from evals.quality.agent import PHRASING_SPLITS, load_phrasings, routing_eval

    if not HELDOUT_2.is_file() or split not in PHRASING_SPLITS:
        pytest.skip(f"{split} is not written yet")
    r = routing_eval(assistant, load_phrasings(split))
    line = f"{split}: {r['right']}/{r['phrasings']} ({r['accuracy']:.1%}) reach the right tools (floor {floor:.0%})"
    assert r["phrasings"] and r["accuracy"] >= floor, line


@pytest.mark.parametrize(
    "text",
    [
        "who's my #1 customer by value",
        "my top 1 customer",
        "our no. 1 buyer",
        "the number 1 spender",
        "who is my number one customer",
    ],
)
def test_a_rank_is_not_a_customer_id(assistant, text):
    """ "#1", "top 1", "no. 1", "number one" name a place in a ranking, not customer C000001."""
    from agent.assistant.entities import extract

    e = extract(assistant.session, text)
    assert not (e.customer_ids or e.unknown_ids) and e.rank == "value"
    assert [s.tool for s in assistant.ask(text).trace] == ["list_customers"]


@pytest.mark.parametrize(
    "text,cid",
    [
        ("tell me about customer #1", "C000001"),
        ("why is customer no. 12 at risk", "C000012"),
        ("pull up #45", "C000045"),
    ],
)
def test_an_id_after_customer_or_hash_is_still_an_id(assistant, text, cid):
    from agent.assistant.entities import extract

    assert extract(assistant.session, text).customer_ids == [cid]


def _drafts(assistant) -> int:
    from agent.approvals.queue import open_queue

    return len(open_queue(assistant.session.workspace.root).list_drafts())


def test_best_customer_at_risk_is_explained(assistant):
    """ "why is my best customer at risk?" names one customer and explains them (it listed ten)."""
    from tools.insights.kpis import at_risk_mask

    a = assistant.ask("why is my best customer at risk?")
    assert [s.tool for s in a.trace] == ["list_customers", "explain_customer"]
    s = assistant.session.scores
    risky = s.loc[at_risk_mask(s)].sort_values(
        ["predicted_clv", "customer_id"], ascending=[False, True]
    )
    best = risky.iloc[0]["customer_id"]
    assert a.trace[1].args == {"customer_id": best}
    assert f"{best} is at risk" in a.text and "Top 10" not in a.text
    assert all(d["words"] in a.text for d in a.trace[1].result["drivers"])


def test_campaign_question_reports_campaign_results(own_queue):
    """ "how did last week's campaign do?" gives treated vs control with intervals (it gave segments)."""
    assistant = own_queue
    import dataclasses

    import pandas as pd

    from agent.approvals.queue import open_queue
    from agent.toolbox.outreach import week_plan

    session = assistant.session
    plan = week_plan(session, campaign_id="planner-campaign-16")
    plan = dataclasses.replace(plan, week_of=str((session.as_of - pd.Timedelta(days=60)).date()))
    if not plan.control_ids:  # earlier tests of this module may have used up the comparable pool
        chosen = {r["customer_id"] for r in plan.chosen}
        spare = [c for c in session.scores["customer_id"].astype(str) if c not in chosen]
        plan = dataclasses.replace(plan, control_ids=spare[: max(len(chosen), 20)])
    open_queue(session.workspace.root).add_campaign(plan, [], store_path=session.store_dir)
    a = assistant.ask("how did last week's campaign do?")
    assert [s.tool for s in a.trace] == ["campaign_results"]
    c = a.trace[0].result["campaigns"][0]
    assert c["campaign_id"] == "planner-campaign-16"
    assert f"{c['treated']:,} treated" in a.text and f"{c['control']:,} held out" in a.text
    assert f"save rate {c['save_rate'] * 100:+.1f} points" in a.text and "95% interval" in a.text
    assert "incremental revenue" in a.text and "segment" not in a.text.lower()


def test_repeat_rate_question_gets_the_repeat_rate_only(assistant):
    a = assistant.ask("what's my repeat purchase rate?")
    assert [s.tool for s in a.trace] == ["store_kpis"]
    rate = a.trace[0].result["kpis"]["repeat_rate"]
    body = a.text.split("(Offline")[0]
    assert "repeat-purchase rate" in body and f"{rate:.0%}" in body
    assert (
        "revenue" not in body and "Predicted value" not in body and "customers at risk" not in body
    )


def test_win_back_email_request_drafts_win_back_emails(own_queue):
    """ "draft a win-back email" drafted replenishment messages, one by SMS."""
    assistant = own_queue
    from agent.toolbox.tools import PLAY_KINDS

    a = assistant.ask("draft a win-back email")
    step = a.trace[-1]
    assert (
        step.tool == "queue_drafts"
        and step.args.get("play") == "win_back"
        and step.args.get("channel") == "email"
    )
    drafts = step.result["drafts"]
    assert drafts and all(d["channel"] in ("email", "personal_email") for d in drafts)
    titles = {
        pb.title for pb in assistant.session.kb.playbooks() if pb.id in PLAY_KINDS["win_back"]
    }
    assert all(d["playbook_title"] in titles for d in drafts)
    assert "by sms" not in a.text and "win-back email" in a.text


def test_support_ticket_question_reads_tickets_and_writes_nothing(assistant):
    """ "what are customers saying in support tickets?" queued three drafts."""
    before = _drafts(assistant)
    a = assistant.ask("what are customers saying in support tickets?")
    assert [s.tool for s in a.trace] == ["support_tickets"]
    assert _drafts(assistant) == before
    assert (
        f"{a.trace[0].result['tickets']:,} support tickets" in a.text
        and "quoted store data" in a.text
    )


def test_read_only_questions_never_queue_drafts(assistant):
    before = _drafts(assistant)
    for text in [
        c["text"]
        for c in CASES
        if c["intent"] not in ("draft", "brief")
        and "draft" not in (c["intent"] if isinstance(c["intent"], list) else [c["intent"]])
    ][:60]:
        assert "queue_drafts" not in [s.tool for s in assistant.ask(text).trace], text
    assert _drafts(assistant) == before


def test_a_miss_on_a_read_only_question_never_routes_to_a_write(assistant):
    """Whatever a question is routed to (even wrongly), without an ask to write it never drafts."""
    reads = [
        c["text"]
        for c in CASES + HELDOUT
        if "draft" not in (c["intent"] if isinstance(c["intent"], list) else [c["intent"]])
    ]
    assert reads and all("draft" not in [r[0] for r in assistant.agent.route(t)] for t in reads)


def test_top_at_risk_drafts_are_the_listed_ones_or_say_why_not(assistant):
    """ "who is most at risk" and "draft ... top 3 at-risk" named different customers, without
    saying that the first three have no consent."""
    listed = assistant.ask("who is most at risk")
    rows = listed.trace[0].result["customers"][:3]
    top3 = [r["customer_id"] for r in rows]
    for r in rows:
        if "yes" not in r["consent"].values():
            assert f"{r['customer_id']} —" in listed.text and "no consent on file" in listed.text
    a = assistant.ask("draft win-back emails for my top 3 at-risk customers")
    assert [s.tool for s in a.trace] == ["at_risk_customers", "queue_drafts"]
    assert [c["customer_id"] for c in a.trace[0].result["customers"]] == top3  # the same three
    q = a.trace[1].result
    drafted = {d["customer_id"] for d in q["drafts"]}
    assert f"top 3 at-risk customers by value at stake: {', '.join(top3)}" in a.text
    for cid in top3:  # each of the three is drafted, or named with why not
        assert cid in drafted or f"{cid}: not drafted (" in a.text, cid
    for r in rows:
        if "yes" not in r["consent"].values():
            assert r["customer_id"] not in drafted
            assert re.search(rf"{r['customer_id']}: not drafted \([^)]*consent", a.text), a.text


def test_value_at_stake_is_one_number_in_every_answer(assistant):
    """Value at risk was 61,205 in one answer and 48,118 in the next."""
    o = assistant.ask("how is my store doing?")
    r = assistant.ask("show me my at-risk customers")
    stake = o.trace[0].result["at_risk_value_at_stake"]
    assert stake == r.trace[0].result["matching_value_at_stake"]
    assert (
        f"{stake:,.2f} of value at stake" in o.text and f"{stake:,.2f} of value at stake" in r.text
    )
    assert o.trace[0].result["at_risk_customers"] == r.trace[0].result["matching_customers"]


def test_unmapped_request_gets_what_it_can_do(assistant):
    a = assistant.ask("book me a table for two tonight")
    assert a.trace == [] and "can't map" in a.text
    assert "campaign" in a.text and "support tickets" in a.text


@pytest.mark.parametrize(
    "text,tools",
    [
        ("is it wise to offer free shipping to lapsed customers", ["search_playbooks"]),
        ("should we text our at-risk regulars or email them", ["search_playbooks"]),
        ("how often should I follow up with deal hunters", ["search_playbooks"]),
        ("show me the orders from C000045", ["customer_history"]),
        ("what did C000123 order last time", ["customer_history"]),
        ("what lift did the win-back flow give us", ["campaign_results"]),
        ("how many shoppers did our reactivation emails bring back", ["campaign_results"]),
        ("what's the payback on a new customer at $35", ["clv_ltv_cac"]),
        ("any good add-ons for C000045?", ["next_best_product"]),
        ("who do I need to act on over the next few days", ["prioritise_interventions"]),
        ("top 15 shoppers by churn risk", ["list_customers"]),
        ("everybody in the About to sleep group", ["list_customers"]),
    ],
)
def test_a_class_of_phrasings_reaches_its_tool(assistant, text, tools):
    """Advice questions go to the playbooks whatever customers or discounts they name; orders are
    the history; lift and "how many did it bring back" are campaign results; payback is LTV:CAC;
    "by churn risk" ranks a list; the members of a segment are a list, whatever its name says."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


@pytest.mark.parametrize(
    "text",
    [
        "send a 15% coupon to all my champions right now",
        "sync my at-risk list to klaviyo",
        "blast everyone a reminder about the sale",
        "what are you good for",
    ],
)
def test_send_export_and_what_can_you_do_call_no_tool(assistant, text):
    """Sending, blasting and exporting to another platform get the can't-do answer; "what are
    you good for" gets what it can do; neither calls a tool."""
    a = assistant.ask(text)
    assert a.trace == []
    assert "can't send" in a.text or "what I can do" in a.text


@pytest.mark.parametrize(
    "text,tools",
    [
        (
            "list the at-risk customers, then write emails for the top 4",
            ["at_risk_customers", "queue_drafts"],
        ),
        (
            "show the CLV per segment; which segments grew since last week",
            ["segment_summary", "segment_migration"],
        ),
        (
            "give me the store KPIs and the latest campaign results",
            ["store_kpis", "campaign_results"],
        ),
        (
            "prepare win-back emails for my top 4 at-risk customers so I can review them",
            ["at_risk_customers", "queue_drafts"],
        ),
        ("Why might C000045 leave? They were a regular all last year.", ["explain_customer"]),
    ],
)
def test_several_asks_call_each_tool_once(assistant, text, tools):
    """Asks whose tools overlap call each tool once (the segment summary is part of the change,
    the at-risk list is what the drafts are for); "X and the Y" is two asks; a sentence of
    context is no ask; "so I can review them" is no request to skip approval."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


def test_the_shipped_ask_split_model_is_trained_on_the_dev_phrasings_of_today():
    """The ask-split model (`agent/data/ask_split.json`) records a digest of the dev phrasings it
    learned from; retrain with `python -m evals.quality.train_router` after changing them."""
    from agent.assistant.asks import FEATURES, SplitModel
    from evals.quality.train_router import split_digest

    model = SplitModel.load()
    assert model is not None and model.embedder == "all-minilm-l6-v2"
    assert len(model.coef) == len(FEATURES)
    assert model.digest == split_digest(), "retrain: python -m evals.quality.train_router"


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        ("revenue by segment and AOV", ["segment_summary", "store_kpis"]),
        ("overview, kpis", ["store_overview", "store_kpis"]),
        ("revenue this week and uplift from the campaign", ["store_kpis", "campaign_results"]),
        ("overview of my customers and what they're worth", ["store_overview"]),
        ("at risk customers in Champions and their churn reasons", ["at_risk_customers"]),
    ],
)
def test_a_learned_boundary_splits_joined_asks_and_keeps_one_ask_whole(assistant, text, tools):
    """Two asks joined by "and" or a comma with no question word between them are two asks when
    the split model (`agent.assistant.asks`) says the boundary separates them; an "and" inside
    one ask is no boundary."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        ("aov segment breakdown", ["store_kpis", "segment_summary"]),
        ("campaign results kpis", ["campaign_results", "store_kpis"]),
        ("C000045 history next best product", ["customer_history", "next_best_product"]),
        ("churn risk list for the champions segment", ["at_risk_customers"]),
        ("the weekly brief, not the segment summary", ["weekly_brief"]),
        ("customers at risk, ranked by value at stake", ["list_customers"]),
        ("explain C000045, then their orders", ["explain_customer", "customer_history"]),
        (
            "kpis, campaign results, and the weekly brief",
            ["store_kpis", "campaign_results", "weekly_brief"],
        ),
        (
            "why is C000045 at risk? is there a good playbook for customers like him?",
            ["explain_customer", "search_playbooks"],
        ),
        ("drafts for this week please", ["queue_drafts"]),
        ("hi! what can you do, and can you show me my Loyal customers", ["list_customers"]),
        ("write something to C000045 to bring them back", ["queue_drafts"]),
    ],
)
def test_asks_typed_one_after_another_are_split_and_qualifiers_are_not(assistant, text, tools):
    """Asks typed with no joining word ("aov segment breakdown") are split at a word gap; a gap
    after a preposition or article is none ("... list for the | champions segment"); a part that
    says what is not wanted ("not the segment summary") or only qualifies the ask before it
    ("ranked by value at stake") is no ask; a part about the customer named before it ("their
    orders") reads as that customer's, unless it reads far better on its own (advice about
    "customers like him"); a list of three asks is split at every comma; "drafts for" a group
    and "write something to" a customer ask to write; a greeting or "what can you do" before an
    ask leaves the ask."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        ("WEEKLY BRIEF, SEGMENT COUNTS", ["weekly_brief", "segment_summary"]),
        (
            "segment overview, tickets, ltv cac",
            ["segment_summary", "support_tickets", "clv_ltv_cac"],
        ),
        ("at risk list + my Champions customers", ["at_risk_customers", "list_customers"]),
        ("kpis, compared with last week", ["store_kpis"]),
        ("total customers and revenue so far", ["store_overview"]),
        ("profile of C000045 and the kpis", ["explain_customer", "store_kpis"]),
        ("what has C000045 bought, and their clv", ["customer_history", "explain_customer"]),
        (
            "pull the weekly brief and afterwards the segment summary",
            ["weekly_brief", "segment_summary"],
        ),
    ],
)
def test_named_asks_in_a_list_a_store_wide_ask_after_a_customer_and_afterwards(
    assistant, text, tools
):
    """Short pieces between commas or "+" that each name their ask are as many asks whatever
    the split model makes of one comma; "compared with last week" qualifies the ask before it;
    two pieces joined by "and" may be one ask. A store-wide ask after a customer's ("... and the
    kpis") is not about that customer, one that refers back ("their clv") is; "and
    afterwards" starts an ask."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        (
            "c20 history c20 why at risk c20 draft",
            ["customer_history", "explain_customer", "queue_drafts"],
        ),
        ("c88 upsell and c88 profile", ["next_best_product", "explain_customer"]),
        ("why is c40 at risk ltv cac", ["explain_customer", "clv_ltv_cac"]),
        ("who's at risk overall", ["at_risk_customers"]),
        ("Quem é o cliente 600?", ["explain_customer"]),
        ("Kunde 600 Profil bitte", ["explain_customer"]),
        ("who might leave us soon? sorted by value", ["at_risk_customers"]),
        ("how big are my Loyal customers, how much are they worth", ["segment_summary"]),
        (
            "top 5 at risk, why is the first one at risk, and draft win-backs for them",
            ["at_risk_customers", "explain_customer", "queue_drafts"],
        ),
        (
            "why is my best customer at risk, and what should I recommend to them",
            ["list_customers", "explain_customer", "next_best_product"],
        ),
    ],
)
def test_a_customer_named_again_a_named_ask_after_a_question_and_a_list_read_after(
    assistant, text, tools
):
    """Naming a customer again after words about them starts another ask; a short ask that
    names itself typed after a question ("... ltv cac") is one of its own; "overall", "sorted
    by value" or "how much are they worth" only qualifies, after a question mark too; an ask
    about "the first one" of the at-risk list keeps the list before the drafts for them;
    "recommend to them" asks for a product, not advice; "cliente 600", "Kunde 600" name a
    customer as "customer 600" does."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


def test_an_action_on_the_shop_is_said_to_be_no_tools_and_the_rest_is_answered(assistant):
    """ "refund order 8812 and show me at risk customers": the at-risk list, and a line saying
    that no tool refunds, instead of no answer at all."""
    a = assistant.ask("cancel order 1234 and give me the weekly brief")
    assert [s.tool for s in a.trace] == ["weekly_brief"]
    assert 'I can\'t map "cancel order 1234"' in a.text and "Weekly retention brief" in a.text
    b = assistant.ask("cancel order 12 what are my kpis")  # typed with no separator
    assert [s.tool for s in b.trace] == ["store_kpis"]
    assert 'I can\'t map "cancel order 12"' in b.text


@pytest.mark.parametrize(
    ("text", "tools", "refused"),
    [
        ("give me the store kpis and send them to my accountant", ["store_kpis"], "can't send"),
        (
            "email everyone on the at-risk list now, and show me the brief",
            ["weekly_brief"],
            "can't send",
        ),
        ("who's in Champions? then approve all the drafts", ["list_customers"], "can't send"),
        ("what's the capital of France, and also the brief", ["weekly_brief"], "can't map"),
        (
            "show me the overview, then edit the banner on my homepage",
            ["store_overview"],
            "can't map",
        ),
    ],
)
def test_a_send_or_an_ask_no_tool_answers_among_other_asks_leaves_the_others(
    assistant, text, tools, refused
):
    """A request to send, approve or act on something else, among asks a tool answers: the asks
    are answered and that part alone is refused, with what can be done instead (not the whole
    message refused, nor the part read as one of the asks)."""
    a = assistant.ask(text)
    assert [s.tool for s in a.trace] == tools
    assert refused in a.text


def test_drafts_asked_with_a_send_are_queued_and_nothing_is_approved(own_queue):
    """ "draft emails for ..., then send them right now": the drafts go to the approval queue,
    pending; the send is refused; no draft is approved or sent."""
    from agent.approvals.queue import open_queue

    a = own_queue.ask(
        "draft win-back emails for my top 3 at-risk customers, then send them right now"
    )
    assert [s.tool for s in a.trace] == ["at_risk_customers", "queue_drafts"]
    assert "can't send" in a.text
    drafts = open_queue(own_queue.session.workspace.root).list_drafts()
    assert drafts and {d.state for d in drafts} == {"pending"}


@pytest.mark.parametrize(
    "text", ["what's the best time of day to send it?", "when should I send them?"]
)
def test_an_advice_question_about_sending_goes_to_the_playbooks(assistant, text):
    """Asking when or whether to send is advice, not a request to send: the playbooks answer it."""
    assert [s.tool for s in assistant.ask(text).trace] == ["search_playbooks"]


def test_drafts_for_a_group_go_to_that_group(own_queue):
    """ "draft emails for my top 4 customers" drafts for the four customers the customer list
    ranks first by value, not for this week's plan; "list my Loyal customers, then draft emails
    for them" drafts for the customers just listed; each is drafted or named with why not."""
    a = own_queue.ask("write emails for my top 4 customers")
    assert [s.tool for s in a.trace] == ["list_customers", "queue_drafts"]
    top4 = [c["customer_id"] for c in a.trace[0].result["customers"]]
    assert len(top4) == 4 and a.trace[1].args["customer_ids"] == top4
    assert a.trace[0].args.get("sort_by") in (None, "predicted_clv")
    drafted = {d["customer_id"] for d in a.trace[1].result["drafts"]}
    for cid in top4:
        assert cid in drafted or f"{cid}: not drafted (" in a.text, a.text
    b = own_queue.ask("list my Loyal customers, then draft emails for them")
    assert [s.tool for s in b.trace] == ["list_customers", "queue_drafts"]
    loyal = [c["customer_id"] for c in b.trace[0].result["customers"]]
    assert b.trace[0].args["segment"] == "Loyal" and b.trace[1].args["customer_ids"] == loyal
    assert all(c["segment"] == "Loyal" for c in b.trace[0].result["customers"])
    c = own_queue.ask("my top 3 customers, and drafts for them")
    assert [s.tool for s in c.trace] == ["list_customers", "queue_drafts"]
    assert c.trace[1].args["customer_ids"] == [
        x["customer_id"] for x in c.trace[0].result["customers"]
    ]


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        ("we have 200 dollars, who should we contact", ["prioritise_interventions"]),
        ("our cac is 40, whats the ltv to cac", ["clv_ltv_cac"]),
        ("aov at risk", ["store_kpis", "at_risk_customers"]),
        ("top 10 customers at risk", ["at_risk_customers"]),
        ("brief who to contact", ["weekly_brief", "prioritise_interventions"]),
        ("segment sizes / campaign results", ["segment_summary", "campaign_results"]),
        ("at risk customers ranked by value", ["at_risk_customers"]),
        ("drafts for lapsed high value customers", ["at_risk_customers", "queue_drafts"]),
        ("drafts for #45", ["customer_history"]),
        (
            "list my top 10 customers by value, why is the first one at risk",
            ["list_customers", "explain_customer"],
        ),
        (
            "top 5 at risk customers and why are they at risk",
            ["at_risk_customers", "explain_customer"],
        ),
        (
            "why is my top customer at risk and what should I recommend them",
            ["list_customers", "explain_customer", "next_best_product"],
        ),
    ],
)
def test_figures_given_lists_referred_back_to_and_asks_typed_together(assistant, text, tools):
    """A part that only gives a figure ("we have 200 dollars", "our cac is 40") qualifies the
    ask beside it; "at risk" after an ask and "who to ..." open an ask of their own ("aov | at
    risk", "brief | who to contact"); a spaced "/" separates two asks; "drafts for" any group
    but a customer's id asks to write; the at-risk list sorted by value is the at-risk list
    (ranked by value at stake); "the first one" or "they" after a list is its first customer;
    "my top customer" is looked up once per message."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


def test_the_customer_a_message_looked_up_is_the_one_its_later_asks_act_on(own_queue):
    """ "who is my best customer and write them a thank you note": the draft is for the customer
    the list named first, with no second look-up; "the first one" after a list is explained."""
    a = own_queue.ask("who is my best customer and write them a thank you note")
    assert [s.tool for s in a.trace] == ["list_customers", "queue_drafts"]
    best = a.trace[0].result["customers"][0]["customer_id"]
    assert a.trace[1].args["customer_ids"] == [best]
    b = own_queue.ask("show my top 5 customers by value, why is the first one at risk")
    assert [s.tool for s in b.trace] == ["list_customers", "explain_customer"]
    first = b.trace[0].result["customers"][0]["customer_id"]
    assert b.trace[1].args["customer_id"] == first and first in b.text


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        (
            "um show me the brief um who is at risk uh what works for one time buyers",
            ["weekly_brief", "at_risk_customers", "search_playbooks"],
        ),
        ("c412 history nbp", ["customer_history", "next_best_product"]),
        ("show my Loyal regulars and the segment sizes", ["list_customers", "segment_summary"]),
        (
            "churn this week, at risk customers, and what to do",
            ["store_kpis", "at_risk_customers", "search_playbooks"],
        ),
        ("how does this work, and what to do", []),
        (
            "why is my best customer at risk what did they buy draft something",
            ["list_customers", "explain_customer", "customer_history", "queue_drafts"],
        ),
    ],
)
def test_dictation_shorthand_advice_after_asks_and_a_customer_named_by_rank(assistant, text, tools):
    """Spoken fillers are no part of an ask and a "who" after no people opens one; "nbp" is
    the next best product and "regulars" are customers; "what to do" after other asks is advice
    on them (alone, or after a help question, it is how to use the assistant); "they" after
    "my best customer" is that customer, whose history is read."""
    assert [s.tool for s in assistant.ask(text).trace] == tools


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        (
            "a) the kpis b) support tickets c) who to contact",
            ["store_kpis", "support_tickets", "prioritise_interventions"],
        ),
        (
            "who should I contact, and tell me if it's ok to text them on a Sunday",
            ["prioritise_interventions", "search_playbooks"],
        ),
        (
            "whats c88 churn chance what should i recommend to him",
            ["explain_customer", "next_best_product"],
        ),
        ("was the email play better than the sms play last month?", ["campaign_results"]),
        ("is email better than sms", ["search_playbooks"]),
        ("what's the best discount size for lapsed buyers, 10 or 25%?", ["search_playbooks"]),
        ("show the emails we sent c45", ["customer_history"]),
        ("give me the emails of my customers", []),
        ("cancel c90 last order what's his churn chance", ["explain_customer"]),
        ("purchases plus messages for cust 77", ["customer_history"]),
        ("kpis plus profile of c12", ["store_kpis", "explain_customer"]),
        ("I'm phoning customer 55 later, what should I offer her", ["next_best_product"]),
        (
            "why is my top customer at risk and what has she ordered",
            ["list_customers", "explain_customer", "customer_history"],
        ),
        ("our at-risk patrons, then the store overview", ["at_risk_customers", "store_overview"]),
        ("CAC is 30 dollars, what's my LTV ratio", ["clv_ltv_cac"]),
        ("c20 profile hist nbp", ["explain_customer", "customer_history", "next_best_product"]),
        ("the emails we sent c61 and why she is at risk", ["customer_history", "explain_customer"]),
        ("key metrics pls", ["store_kpis"]),
        (
            "show the VIPs at risk, tell me why c77 is on the list, and draft her an email",
            ["at_risk_customers", "explain_customer", "queue_drafts"],
        ),
        (
            "how often should i text subscribers who to contact this week",
            ["search_playbooks", "prioritise_interventions"],
        ),
        (
            "why is my top customer at risk and what should we do about that",
            ["list_customers", "explain_customer", "search_playbooks"],
        ),
        (
            "brief segment change tickets",
            ["weekly_brief", "segment_summary", "segment_migration", "support_tickets"],
        ),
        (
            "list the at-risk customers, tell me whether a win-back discount is wise, and draft"
            " offers for the top 3",
            ["at_risk_customers", "search_playbooks", "queue_drafts"],
        ),
    ],
)
def test_a_shop_team_s_chat_lists_indirect_questions_and_run_on_questions(assistant, text, tools):
    """Asks numbered "a) b) c)" are asks; "tell me if it's ok to ..." is advice; two questions
    typed with nothing between are two; a comparison of plays that ran is their results, of
    channels in general advice; a discount's size asked about is advice, not a draft over the
    cap; the emails we sent a customer are their history, not personal data; an order refunded
    or cancelled is refused alone; a word "plus" a customer's is weighed as "and"; what the
    merchant tells about themselves leads the ask; "she" after "my top customer" is them; a
    shop's word for customers ("patrons") is no ask of its own; "CAC is 30 dollars" is the
    figure for the ratio; asks typed one after another by name ("c20 profile hist nbp") are as
    many; advice asked after a customer's ask is general; an advice ask between a list and its
    drafts keeps the list first (the
    drafts look the list up again: each tool is compared at its first place)."""
    assert list(dict.fromkeys(s.tool for s in assistant.ask(text).trace)) == tools


@pytest.mark.parametrize(
    "text,tools",
    [
        (
            "c21 ka profile dikhao aur usko kya bechna chahiye",
            ["explain_customer", "next_best_product"],
        ),
        (
            "c48 ne kya kharida aur usko ab kya recommend karu",
            ["customer_history", "next_best_product"],
        ),
        ("c90 ke liye email likho", ["queue_drafts"]),
        ("is mahine ka revenue kitna hai", ["store_kpis"]),
        (
            "kitne customers at risk hain aur weekly brief bhi",
            ["at_risk_customers", "weekly_brief"],
        ),
        ("customers who bought the Hue lamp", ["list_customers"]),  # English: left as it is
    ],
)
def test_a_merchant_typing_hinglish_is_answered(assistant, text, tools):
    """Hindi and Urdu words typed in Latin letters ("dikhao": show, "kya bechna chahiye": what
    should I sell, "aur": and) are read in English when two different ones show that the
    message is Hinglish; a word of an English message that is also Hindi ("hue") is not."""
    assert list(dict.fromkeys(s.tool for s in assistant.ask(text).trace)) == tools


@pytest.mark.parametrize(
    "text,tools",
    [
        ("why is custoemr 12 at risk", ["explain_customer"]),
        ("Cutsomer 7 orders", ["customer_history"]),
        ("whats the churn reason for my top custoemr", ["list_customers", "explain_customer"]),
        ("show me my best cusotmer and what they bought", ["list_customers", "customer_history"]),
    ],
)
def test_customer_misspelt_is_still_the_customer(assistant, text, tools):
    """One typo in "customer" (a letter swapped, left out, added or changed) is still the
    word: "custoemr 12" names C000012, "my top custoemr" the top customer."""
    assert list(dict.fromkeys(s.tool for s in assistant.ask(text).trace)) == tools


def test_drafts_for_the_customers_who_consent_go_to_them(own_queue):
    """ "draft sms for everyone who opted in to sms": the customers the list names with SMS
    consent, each drafted or named with why not; not this week's plan."""
    a = own_queue.ask("pls draft sms for everyone who opted in to sms")
    assert [s.tool for s in a.trace] == ["list_customers", "queue_drafts"]
    listed = a.trace[0].result["customers"]
    assert a.trace[0].args["consent_channel"] == "sms" and listed
    assert all(c["consent"]["sms"] == "yes" for c in listed)
    assert a.trace[1].args["customer_ids"] == [c["customer_id"] for c in listed]


def test_the_split_model_is_not_used_with_another_embedder(assistant):
    """Its features are what the MiniLM router reads: with another embedder it is not used."""
    from agent.assistant.planner import Planner

    other = Planner(assistant.session, embedder=HashEmbedder())
    assert other._split_model() is None
    assert len(other.route("revenue by segment and AOV")) >= 1
