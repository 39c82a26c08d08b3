"""The nudges that move each intent's score after the embedding match (`agent.assistant.router.
Router.classify`): keywords that survive paraphrase, what the request names (a customer, money, a
KPI, a segment), whether it asks to write, and which list it asks for."""

from __future__ import annotations

import re

from agent.assistant.cues import (
    ADVICE_Q,
    CHANGE_CUE,
    HISTORY_CUE,
    KEYWORD_INTENT,
    KEYWORDS,
    LIST_ASK,
    MESSAGE_NOUN,
    OUT_OF_SCOPE,
    RANK_BY,
    REASON_FILTER,
    SEGMENT_MEMBERS,
    WHY,
    WRITE_ASK,
    WRITE_VERB,
)
from agent.assistant.entities import Entities
from agent.assistant.intent_model import WEIGHT

CUSTOMER_INTENTS = ("why_customer", "customer_profile", "cross_sell", "customer_history")
WRITES = ("draft",)
"""Intents that write (queue drafts): only when the request asks to write (`WRITE_VERB`)."""


def keyword_boosts(scores: dict[str, float], low: str) -> None:
    """Cues that survive paraphrase (`KEYWORDS`) add their boost to their intent; a campaign's
    effect asked for ("how many did last week's emails win back") is no segment change or KPI."""
    for intent, (pat, boost) in KEYWORDS.items():
        if re.search(pat, low):
            scores[KEYWORD_INTENT.get(intent, intent)] += boost
    if re.search(
        KEYWORDS["campaign_strong"][0], low
    ):  # "how many did last week's emails win back": a campaign's effect
        for intent in ("segment_change", "kpis"):
            scores[intent] -= 0.1


def entity_nudges(
    scores: dict[str, float], low: str, ents: Entities, *, has_id: bool, named: bool
) -> None:
    """What the request names: a customer (by id, name or rank), money, a KPI, a segment or
    churn reason used to pick customers out."""
    if named:  # "snapshot of customer C000859": about one customer
        for intent in ("overview", "clv_by_segment"):
            scores[intent] -= 0.1
    for intent in CUSTOMER_INTENTS:
        scores[intent] += 0.1 if has_id else -0.05
    if ents.rank and not has_id:  # "my best customer": a customer named by rank, not a list
        scores["why_customer" if WHY.search(low) else "customer_list"] += 0.15
        for intent in ("at_risk_list", "clv_by_segment"):
            scores[intent] -= 0.1
    if ents.money is not None:
        scores["ltv_cac"] += 0.1
    if ents.metrics and not has_id:  # a KPI named ("retention rate", "takings")
        scores["kpis"] += 0.08
    if ents.segment and not (has_id or ents.at_risk) and LIST_ASK.search(low):
        scores["customer_list"] += 0.1  # "list hibernating customers": the customers of a segment
    if ents.reason and not (has_id or ents.at_risk) and REASON_FILTER.search(low):
        scores["customer_list"] += 0.12  # "customers whose main churn driver is returns": a filter


def write_nudges(scores: dict[str, float], text: str, low: str) -> None:
    """Whether the request asks to write (only then a draft), acts on the shop itself (no tool
    does), or asks for what was sent before (the history)."""
    if not (WRITE_VERB.search(text) and MESSAGE_NOUN.search(text)):  # a question never writes,
        for intent in WRITES:  # whatever the intent model reads in it
            scores[intent] -= 0.5 + WEIGHT
    elif WRITE_ASK.search(text):  # "put together sms nudges for ...": an ask to write, whatever
        scores["draft"] += 0.1 + WEIGHT  # else the intent model reads in what it is for
    if OUT_OF_SCOPE.search(low):  # an action on the shop itself: not one of the tools
        for intent in scores:
            scores[intent] -= 0.25
    if not HISTORY_CUE.search(text):  # "tell me about C000123" is the profile, not the history
        scores["customer_history"] -= 0.15
    elif WRITE_ASK.search(
        text
    ):  # "make drafts for ...": an ask to write, not the drafts made so far
        scores["customer_history"] -= 0.2


def list_nudges(
    scores: dict[str, float], text: str, low: str, ents: Entities, *, has_id: bool
) -> None:
    """Which list, if any, the request asks for: a segment's members, a segment's change, a
    ranking, the at-risk list; or advice, which the playbooks answer."""
    if ents.segment and not (has_id or ents.at_risk) and SEGMENT_MEMBERS.search(low):
        scores["customer_list"] += 0.25  # "everyone in the Can't lose them segment": its members
        scores["at_risk_list"] -= 0.1
    if not re.search(
        KEYWORDS["segment_change"][0] + CHANGE_CUE, low
    ):  # "how big is the X segment": no change asked
        scores["segment_change"] -= 0.1
    if (
        RANK_BY.search(low)
        and not WRITE_VERB.search(text)
        # "at-risk customers sorted by value": the at-risk list, ranked by value at stake
        and not (ents.at_risk and ents.sort_by in (None, "value_at_stake"))
    ):  # "top 25 by churn probability": a ranked list, sorted by what it names
        scores["customer_list"] += 0.3 + WEIGHT
        scores["at_risk_list"] -= 0.1
    advice = bool(ADVICE_Q.search(low)) and not has_id and not WRITE_ASK.search(text)
    if advice:  # "should I ...", "is it ok to ...": the playbooks answer advice questions
        scores["playbook"] += 0.3
        if re.search(r"\b(?:send|contact|reach out|e-?mail|text|message)", low):
            scores["playbook"] += 0.5  # "when should I send them?": when and whether to send
        for intent in ("at_risk_list", "customer_list", "kpis", "tickets", "segment_change"):
            scores[intent] -= 0.25
    if ents.at_risk and not (
        advice or ents.rank or ents.consent or ents.sort_by or WRITE_VERB.search(text)
    ):
        scores["at_risk_list"] += 0.1  # a list of customers at risk is the at-risk list
        scores["customer_list"] -= 0.1
