"""Offline mode: a deterministic planner over the assistant's tools (no language model).

A request is mapped to an intent by cosine similarity between its embedding (the local
MiniLM, `knowledge.default_embedder`) and a few example phrasings per intent
(`agent.prompts.INTENT_EXAMPLES`), nudged by keywords; entities (customer ids, money,
counts, segments, churn reasons, CLV tiers, periods) are extracted with patterns. The intent
picks the tool calls; the answer is a template filled only from the tool results, and says
that no language model is in use. What it cannot map, it says so and lists what it can do.
A request it must not carry out (send without approval, target by a sensitive attribute, false
urgency, a discount over the cap, personal data, another store) is refused first, with what it
can do instead (`agent.policy`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np

from agent.agent_tools import SEGMENTS, Answer, ToolRunner
from agent import policy
from agent import prompts as T
from agent.prompts import CAPABILITIES, INTENT_EXAMPLES, OFFLINE_NOTE

MIN_SCORE = 0.38
CUSTOMER_INTENTS = ("why_customer", "customer_profile", "cross_sell")
KEYWORDS = {  # intent -> (pattern, boost): cues that survive paraphrase
    "ltv_cac": (r"\bltv\b|\bcac\b|acqui[sz]|lifetime value (?:to|vs|versus)", 0.25),
    "cross_sell": (r"cross.?sell|upsell|up.?sell|recommend|next best|what else", 0.2),
    "draft": (r"\bdraft|\bwrite\b|\bcompose|win.?back (?:e.?mail|message)|\bemails? (?:to|for)\b", 0.2),
    "brief": (r"\bbrie?f\b|\bweekly (?:report|summary)|\bsummar", 0.2),
    "playbook": (r"playbook|\bplays?\b|tactic|strateg|what works|how do i (?:win|keep|save)", 0.2),
    "why_customer": (r"\bwhy\b", 0.15),
    "segment_change": (r"chang|migrat|moved?|grow|grew|shr[iu]nk|compared|since last|last week", 0.12),
    "clv_by_segment": (r"\bclv\b|lifetime value|by segment|per segment|each segment", 0.1),
    "contact_week": (r"contact|reach out|this week|outreach", 0.08),
    "at_risk_list": (r"about to (?:churn|leave)|likely to (?:churn|leave)|at.?risk|churning", 0.08),
}
SEGMENT_WORDS = {s.lower(): s for s in SEGMENTS if s not in ("At risk", "New", "Lost")}
SEGMENT_WORDS.update({"champion": "Champions", "loyal customers": "Loyal",
                      "potential loyalists": "Potential loyalist", "cant lose them": "Can't lose them",
                      "can't lose": "Can't lose them", "cannot lose": "Can't lose them",
                      "new customers": "New", "new segment": "New", "lost customers": "Lost",
                      "lost segment": "Lost", "at risk segment": "At risk",
                      "at-risk segment": "At risk", "hibernating": "Hibernating", "sleeping": "About to sleep"})
REASON_WORDS = [
    (r"price|discount|coupon|deal.?hunt|bargain|sale", "price_sensitivity"),
    (r"service|support|complain|ticket|late deliver|angry", "service_problems"),
    (r"quality|return|refund|faulty|broken|defect", "quality_returns"),
    (r"engag|not opening|stopped opening|inactive|disengag", "fading_engagement"),
    (r"overdue|late for|cycle|replenish|running low", "cycle_overdue"),
    (r"one.?time|single purchase|only bought once|first.?time|second purchase", "one_time_buyer"),
]
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "twenty": 20}
CURRENCY = {"$": "USD", "£": "GBP", "€": "EUR", "dollar": "USD", "buck": "USD", "usd": "USD",
            "pound": "GBP", "gbp": "GBP", "quid": "GBP", "euro": "EUR", "eur": "EUR"}
_CACHE: dict[int, tuple[list[str], np.ndarray]] = {}


@dataclass
class Entities:
    customer_ids: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    """Names several of the store's customers share (no id can be chosen)."""
    money: float | None = None
    count: int | None = None
    segment: str | None = None
    reason: str | None = None
    tier: str | None = None
    days_back: int = 7


def extract(session, text: str) -> Entities:
    """Customer ids, money, counts, segment, churn reason, CLV tier and period in a request.
    Customers are only those the store has (`StoreSession.find_customers`: its ids, its
    customers' names); what is written as an id but is not one of the store's is unknown."""
    e, low = Entities(), text.lower()
    for m in session.find_customers(text):
        if m.customer_id is not None:
            if m.customer_id not in e.customer_ids:
                e.customer_ids.append(m.customer_id)
        elif m.note:
            e.ambiguous.append(m.text)
        else:
            e.unknown_ids.append(m.text)
    money = (re.search(r"[$£€]\s?(\d[\d,]*(?:\.\d+)?)", text)
             or re.search(r"(\d[\d,]*(?:\.\d+)?)\s?(?:dollars?|bucks|usd|pounds?|gbp|quid|euros?|eur)\b", low)
             or re.search(r"\bcac\s*(?:of|is|=|at|:|was|costs?)?\s*(\d[\d,]*(?:\.\d+)?)", low)
             or re.search(r"(\d[\d,]*(?:\.\d+)?)\s*(?:cac|acquisition cost)", low))
    if money:
        e.money = float(money.group(1).replace(",", ""))
    count = re.search(r"\btop\s+(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\b", low) or re.search(
        r"\b(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\s+(?:[\w-]+\s+){0,2}customers\b", low)
    if count:
        e.count = int(NUMBER_WORDS.get(count.group(1), count.group(1) if count.group(1).isdigit() else 0)) or None
    e.segment = _segment(low)
    e.reason = next((r for pat, r in REASON_WORDS if re.search(pat, low)), None)
    if re.search(r"high.?(?:value|clv|tier|spend)|\bvip|best customers|most valuable", low):
        e.tier = "high"
    elif re.search(r"low.?(?:value|clv|tier)", low):
        e.tier = "low"
    if re.search(r"last month|30 days|four weeks", low):
        e.days_back = 30
    elif m := re.search(r"(?:last|past)\s+(\d{1,3})\s+days", low):
        e.days_back = max(1, min(365, int(m.group(1))))
    return e


def _segment(low: str) -> str | None:
    flat = re.sub(r"[^a-z' -]", " ", low)
    for word, seg in sorted(SEGMENT_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{re.escape(word)}s?\b", flat):
            return seg
    for tok in flat.split():  # typos: "champoins", "hibernatng"
        close = difflib.get_close_matches(tok, ["champions", "hibernating", "loyalists"], n=1, cutoff=0.8)
        if close:
            return {"champions": "Champions", "hibernating": "Hibernating",
                    "loyalists": "Potential loyalist"}[close[0]]
    return None


class Planner:
    """Maps a request to tools and answers from templates. Remembers the last customer."""

    def __init__(self, session, runner: ToolRunner | None = None, embedder=None) -> None:
        self.session = session
        self.runner = runner or ToolRunner(session)
        self._embedder = embedder
        self.last_customer: str | None = None

    @property
    def embedder(self):
        return self._embedder or self.session.embedder

    def _examples(self) -> tuple[list[str], np.ndarray]:
        key = id(self.embedder)
        if key not in _CACHE:
            labels = [i for i, xs in INTENT_EXAMPLES.items() for _ in xs]
            texts = [x for xs in INTENT_EXAMPLES.values() for x in xs]
            _CACHE[key] = (labels, _unit(np.asarray(self.embedder.embed(texts), dtype=float)))
        return _CACHE[key]

    def classify(self, text: str, ents: Entities | None = None) -> tuple[str | None, dict[str, float]]:
        """The intent (None when nothing fits well enough) and every intent's score."""
        ents = ents or extract(self.session, text)
        labels, mat = self._examples()
        norm = _normalised(self.session, text)
        q = _unit(np.asarray(self.embedder.embed([norm]), dtype=float))[0]
        sims = mat @ q
        scores: dict[str, float] = {}
        for lab, s in zip(labels, sims):
            scores[lab] = max(scores.get(lab, -1.0), float(s))
        low = text.lower()
        for intent, (pat, boost) in KEYWORDS.items():
            if re.search(pat, low):
                scores[intent] += boost
        has_id = bool(ents.customer_ids or ents.unknown_ids or ents.ambiguous)
        for intent in CUSTOMER_INTENTS:
            scores[intent] += 0.1 if has_id else -0.05
        if ents.money is not None:
            scores["ltv_cac"] += 0.1
        best = max(scores, key=scores.get)
        return (best if scores[best] >= MIN_SCORE else None), scores

    def ask(self, message: str) -> Answer:
        start = len(self.runner.trace)
        refused = policy.refusal(message, discount_cap=self._discount_cap())
        if refused is not None:
            text = self._refuse(refused)
            return Answer(f"{text}\n\n{OFFLINE_NOTE}", self.runner.trace[start:], "offline")
        ents = extract(self.session, message)
        intent, _ = self.classify(message, ents)
        if ents.customer_ids:
            self.last_customer = ents.customer_ids[0]
        elif not ents.unknown_ids and self.last_customer and re.search(
                r"\b(this|that|the same|him|her|them) customer\b|\b(him|her)\b", message.lower()):
            ents.customer_ids = [self.last_customer]
        text = self._answer(intent, ents, message)
        return Answer(f"{text}\n\n{OFFLINE_NOTE}", self.runner.trace[start:], "offline")

    def _answer(self, intent: str | None, e: Entities, message: str) -> str:
        if intent is None or intent == "help":
            lead = ("I can't map that request to one of my tools." if intent is None
                    else "Here is what I can do.")
            return lead + " Try asking about:\n" + "\n".join(f"- {c}" for c in CAPABILITIES)
        if intent in CUSTOMER_INTENTS + ("draft",) and not e.customer_ids and e.ambiguous:
            return (f"Several customers of this store are called {e.ambiguous[0]}: which one? Give "
                    f"their customer id, e.g. '{message.rstrip('?.! ')}' with the id instead of the name.")
        if intent in CUSTOMER_INTENTS and not e.customer_ids:
            if e.unknown_ids:
                return self._call_error("explain_customer", {"customer_id": e.unknown_ids[0]})
            return ("Which customer? Give their id, e.g. "
                    f"'{message.rstrip('?.! ')} {self.session.by_id.index[0]}'.")
        return getattr(self, f"_{intent}")(e, message)

    def _discount_cap(self) -> float:
        from agent.settings import Settings

        return float((self.session.settings or Settings()).discount_cap)

    def _refuse(self, r: policy.Refusal) -> str:
        rules = self._call("outreach_rules") if r.kind == "discount" else None
        return policy.refusal_text(r, rules, store=f"the store in {self.session.store_dir.name!r}")

    def _call_error(self, tool: str, args: dict) -> str:
        res = self.runner.call(tool, args)
        return res if isinstance(res, str) else "Unexpected result."

    # --- one handler per intent: tool calls, then a template over their results -----------------

    def _call(self, tool: str, **args):
        return self.runner.call(tool, {k: v for k, v in args.items() if v is not None})

    def _contact_week(self, e: Entities, _: str) -> str:
        res = self._call("prioritise_interventions", limit=e.count or 10)
        if isinstance(res, str):  # prioritisation not built: rank by value at stake instead
            return T.at_risk(self._call("at_risk_customers", limit=e.count or 10), this_week=True)
        return T.plan(res)

    def _at_risk_list(self, e: Entities, _: str) -> str:
        return T.at_risk(self._call("at_risk_customers", segment=e.segment, clv_tier=e.tier,
                                    reason=e.reason, limit=e.count or 10))

    def _why_customer(self, e: Entities, _: str) -> str:
        return "\n\n".join(T.why(self._call("explain_customer", customer_id=c)) for c in e.customer_ids[:3])

    def _customer_profile(self, e: Entities, _: str) -> str:
        return "\n\n".join(T.profile(self._call("explain_customer", customer_id=c))
                           for c in e.customer_ids[:3])

    def _cross_sell(self, e: Entities, _: str) -> str:
        return "\n\n".join(T.cross_sell(self._call("next_best_product", customer_id=c))
                           for c in e.customer_ids[:3])

    def _clv_by_segment(self, e: Entities, _: str) -> str:
        return T.segments(self._call("segment_summary"))

    def _segment_change(self, e: Entities, _: str) -> str:
        return T.migration(self._call("segment_summary"),
                           self._call("segment_migration", days_back=e.days_back), e.segment)

    def _ltv_cac(self, e: Entities, _: str) -> str:
        if e.money is None:
            return ("What is your customer acquisition cost? Ask e.g. 'What is my LTV:CAC at $40 "
                    "CAC?' and I will compare it with your customers' lifetime value.")
        return T.ltv_cac(self._call("clv_ltv_cac", cac=e.money, segment=e.segment))

    def _playbook(self, e: Entities, message: str) -> str:
        res = self._call("search_playbooks", query=message[:300], segment=e.segment, reason=e.reason)
        if not isinstance(res, str) and not res["playbooks"] and (e.segment or e.reason):
            res = self._call("search_playbooks", query=message[:300])
        return T.playbooks(res)

    def _brief(self, e: Entities, _: str) -> str:
        res = self._call("weekly_brief", cac=e.money)
        if not isinstance(res, str):
            return T.brief(res)
        return T.mini_brief(self._call("store_overview"), self._call("segment_migration"),
                            self._call("at_risk_customers", limit=5))

    def _draft(self, e: Entities, _: str) -> str:
        if e.unknown_ids and not e.customer_ids:
            return self._call_error("explain_customer", {"customer_id": e.unknown_ids[0]})
        if e.customer_ids:
            return T.queued(self._call("queue_drafts", customer_ids=e.customer_ids[:10]))
        return T.queued(self._call("queue_drafts", top_n=e.count or 3))

    def _overview(self, e: Entities, _: str) -> str:
        return T.overview(self._call("store_overview"))


def _normalised(session, text: str) -> str:
    """The request with each customer it names written as C000123, so that the intent examples
    (which use that id) match whatever the store's ids or names look like."""
    out, last = [], 0
    for m in session.find_customers(text):
        out += [text[last:m.start], "C000123"]
        last = m.end
    return "".join(out) + text[last:]


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.clip(np.linalg.norm(m, axis=-1, keepdims=True), 1e-12, None)
