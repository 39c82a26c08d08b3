"""Checks every draft must pass before it enters the approval queue.

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
  (agent.outreach.consent), and a draft on a confirmation is flagged for review saying so;
- every placeholder filled once rendered with the customer's row (no `{...}` left);
- no instruction-like text, which can only come from store data (notes, ticket text, product
  names) copied into the message: store data is data, never instructions;
- no web address (https://…, www.…, evil.example, "evil dot com") and no email address or phone
  number ("url", "contact"): the plan never puts one in a message (in a person's edit they are
  shown for review instead);
- no request for credentials or personal details ("reply with your password", "verify your
  account", card or bank details, one-time codes) ("credentials");
- no number dressed up to slip past these rules ("lookalike"): letters or other scripts' digits
  in a number ("9O% off", "９０%", "٩٠٪"), or a word mixing Latin and Cyrillic/Greek letters;
  numbers spelled out ("ninety off", "ninety percent", "half price") count like digits for the
  discount cap;
- for a draft, no offer the plan did not give ("offer_not_in_plan"): every percentage, money-off
  amount, "N off", code ("code EVIL90", "SAVE10-…" other than the draft's own), free shipping or
  store credit in the text is checked against the plan's offer, percent and code.

Every rule judges the text as the customer will read it: `check_draft` renders the draft with
the customer's row first, and the rules run on views of it that undo capitals, accents,
zero-width characters, look-alike letters and digits written as letters (agent.outreach.textfold).

Store text that a draft is built from (product names, order numbers: `check_store_text`) is
checked before it is used: no instruction-like text, web or email address, phone number,
request to the reader (reply, click, call, log in), credentials, offer (percentages, "N off",
codes, "discount", "free shipping"), look-alike number, price, and at most
`STORE_TEXT_LIMIT` characters (agent.outreach.scan.store_text_problems). Text that fails is left
out of the draft (agent.outreach.drafts), and the draft carries a flag saying which text and why.

The rules' phrasings are in agent.outreach.wordlists, the reading of a text (amounts, contacts,
codes, addresses) in agent.outreach.scan, and the rendering in agent.outreach.render.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from agent.outreach.render import render
from agent.outreach.scan import (
    Amount,
    Severity,
    Views,
    amounts,
    as_views,
    codes,
    contacts,
    defang,
    hits_of,
    store_text_problems,
    urls_in,
)
from agent.outreach.textfold import fold, mixed_script_words
from agent.outreach.wordlists import CREDENTIALS, INSTRUCTION, OFFER_WORDS, SENSITIVE, URGENCY
from tools.schema import PERSONAL_PLACEHOLDERS


@dataclass(frozen=True)
class Flag:
    rule: str
    severity: Severity
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.message}"


PLACEHOLDER = re.compile(r"\{[^{}\n]{0,60}\}")
CONSENT = {"email": "accepts_email", "personal_email": "accepts_email", "sms": "accepts_sms"}
SMS_LIMIT = 320


def _get(obj: Any, name: str, default=None):
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def truthy(value) -> bool:
    """Whether a consent value says yes (unknown and no are both not yes; see agent.outreach.consent)."""
    from agent.outreach.consent import state

    return state(value) is True


def check_text(
    subject: str,
    body: str,
    *,
    offer: str = "",
    offer_percent: float | None = None,
    discount_cap: float,
    order_value: float | None = None,
    offer_code: str | None = None,
    by_person: bool = False,
) -> list[Flag]:
    """The content rules (urgency, sensitive attributes, discount cap, instruction-like text,
    web and email addresses, phone numbers, credential requests, look-alike numbers) on a
    subject, body and offer; used for new drafts and for a person's edits. With `offer_code`
    (a draft's own code, "" for none), also the offers the plan did not give. `by_person`: the
    text is a person's edit, whose own links and contact details are shown for review rather
    than blocked."""
    text = f"{subject}\n{body}\n{offer}"
    v = Views.of(text)
    flags: list[Flag] = []
    urgent = hits_of(URGENCY, v)
    if urgent:
        flags.append(
            Flag(
                "urgency",
                "block",
                "false urgency or pressure: " + ", ".join(repr(u) for u in urgent),
            )
        )
    sensitive = hits_of(SENSITIVE, v)
    if sensitive:
        flags.append(
            Flag(
                "sensitive",
                "block",
                "mentions a sensitive attribute: " + ", ".join(repr(s) for s in sensitive),
            )
        )
    cap_pct = discount_cap * 100
    found = amounts(v)
    pcts = [(a.value, a.written) for a in found if a.kind in ("percent", "off")]
    if offer_percent is not None and offer_percent > 0:
        pcts.append((offer_percent * 100 if offer_percent <= 1 else offer_percent, ""))
    over = sorted({p for p, _ in pcts if p > cap_pct + 1e-9})
    if over:
        words = sorted(
            {w for p, w in pcts if p > cap_pct + 1e-9 and w and not re.fullmatch(r"[\d.,]+\s*%", w)}
        )
        written = f" (written {', '.join(repr(w) for w in words)})" if words else ""
        flags.append(
            Flag(
                "discount_cap",
                "block",
                f"discount {', '.join(f'{p:g}%' for p in over)} is above the cap of {cap_pct:g}%{written}",
            )
        )
    for a in found:
        if a.kind != "money":
            continue
        if order_value and order_value > 0:
            if a.value > discount_cap * order_value + 1e-9:
                flags.append(
                    Flag(
                        "discount_cap",
                        "block",
                        f"{a.written} is {a.value / order_value:.0%} of the average "
                        f"order ({order_value:,.2f}), above the cap of {cap_pct:g}%",
                    )
                )
        else:
            flags.append(
                Flag(
                    "discount_cap",
                    "review",
                    f"money-off offer {a.written!r}: check it against the {cap_pct:g}% cap",
                )
            )
    disguised = [a.written for a in found if a.disguised] + mixed_script_words(text)
    if disguised:
        flags.append(
            Flag(
                "lookalike",
                "block",
                "look-alike characters standing in for digits or letters: "
                + ", ".join(repr(d) for d in dict.fromkeys(disguised)),
            )
        )
    instr = hits_of(INSTRUCTION, v)
    if instr:
        flags.append(
            Flag(
                "instruction_text",
                "block",
                "instruction-like text, probably copied from store data: "
                + ", ".join(repr(i) for i in instr),
            )
        )
    urls = urls_in(v)
    if urls:
        flags.append(
            Flag(
                "url",
                "review" if by_person else "block",
                "a web address, which the plan never puts in a message: "
                + ", ".join(repr(defang(u)) for u in urls),
            )
        )
    contact = contacts(v)
    if contact:
        flags.append(
            Flag(
                "contact",
                "review" if by_person else "block",
                "an email address or phone number, which the plan never puts in "
                "a message: " + ", ".join(repr(defang(c)) for c in contact),
            )
        )
    creds = hits_of(CREDENTIALS, v)
    if creds:
        flags.append(
            Flag(
                "credentials",
                "block",
                "asks for credentials or personal details: " + ", ".join(repr(c) for c in creds),
            )
        )
    if offer_code is not None:
        flags += check_offers(
            v, offer=offer, offer_percent=offer_percent, offer_code=offer_code, found=found
        )
    return flags


def check_offers(
    text,
    *,
    offer: str,
    offer_percent: float | None,
    offer_code: str,
    found: list[Amount] | None = None,
) -> list[Flag]:
    """Offers in a draft's text that its plan did not give: a percentage or amount other than
    the plan's, a code other than the draft's own, free shipping, store credit or cash back
    that the plan's offer does not name."""
    v = as_views(text)
    found = amounts(v) if found is None else found
    plan_pct = 0.0
    if offer_percent:
        plan_pct = offer_percent * 100 if offer_percent <= 1 else float(offer_percent)

    def key(a: Amount) -> tuple[str, float]:
        return ("money" if a.kind == "money" else "percent", round(a.value, 2))

    plan_values = {key(a) for a in amounts(offer or "")}
    if plan_pct:
        plan_values.add(("percent", round(plan_pct, 2)))
    stray = [a.written for a in found if key(a) not in plan_values]
    own = (offer_code or "").upper()
    stray += [f"code {c}" for c in codes(v) if c.upper() != own]
    plan_text = fold(offer or "").text
    stray += [w for w in hits_of(OFFER_WORDS, v) if fold(w).text not in plan_text]
    if not stray:
        return []
    return [
        Flag(
            "offer_not_in_plan",
            "block",
            "offers the plan did not give: " + ", ".join(repr(s) for s in dict.fromkeys(stray)),
        )
    ]


def check_store_text(value: str, what: str = "product name") -> list[Flag]:
    """`store_text_problems` as flags on the draft the text was meant for, one per rule, saying
    that the text was left out of it."""
    problems = store_text_problems(value)
    if not problems:
        return []
    shown = value if len(value) <= 60 else value[:59] + "…"
    if any(rule in ("url", "contact") for rule, _, _ in problems):
        shown = defang(shown)
    by_rule: dict[str, tuple[Severity, list[str]]] = {}
    for rule, severity, why in problems:
        sev, whys = by_rule.setdefault(rule, (severity, []))
        whys.append(why)
        if severity == "block":
            by_rule[rule] = ("block", whys)
    return [
        Flag(
            rule,
            sev,
            f"the {what} {shown!r} from the store's data was left out of the draft: "
            f"it carries {' and '.join(whys)}",
        )
        for rule, (sev, whys) in by_rule.items()
    ]


def check_draft(
    draft: Any,
    *,
    customer_row: Mapping | None,
    settings,
    order_value: float | None = None,
    confirmed=None,
) -> list[Flag]:
    """Every rule on one draft (a Draft, a dict or any object with channel, subject, body,
    offer, offer_percent). `customer_row` is the customer's row from the customers table
    (consent flags, first_name); None means there is no record, so consent is unknown.
    Consent (agent.outreach.consent): yes passes, no blocks, unknown blocks unless the merchant
    confirmed that channel (`confirmed`: {kind: Confirmation} or the kinds), and then the
    draft carries a review flag naming the confirmation."""
    from agent.outreach.consent import CHANNEL_KIND, allows, confirmed_kinds

    channel = _get(draft, "channel", "") or ""
    body = _get(draft, "body", "") or ""
    subj, text = render(draft, customer_row or {})  # the text as the customer will read it
    flags = check_text(
        subj,
        text,
        offer=_get(draft, "offer", "") or "",
        offer_percent=_get(draft, "offer_percent"),
        discount_cap=float(settings.discount_cap),
        order_value=order_value,
        offer_code=_get(draft, "offer_code", "") or "",
    )
    need = CONSENT.get(channel)
    value = None if customer_row is None or need is None else customer_row.get(need)
    ok, basis, why = allows(value, channel, confirmed)
    if not ok:
        if customer_row is None and need is not None:
            why = "no customer record: consent unknown"
        flags.append(Flag("consent", "block", why))
    elif basis == "confirmation":
        words = confirmed_kinds(confirmed)[CHANNEL_KIND[channel]]
        flags.append(
            Flag(
                "consent",
                "review",
                f"consent from the merchant's confirmation ({words}); "
                "the customer's own data does not say",
            )
        )
    left = sorted(set(PLACEHOLDER.findall(subj + "\n" + text)))
    if left:
        flags.append(
            Flag("placeholder", "block", "placeholders left after rendering: " + ", ".join(left))
        )
    if channel == "sms" and len(body) > SMS_LIMIT:
        flags.append(Flag("length", "review", f"SMS of {len(body)} characters (over {SMS_LIMIT})"))
    if not _get(draft, "playbook_id"):
        flags.append(Flag("citation", "review", "no playbook cited"))
    if not _get(draft, "reason"):
        flags.append(Flag("reason", "review", "no reason given for contacting this customer"))
    return flags


CONTENT_RULES = (
    "urgency",
    "sensitive",
    "discount_cap",
    "instruction_text",
    "placeholder",
    "url",
    "contact",
    "credentials",
    "lookalike",
    "offer_not_in_plan",
    "request",
    "store_text",
)
"""Rules about a draft's text: a person's edit replaces the text, so these are checked again."""


def check_edit(
    subject: str,
    body: str,
    *,
    offer: str,
    offer_percent: float | None,
    previous_flags: list[dict],
    discount_cap: float,
) -> list[dict]:
    """The flags of a draft after a person's edit: the content rules on the new text (and no
    placeholder other than the personal ones), plus the earlier flags that text cannot change
    (consent, citation)."""
    flags = check_text(
        subject,
        body,
        offer=offer,
        offer_percent=offer_percent,
        discount_cap=discount_cap,
        by_person=True,
    )
    unknown = sorted(
        {
            m
            for m in re.findall(r"\{([^{}\n]{0,60})\}", subject + body)
            if m not in PERSONAL_PLACEHOLDERS
        }
    )
    if unknown:
        flags.append(Flag("placeholder", "block", "unknown placeholders: " + ", ".join(unknown)))
    kept = [f for f in previous_flags if f["rule"] not in CONTENT_RULES]
    return [f.to_dict() for f in flags] + kept


def blocking(flags: list[Flag]) -> list[Flag]:
    return [f for f in flags if f.severity == "block"]
