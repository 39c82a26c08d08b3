"""Checks every draft must pass before it enters the approval queue (issue 6, part 3).

`check_draft` returns flags with a severity: `block` keeps a draft out of the pending queue
(it is stored as `blocked` with the reasons), `review` is shown to the person approving.

Rules (DESIGN.md, "Invariants"; the consent-fairness-safeguards playbook):
- no false urgency or pressure tactics: "only today", "last chance", "act now", countdowns,
  "hurry", fake scarcity ("only 3 left", "selling fast") and the like;
- no sensitive attributes (health, religion, ethnicity, pregnancy, sexual orientation, age,
  disability, financial hardship): marketing must not infer or mention them;
- discounts within the cap: every "N%" in the subject, body or offer, and the offer percent;
  a money-off amount above cap × the customer's average order value is blocked, and one with
  no known order value goes to review;
- consent for the channel (email and personal email: accepts_email; SMS: accepts_sms): a
  customer's no blocks, unknown blocks unless the merchant confirmed the channel
  (agent.consent), and a draft on a confirmation is flagged for review saying so;
- every placeholder filled once rendered with the customer's row (no `{...}` left);
- no instruction-like text, which can only come from store data (notes, ticket text, product
  names) copied into the message: store data is data, never instructions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["block", "review"]


@dataclass(frozen=True)
class Flag:
    rule: str
    severity: Severity
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.message}"


URGENCY = [
    r"only today", r"today only", r"last chance", r"act (now|fast|quickly)", r"\bhurry\b",
    r"countdown", r"ends (tonight|today|soon|at midnight|in \d+)", r"expires? (tonight|today|soon|in \d+)",
    r"limited[- ]time", r"while (supplies|stocks?) last", r"only \d+ left", r"(just|only) a few left",
    r"selling (out|fast)", r"almost (gone|sold out)", r"don'?t miss (out|this)", r"final hours?",
    r"before it'?s too late", r"now or never", r"\burgent", r"\d+\s*(hours?|hrs|minutes?|mins)\s+(left|to go|remaining)",
    r"once in a lifetime", r"(won'?t|will not) last", r"last (day|call)", r"running out of time",
    r"(offer|deal|sale) (ends|expires)",
]
SENSITIVE = [
    r"\bhealth\b", r"\bmedical\b", r"\billness\b", r"\bdiagnos", r"\bdisease", r"\bmedication",
    r"\btherapy\b", r"\bdepress", r"\banxiety\b", r"\bpregnan",
    # named conditions: a message must not reveal that the shop inferred one
    r"\bdiabet", r"\bcancer\b", r"\bhiv\b", r"\baids\b", r"\basthma\b", r"\bobes",
    r"\bweight loss\b", r"\bmiscarr", r"\bfertility\b", r"\bivf\b", r"\bmenopaus",
    r"\bdementia\b", r"\balzheimer", r"\badhd\b", r"\bautis", r"\beating disorder",
    r"\baddict", r"\brehab\b", r"\bchemo", r"\bexpecting a baby", r"\bmaternity\b",
    r"\breligio", r"\bchurch\b", r"\bmosque\b", r"\bsynagogue\b", r"\bfaith\b", r"\bethnic",
    r"\brace\b", r"\bracial\b", r"\bnationality\b", r"\bimmigra", r"sexual orientation", r"\bgay\b",
    r"\blesbian\b", r"\blgbt", r"\btransgender\b", r"\byour age\b", r"\bat your age\b",
    r"\b(elderly|seniors?|retiree|retired)\b", r"\b\d{2}(th)? birthday\b", r"\bdisab", r"\bwheelchair\b",
    r"financial (hardship|difficult|trouble|struggle)", r"\bdebt\b", r"\bbankrupt", r"\bunemploy",
    r"\blow[- ]income\b", r"can'?t afford", r"tight budget", r"money (is )?tight", r"\bbenefits claim",
]
INSTRUCTION = [
    r"ignore (all |any )?(the )?(previous|prior|above|earlier) (instructions|messages|prompts?)",
    r"disregard (all |any )?(the )?(previous|prior|above|your) ", r"system prompt",
    r"you are (now )?(an? |the )?(ai|assistant|language model|chatbot)", r"as an ai\b",
    r"^\s*(system|assistant|user)\s*:", r"<\s*/?\s*(script|system|instructions?)\b",
    r"\bapprove (this|all|every) (draft|message)", r"(begin|end) (of )?instructions",
    r"(do not|don'?t) (tell|inform) the (merchant|reviewer|customer)", r"\bjailbreak",
    r"(send|export) (this|it) (immediately|now|without)", r"override (the )?(rules|guardrails|policy)",
]
PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)
MONEY = re.compile(r"(?:[$£€]\s?(\d+(?:[.,]\d+)?)|(\d+(?:[.,]\d+)?)\s?(?:[$£€]|dollars|euros?|pounds|usd|eur|gbp)\b)"
                   r"(?=[^.\n]{0,30}\b(off|discount|credit|voucher|coupon|back|saving|cheaper)\b)", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\{[^{}\n]{0,60}\}")
CONSENT = {"email": "accepts_email", "personal_email": "accepts_email", "sms": "accepts_sms"}
SMS_LIMIT = 320


def _get(obj: Any, name: str, default=None):
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def truthy(value) -> bool:
    """Whether a consent value says yes (unknown and no are both not yes; see agent.consent)."""
    from agent.consent import state

    return state(value) is True


def _hits(patterns: list[str], text: str) -> list[str]:
    found = []
    for pat in patterns:
        m = re.search(pat, text, re.IGNORECASE | re.MULTILINE)
        if m:
            found.append(m.group(0).strip())
    return found


def check_text(subject: str, body: str, *, offer: str = "", offer_percent: float | None = None,
               discount_cap: float, order_value: float | None = None) -> list[Flag]:
    """The content rules (urgency, sensitive attributes, discount cap, instruction-like text)
    on a subject, body and offer; used for new drafts and for a person's edits."""
    text = f"{subject}\n{body}\n{offer}"
    flags: list[Flag] = []
    urgent = _hits(URGENCY, text)
    if urgent:
        flags.append(Flag("urgency", "block", "false urgency or pressure: " + ", ".join(repr(u) for u in urgent)))
    sensitive = _hits(SENSITIVE, text)
    if sensitive:
        flags.append(Flag("sensitive", "block",
                          "mentions a sensitive attribute: " + ", ".join(repr(s) for s in sensitive)))
    cap_pct = discount_cap * 100
    pcts = [float(m.group(1).replace(",", ".")) for m in PERCENT.finditer(text)]
    if offer_percent is not None and offer_percent > 0:
        pcts.append(offer_percent * 100 if offer_percent <= 1 else offer_percent)
    over = sorted({p for p in pcts if p > cap_pct + 1e-9})
    if over:
        flags.append(Flag("discount_cap", "block",
                          f"discount {', '.join(f'{p:g}%' for p in over)} is above the cap of {cap_pct:g}%"))
    for m in MONEY.finditer(text):
        amount = float((m.group(1) or m.group(2)).replace(",", "."))
        if order_value and order_value > 0:
            if amount > discount_cap * order_value + 1e-9:
                flags.append(Flag("discount_cap", "block",
                                  f"{m.group(0).strip()} off is {amount / order_value:.0%} of the average "
                                  f"order ({order_value:,.2f}), above the cap of {cap_pct:g}%"))
        else:
            flags.append(Flag("discount_cap", "review",
                              f"money-off offer {m.group(0).strip()!r}: check it against the "
                              f"{cap_pct:g}% cap"))
    instr = _hits(INSTRUCTION, text)
    if instr:
        flags.append(Flag("instruction_text", "block",
                          "instruction-like text, probably copied from store data: "
                          + ", ".join(repr(i) for i in instr)))
    return flags


def check_draft(draft: Any, *, customer_row: Mapping | None, settings,
                order_value: float | None = None, confirmed=None) -> list[Flag]:
    """Every rule on one draft (a Draft, a dict or any object with channel, subject, body,
    offer, offer_percent). `customer_row` is the customer's row from the customers table
    (consent flags, first_name); None means there is no record, so consent is unknown.
    Consent (agent.consent): yes passes, no blocks, unknown blocks unless the merchant
    confirmed that channel (`confirmed`: {kind: Confirmation} or the kinds), and then the
    draft carries a review flag naming the confirmation."""
    from agent.consent import CHANNEL_KIND, allows, confirmed_kinds
    from agent.drafts import render

    channel = _get(draft, "channel", "") or ""
    subject = _get(draft, "subject", "") or ""
    body = _get(draft, "body", "") or ""
    flags = check_text(subject, body, offer=_get(draft, "offer", "") or "",
                       offer_percent=_get(draft, "offer_percent"),
                       discount_cap=float(settings.discount_cap), order_value=order_value)
    need = CONSENT.get(channel)
    value = None if customer_row is None or need is None else customer_row.get(need)
    ok, basis, why = allows(value, channel, confirmed)
    if not ok:
        if customer_row is None and need is not None:
            why = "no customer record: consent unknown"
        flags.append(Flag("consent", "block", why))
    elif basis == "confirmation":
        words = confirmed_kinds(confirmed)[CHANNEL_KIND[channel]]
        flags.append(Flag("consent", "review", f"consent from the merchant's confirmation ({words}); "
                                               "the customer's own data does not say"))
    subj, text = render(draft, customer_row or {})
    left = sorted(set(PLACEHOLDER.findall(subj + "\n" + text)))
    if left:
        flags.append(Flag("placeholder", "block", "placeholders left after rendering: " + ", ".join(left)))
    if channel == "sms" and len(body) > SMS_LIMIT:
        flags.append(Flag("length", "review", f"SMS of {len(body)} characters (over {SMS_LIMIT})"))
    if not _get(draft, "playbook_id"):
        flags.append(Flag("citation", "review", "no playbook cited"))
    if not _get(draft, "reason"):
        flags.append(Flag("reason", "review", "no reason given for contacting this customer"))
    return flags


CONTENT_RULES = ("urgency", "sensitive", "discount_cap", "instruction_text", "placeholder")


def check_edit(subject: str, body: str, *, offer: str, offer_percent: float | None,
               previous_flags: list[dict], discount_cap: float) -> list[dict]:
    """The flags of a draft after a person's edit: the content rules on the new text (and no
    placeholder other than the personal ones), plus the earlier flags that text cannot change
    (consent, citation)."""
    from agent.drafts import PERSONAL_FIELDS

    flags = check_text(subject, body, offer=offer, offer_percent=offer_percent,
                       discount_cap=discount_cap)
    unknown = sorted({m for m in re.findall(r"\{([^{}\n]{0,60})\}", subject + body)
                      if m not in PERSONAL_FIELDS})
    if unknown:
        flags.append(Flag("placeholder", "block", "unknown placeholders: " + ", ".join(unknown)))
    kept = [f for f in previous_flags if f["rule"] not in CONTENT_RULES]
    return [f.to_dict() for f in flags] + kept


def blocking(flags: list[Flag]) -> list[Flag]:
    return [f for f in flags if f.severity == "block"]
