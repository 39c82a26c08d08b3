"""Personal drafts for the chosen customers of a plan.

A draft is written from the cited playbook's "Message skeleton" and only from facts in the
store's data: the product the customer bought most recently and most often, the next best
product, the last order's date and number, the year of the first order, and the offer of the
plan. A skeleton paragraph whose placeholder has no fact behind it is left out rather than
invented. Personal fields stay placeholders ({first_name}) and are filled locally by `render`
at review or export time, so a language model (the optional `llm_writer`) never sees names or
emails. Every draft, template or model-written, goes through `guardrails.check_draft`.

Store text is data, never instructions, and enters a draft only after a check that it is what
it claims to be (`guardrails.check_store_text`: a product name carries no web or email address,
phone number, request to the reader, credentials, price, percentage, discount or code, and is at
most 80 characters; an order number is a short code). Text that fails is left out, as a fact
the store does not have is (its paragraph goes, or the neutral reason paragraph stands in), so
it never reaches the customer or a language model; the draft carries a flag naming the text
and why: one of the guardrails' own rules, severity block (the draft is held for a person, who
can edit or reject it) for an address, a request, an offer, credentials, instructions or
look-alike characters; `store_text`, severity review, for a price or an over-long name. A
customer's first or last name that is not a name ("Visit evil.example") renders as "there".
The facts and their checks are in agent.outreach.facts; what an export of approved drafts
writes is in agent.approvals.export.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from agent.outreach.facts import StoreFacts, Vetting, customer_facts, facts_for, left_out_flags
from agent.outreach.guardrails import Flag, blocking, check_draft
from agent.outreach.render import PERSONAL_PLACEHOLDER
from tools.schema import PERSONAL_PLACEHOLDERS

SMS_STOP = "Reply STOP to opt out."
NOW_CLAIM = re.compile(
    r"around now|running low|getting low|running out|time for more|restock", re.I
)
"""Words that present a past purchase as current: kept only while the last order is recent."""

REASON_PARAGRAPH = {
    "price_sensitivity": "We want to make sure you always get good value from us.",
    "service_problems": "We are sorry if something did not go as it should with a recent order. "
    "If anything is still not right, just reply and a person will sort it out.",
    "quality_returns": "If something you bought from us did not live up to what you expected, tell us "
    "and we will make it right.",
    "fading_engagement": "It has been a while since we last saw you, so here is what we think you "
    "might enjoy.",
    "cycle_overdue": "Based on how often you usually order, you may be running low around now.",
    "one_time_buyer": "Thank you again for your first order with us.",
}
"""A plain, reason-appropriate paragraph used when the skeleton leaves too little. It never
names the churn reason to the customer."""


@dataclass
class Draft:
    campaign_id: str
    customer_id: str
    channel: str
    subject: str
    body: str
    offer: str
    offer_percent: float
    offer_code: str
    reason: str
    playbook_id: str
    playbook_title: str = ""
    expected_value: float = 0.0
    writer: str = "template"
    flags: list[Flag] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(blocking(self.flags))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = [f.to_dict() for f in self.flags]
        return d


LlmWriter = Callable[[Mapping[str, Any], str, Mapping[str, Any]], Mapping[str, str]]
"""(facts without personal data, message skeleton, play metadata) -> {"subject", "body"};
the text may use {first_name}, filled locally at render time."""


def offer_code(campaign_id: str, customer_id: str, offer_type: str, pct: float) -> str:
    """A unique, deterministic code per draft, for the merchant to create in their shop."""
    if offer_type == "discount" and pct > 0:
        prefix = f"SAVE{round(pct * 100)}"
    elif offer_type == "free_shipping":
        prefix = "SHIPFREE"
    else:
        return ""
    h = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).hexdigest()[:6].upper()
    return f"{prefix}-{h}"


def _fill(text: str, facts: Mapping[str, str]) -> str | None:
    """Fill a text's placeholders from facts; None when one has no fact (personal ones stay)."""
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        key = m.group(1)
        if key in PERSONAL_PLACEHOLDERS:
            return m.group(0)
        value = facts.get(key)
        if key == "unsubscribe_link" or key == "optional_offer_line":
            return value or ""
        if not value:
            missing = True
            return m.group(0)
        return value

    out = PERSONAL_PLACEHOLDER.sub(sub, text)
    return None if missing else out


def template_text(
    skeleton: str | None, facts: Mapping[str, str], *, channel: str, churn_reason: str
) -> tuple[str, str]:
    """(subject, body) from a skeleton and facts; paragraphs without facts are left out."""
    lines = (skeleton or "").strip().splitlines()
    subject_tpl = ""
    if lines and re.match(r"^(subject|headline)\s*:", lines[0], re.I):
        subject_tpl = lines[0].split(":", 1)[1].strip()
        lines = lines[1:]
    subject = _fill(subject_tpl, facts) if subject_tpl else None
    if not subject:
        subject = f"A note from {facts['store_name']}"
    paras = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
    paras = [p for p in paras if not p.startswith("[")]  # onsite buttons are not message text
    stale = bool(facts.get("last_order_stale"))
    if stale:  # an old purchase is not written as current ("may be getting low around now")
        paras = [p for p in paras if not NOW_CLAIM.search(p)]
        if subject_tpl and NOW_CLAIM.search(subject_tpl):
            subject = f"A note from {facts['store_name']}"
    kept = [f for f in (_fill(p, facts) for p in paras) if f and f.strip()]
    # one line per paragraph: a skeleton's hard line breaks are not the customer's
    kept = [re.sub(r"\s*\n\s*", " ", p).strip() for p in kept if p.strip()]
    greeting = "Hi {first_name},"
    if not kept or not kept[0].lower().startswith(("hi", "hello", "dear")):
        kept.insert(0, greeting)
    sign = facts["store_name"]
    body_paras = kept[1:]
    if body_paras and len(body_paras[-1]) < 60 and "." not in body_paras[-1]:
        sign = body_paras.pop()
    if facts.get("sign_off"):  # the merchant's own closing line, then who signs
        who = facts["sender_name"] if facts.get("sender_name") not in (None, "", "the team") else ""
        sign = (
            facts["sign_off"].rstrip(",")
            + ",\n"
            + (f"{who}, {facts['store_name']}" if who else facts["store_name"])
        )
    offer_line = facts.get("optional_offer_line", "")
    if stale and churn_reason == "cycle_overdue":
        churn_reason = "fading_engagement"  # not "running low around now" a year on
    if not [p for p in body_paras if p != offer_line] and churn_reason in REASON_PARAGRAPH:
        body_paras.insert(0, REASON_PARAGRAPH[churn_reason])
    rec = facts.get("recommended_product")
    if rec and rec not in "\n".join(body_paras):
        body_paras.append(f"Based on what you have ordered before, you might like {rec}.")
    if offer_line and offer_line not in "\n".join(body_paras):
        body_paras.append(offer_line)
    if "reply" not in "\n".join(body_paras).lower():
        body_paras.append("Just reply to this message if there is anything we can help with.")
    if channel == "sms":
        first = next((p for p in body_paras if p != offer_line), "")
        first = re.split(r"(?<=[.?!])\s", first.replace("\n", " "))[0]
        parts = [f"Hi {{first_name}}, it's {facts['store_name']}.", first, offer_line, SMS_STOP]
        return subject, " ".join(p for p in parts if p)
    sign = sign[:1].upper() + sign[1:]
    return subject, "\n\n".join([kept[0], *body_paras, sign])


def draft_messages(
    plan,
    playbooks: list,
    *,
    settings,
    customers: pd.DataFrame | None,
    orders: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    store: StoreFacts | None = None,
    llm_writer: LlmWriter | None = None,
    confirmed=None,
) -> list[Draft]:
    """One draft per chosen row of `plan` (a Plan or its `chosen` list of dicts), each checked
    by the guardrails. Blocked drafts are returned too, with their flags: the approval queue
    stores them as `blocked`, never as pending. `confirmed`: the merchant's consent
    confirmations for the store (agent.outreach.consent), for customers whose data does not say."""
    store = store or StoreFacts.from_settings(settings)
    rows = plan.chosen if hasattr(plan, "chosen") else list(plan)
    campaign_id = getattr(plan, "campaign_id", None)
    books = {(pb.id if hasattr(pb, "id") else pb["id"]): pb for pb in playbooks}
    facts = customer_facts(orders, products=products, scores=scores)
    crow: dict[str, Mapping] = {}
    if customers is not None and len(customers):
        c = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates(
            "customer_id"
        )
        crow = {r["customer_id"]: r for r in c.to_dict("records")}
    out: list[Draft] = []
    vet = Vetting()
    for row in rows:
        cid = str(row["customer_id"])
        camp = campaign_id or row.get("campaign_id", "")
        pb = books.get(row["playbook_id"])
        skeleton = (
            (
                pb.message_skeleton
                if hasattr(pb, "message_skeleton")
                else (pb or {}).get("sections", {}).get("Message skeleton")
            )
            if pb is not None
            else None
        )
        pct = float(row.get("offer_percent") or 0.0)
        code = offer_code(camp, cid, row.get("offer_type", "none"), pct)
        offer = row.get("offer", "") or ""
        f, left_out = facts_for(cid, row, facts, store, vet)
        f["optional_offer_line"] = (
            f"As a thank-you, here is {offer} with the code {code}."
            if code
            else (f"We would also like to offer you {offer}." if offer else "")
        )
        writer = "template"
        if llm_writer is not None:
            safe = {k: v for k, v in f.items() if k not in PERSONAL_PLACEHOLDERS}
            meta = {
                k: row.get(k)
                for k in (
                    "playbook_id",
                    "playbook_title",
                    "channel",
                    "offer",
                    "offer_percent",
                    "churn_reason",
                )
            }
            text = llm_writer(safe, skeleton or "", meta)
            subject, body, writer = str(text["subject"]), str(text["body"]), "llm"
        else:
            subject, body = template_text(
                skeleton, f, channel=row["channel"], churn_reason=row.get("churn_reason", "")
            )
        d = Draft(
            campaign_id=camp,
            customer_id=cid,
            channel=row["channel"],
            subject=subject,
            body=body,
            offer=offer,
            offer_percent=pct,
            offer_code=code,
            reason=row.get("reason", ""),
            playbook_id=row["playbook_id"],
            playbook_title=row.get("playbook_title", ""),
            expected_value=float(row.get("expected_value", 0.0)),
            writer=writer,
        )
        ov = None
        if cid in facts.index and "order_value" in facts.columns:
            v = facts.at[cid, "order_value"]
            ov = float(v) if pd.notna(v) else None
        d.flags = check_draft(
            d, customer_row=crow.get(cid), settings=settings, order_value=ov, confirmed=confirmed
        )
        d.flags += left_out_flags(left_out, skeleton, llm=writer == "llm")
        out.append(d)
    return out
