"""What the assistant will not do, and the outreach rules it can quote (DESIGN.md, "Invariants").

Two halves, one per mode:

- Offline, `refusal(message, discount_cap=...)` recognises a merchant request the assistant must
  not carry out and names its kind: sending or approving without a person ("send"), selecting or
  messaging customers by a sensitive attribute ("sensitive"), false urgency or pressure
  ("urgency"), a discount above the cap ("discount"), customers' personal data ("personal_data")
  and another store's customers ("other_store"). The planner answers those with
  `refusal_text`: what it will not do, why, and what it can do instead. Patterns, not a model:
  they are tested against every ordinary phrasing the planner understands
  (`evals/data/planner_phrasings.yaml`) and every hostile one in `evals/data/agent_scenarios.yaml`.
- In LLM mode nothing here filters the request: the model reads it, and whatever the model asks
  for, the tools hold the line (no tool sends, approves, takes a discount or message text,
  filters by a sensitive attribute or returns personal data; drafts pass `agent.outreach.guardrails`;
  only a person approves). `outreach_rules` is a tool the model can call to read the rules and
  caps it must state; the offline planner quotes the discount cap from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.outreach.wordlists import PERCENT, URGENCY
from agent.toolbox.tools import NoArgs, tool

_I = re.IGNORECASE

SEND_NOW = re.compile(
    r"without (?:my |your |a |any |the )?(?:approv|review|sign.?off|check|asking|a person|me looking)"
    r"|skip(?:ping)? (?:the )?(?:approv|review|queue)|bypass|auto.?approv"
    r"|\bapprove (?:them|it|all|these|those|every(?:thing| draft)?|the drafts?)\b(?! for me to)"
    r"|no need (?:for|to) (?:approv|review)|don'?t (?:wait for|ask (?:me|for)) (?:approv|review|me)"
    r"|\bsend\b[^.?!]{0,60}\b(?:now|immediately|right away|straight away|automatically|directly|tonight|today)\b"
    r"|\b(?:blast|mass.?email|email|text|sms)\b (?:them|everyone|all of them|every customer) (?:now|immediately|right away)",
    _I,
)
"""A request to send now, approve, or skip the approval: refused even as a question ("should I
just send them now?")."""
SEND = re.compile(
    SEND_NOW.pattern
    + r"|\bsend (?:it|them|these|those|the (?:drafts?|emails?|messages?))\b(?: out)?",
    _I,
)
"""A request to send or approve: `SEND_NOW`, or "send them" (not refused in an advice question:
"what's the best time of day to send it?")."""
SENSITIVE = re.compile(
    r"\breligio|\bchristian|\bmuslim|\bjewish|\bjews\b|\bhindu|\bbuddhist|\bsikh|\bcatholic|\bchurch"
    r"|\bmosque|\bsynagogue|\bethnic|\brace\b|\bracial|\bskin colou?r|\bnationality|\bimmigra"
    r"|\bhispanic|\blatin[oa]s?\b|\basians?\b|\barabs?\b"
    r"|\bhealth (?:condition|status|issue|problem|data|record)|\bmedical|\billness|\bdisease|\bdiabet"
    r"|\bcancer\b|\bpregnan|\bdisab|\bmental health|\bdepress|\bchronic(?:ally)? ill"
    r"|sexual orientation|\bgay\b|\blesbian|\blgbt|\btransgender|\bqueer\b|\bsexuality"
    r"|\belderly|\bseniors?\b|\bpensioners?\b|\bolder customers|\bold people|\b(?:by|their|on|based on) age\b"
    r"|\bage group|\bover (?:60|65|70|75)s?\b"
    r"|\blow.?income|\bpoor (?:customers|people)|\bin debt\b|\bfinancial (?:hardship|difficult|trouble)"
    r"|\bunemploy|\bon benefits\b",
    _I,
)
TARGETING = re.compile(
    r"\b(?:target|segment|filter|select|find|list|pick|identify|exclude|only|who are|which|based on"
    r"|by their|by|send|email|draft|write|campaign|promot|offer|market|guess|infer|work out|figure out"
    r"|customers?|shoppers?|buyers?|people)",
    _I,
)
URGENCY_WORDS = re.compile(
    r"\burgen(?:cy|t)\b|\bpressure\b|\bscarcity\b|\bfomo\b|fear of missing|\bscare them|\brush them"
    r"|(?:fake|false|made.?up|invent(?:ed)?|artificial) (?:deadline|urgency|scarcity|countdown|stock)"
    r"|\bcountdown|make (?:it|them) (?:feel|panic|think)",
    _I,
)
MESSAGING = re.compile(
    r"\b(?:draft|write|compose|e-?mails?|message|subject|text|sms|tell them|say|copy"
    r"|campaign|send|claim|pretend|add|put|include|push)\b",
    _I,
)
DISCOUNT_CONTEXT = re.compile(
    r"\b(?:off|discount|coupon|promo|code|voucher|offer|sale|markdown|rebate)\b", _I
)
PERSONAL = re.compile(
    r"e-?mail address|phone numbers?|mobile numbers?|telephone|home address|postal address|street address"
    r"|\baddress(?:es)?\b|contact (?:details|info)|personal (?:data|details|info)|\bpii\b|date of birth"
    r"|credit card|card numbers?|passwords?"
    r"|\b(?:their|customers?'?|clients?'?|shoppers?'?|all|every|the|his|her|those|these) (?:customer |client )?"
    r"e-?mails?\b(?! (?:to|for|them|about)\b)"
    r"(?!(?:\s+(?:and|&)\s+(?:sms|texts?))?\s+(?:(?:we|i|you)(?:'ve| have)?\s+)?sent\b)"
    r"|\b(?:customers?'?|clients?'?|shoppers?'?|buyers?'?|their|his|her) (?:full |first |last |real )?names?\b"
    r"|\b(?:full|first|last|real) names?\b|\bsurnames?\b|\bnames? (?:and|&) e-?mails?|\bnames? of (?:the |my |all )?customers",
    _I,
)
RETRIEVE = re.compile(
    r"\b(?:give|show|list|export|dump|download|send me|share|reveal|tell me|get|find|look ?up"
    r"|what(?:'s| is| are)|print|copy|extract|pull|leak|hand over|paste|need|want)\b",
    _I,
)
ADVICE = re.compile(
    r"(?:^|[,.;:!?]\s*)(?:should|shall|is|are|would|does|do (?:i|we)|how (?:much|big|far)|what do you think"
    r"|what(?:'s|s| is) (?:a |the )?(?:right|best|ideal|typical|usual|normal|good))\b"
    r"(?![^?]*\b(?:you (?:draft|write|send|give|make|create)|for me)\b)",
    _I,
)
"""A question asking for advice ("should I send her 20% off?", "is a countdown timer ok?"): the
planner answers it from the playbooks instead of refusing it as a request."""
OTHER_STORE = re.compile(
    r"\b(?:other|another|second|different|sister|partner|competitor'?s?) "
    r"(?:store|shop|brand)s?\b|\b(?:store|shop) (?-i:[B-Z2-9])\b|\bstore's customers of\b",
    _I,
)


@dataclass(frozen=True)
class Refusal:
    kind: str
    """send | sensitive | urgency | discount | personal_data | other_store"""
    detail: str = ""


def _over_cap(message: str, discount_cap: float) -> list[float]:
    if not DISCOUNT_CONTEXT.search(message) and not re.search(r"\bfree\b", message, _I):
        return []
    pcts = [float(m.group(1).replace(",", ".")) for m in PERCENT.finditer(message)]
    return [p for p in pcts if p > discount_cap * 100 + 1e-9]


def refusal(message: str, *, discount_cap: float) -> Refusal | None:
    """The kind of request the assistant must refuse, or None for an ordinary one."""
    text = " ".join(str(message or "").split())
    if PERSONAL.search(text) and (RETRIEVE.search(text) or OTHER_STORE.search(text)):
        return Refusal("personal_data", "other store" if OTHER_STORE.search(text) else "")
    if OTHER_STORE.search(text):
        return Refusal("other_store")
    sensitive = SENSITIVE.search(text)
    if sensitive and TARGETING.search(text):
        return Refusal("sensitive", sensitive.group(0))
    if not ADVICE.search(text):  # an advice question goes to the playbooks instead
        over = _over_cap(text, discount_cap)
        if over:
            return Refusal("discount", f"{max(over):g}")
        urgent = URGENCY_WORDS.search(text) or any(re.search(p, text, _I) for p in URGENCY)
        if urgent and MESSAGING.search(text):
            return Refusal("urgency")
    if SEND.search(text):
        return Refusal("send")
    return None


DRAFT_INSTEAD = (
    "I can put drafts in the approval queue instead, e.g. 'draft win-back emails for my "
    "top 3 at-risk customers'; a person reviews them (`retention approvals list`, "
    "`approve --by NAME`) and exports the approved ones for your email platform."
)


def refusal_text(r: Refusal, rules: dict | str | None = None, *, store: str = "this store") -> str:
    """The answer to a refused request: what, why, and what the assistant can do instead.
    `rules` is the `outreach_rules` tool result (the discount answer quotes the cap from it)."""
    if r.kind == "send":
        return (
            "I can't send messages or approve drafts: this software never sends anything, and "
            "only a person moves a draft to approved. " + DRAFT_INSTEAD
        )
    if r.kind == "sensitive":
        return (
            "I won't select, segment or message customers by a sensitive attribute "
            f"({r.detail!r}: health, religion, ethnicity, sexual orientation, age, disability or "
            "financial hardship). The store data doesn't hold these and marketing must not infer "
            "or use them. I can target by behaviour instead: churn reason, RFM segment or CLV "
            "tier, e.g. 'which playbook for price-sensitive churners?' or 'show my at-risk "
            "Champions'."
        )
    if r.kind == "urgency":
        return (
            "I won't invent urgency or pressure (fake deadlines, countdowns, 'only a few left', "
            "'last chance'): it misleads customers and every draft is checked for it, so such a "
            "draft is blocked. I can draft a calm, honest message instead, e.g. 'draft a "
            "win-back email for my top 3 at-risk customers'."
        )
    if r.kind == "discount":
        cap = rules.get("discount_cap_percent") if isinstance(rules, dict) else None
        cap_text = f"{cap:g}%" if isinstance(cap, (int, float)) else "the cap in your settings"
        return (
            f"I won't draft a {r.detail}% discount: the discount cap is {cap_text} "
            "(outreach_rules), and a draft above it is blocked. Discount plays offer at most the "
            "cap, and only where the customer's churn reason is price. " + DRAFT_INSTEAD
        )
    if r.kind == "personal_data":
        extra = (
            f" I also only see {store}: another store's customers are not in this session."
            if r.detail
            else ""
        )
        return (
            "I don't hand out customers' personal data (names, emails, phone numbers, "
            "addresses): I work with customer ids and features only, and personal fields are "
            "filled in locally when a person exports approved drafts (`retention approvals "
            "export`)." + extra + " I can tell you about a customer by id, e.g. 'tell me about "
            "customer C000123'."
        )
    if r.kind == "other_store":
        return (
            f"This session reads one store, {store}; I can't see another store's customers. "
            "Open that store with `--store DIR` and ask there."
        )
    raise ValueError(f"unknown refusal kind {r.kind!r}")


@tool(NoArgs)
def outreach_rules(session, a: NoArgs) -> dict:
    """The rules every outreach follows in this workspace, to quote them rather than guess:
    the discount cap, the per-customer contact cap and weekly contact budget, the control-group
    share, channel consent, and that only a person approves drafts and nothing is sent. No
    tool takes a discount, message text or a sensitive attribute from the model."""
    s = session.settings
    return {
        "discount_cap": float(s.discount_cap),
        "discount_cap_percent": round(float(s.discount_cap) * 100, 2),
        "contact_cap_days": int(s.contact_cap_days),
        "weekly_contact_budget": int(s.weekly_contact_budget),
        "control_share": float(s.control_share),
        "approval": "drafts wait in the approval queue; only a person approves, edits or rejects them",
        "sending": "nothing is sent by this software: approved drafts are exported as CSV",
        "consent": "email needs accepts_email and SMS needs accepts_sms; others are not drafted",
        "not_allowed": [
            "false urgency or scarcity",
            "targeting by health, religion, ethnicity, "
            "sexual orientation, age, disability or financial hardship",
            "discounts above the cap",
            "customers' personal data in answers",
        ],
    }
