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
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from agent.outreach.guardrails import (
    PERSONAL_PLACEHOLDER,
    Flag,
    blocking,
    check_draft,
    check_store_text,
    clean_fact,
    render,
)
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


@dataclass(frozen=True)
class StoreFacts:
    """Store-level facts a message may use (not personal data)."""

    store_name: str = "our store"
    sender_name: str = "the team"
    sender_role: str = ""
    sign_off: str = ""

    @classmethod
    def from_settings(cls, settings) -> StoreFacts:
        """The store's name, sender and sign-off as the merchant set them (agent.settings)."""
        return cls(
            store_name=getattr(settings, "store_name", None) or "our store",
            sender_name=getattr(settings, "sender_name", None) or "the team",
            sign_off=getattr(settings, "sign_off", None) or "",
        )


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


def customer_facts(
    orders: pd.DataFrame | None,
    *,
    products: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Facts per customer from the data: last_order_date, last_order_id, first_order_year,
    last_product_name, favourite_product (most lines bought), recommended_product (the scores'
    next_best_product, by name, left empty when no name is known: a product id means nothing
    to a customer) and order_value (average order value). Names come from the products table,
    else the orders' product_name; they are store data, cleaned by `_clean` like every fact."""
    from agent.display import product_names

    names = product_names(orders, products)
    out = pd.DataFrame(index=pd.Index([], name="customer_id", dtype=str))
    if orders is not None and len(orders):
        o = orders.loc[orders["amount"] >= 0].copy()
        o["customer_id"] = o["customer_id"].astype(str)
        o = o.sort_values("order_date")
        if "product_name" not in o.columns and "product_id" in o.columns:
            o["product_name"] = o["product_id"].astype(str).map(names)
        g = o.groupby("customer_id")
        out = pd.DataFrame(
            {
                "last_order_date": g["order_date"].max(),
                "first_order_year": g["order_date"].min().dt.year.astype(str),
            }
        )
        # how long ago the last order was (as of the data's last day) and the customer's usual
        # interval between purchase days: a purchase long past is never written as current
        days = o["order_date"].dt.normalize()
        span = (g["order_date"].max() - g["order_date"].min()).dt.days
        n_days = days.groupby(o["customer_id"]).nunique()
        out["days_since_last_order"] = (
            o["order_date"].max().normalize() - out["last_order_date"].dt.normalize()
        ).dt.days
        out["usual_interval_days"] = (span / (n_days - 1).where(n_days > 1)).astype(float)
        if "order_id" in o.columns:
            out["last_order_id"] = g["order_id"].last().astype(str)
        if "product_name" in o.columns:
            pn = o.dropna(subset=["product_name"])
            out["last_product_name"] = pn.groupby("customer_id")["product_name"].last()
            fav = pn.groupby(["customer_id", "product_name"]).size().reset_index(name="n")
            fav = fav.sort_values(["customer_id", "n"], ascending=[True, False])
            out["favourite_product"] = fav.drop_duplicates("customer_id").set_index("customer_id")[
                "product_name"
            ]
    if scores is not None and len(scores):
        s = scores.set_index(scores["customer_id"].astype(str))
        out = out.reindex(out.index.union(s.index))
        if "next_best_product" in s.columns:
            nbp = s["next_best_product"].fillna("").astype(str)
            out["recommended_product"] = nbp.map(lambda p: names.get(p, ""))
        if {"revenue_to_date", "orders_to_date"} <= set(s.columns):
            n = s["orders_to_date"].astype(float)
            out["order_value"] = (s["revenue_to_date"].astype(float) / n.where(n > 0)).where(n > 0)
    return out


STORE_TEXT_FACTS = {
    "last_product_name": "product name",
    "favourite_product": "product name",
    "recommended_product": "product name",
    "order_number": "order number",
    "store_name": "store name",
    "sender_name": "sender name",
    "sender_role": "sender role",
    "sign_off": "sign-off",
}
"""The facts that are text from the store's files (or settings), checked before they are used."""
ORDER_NUMBER = re.compile(r"#?[A-Za-z0-9][A-Za-z0-9_/.-]{0,23}")


class _Vetting:
    """`check_store_text` once per distinct text (product names repeat across customers)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], tuple[str, list[Flag]]] = {}

    def __call__(self, value: Any, what: str) -> tuple[str, list[Flag]]:
        text = clean_fact(value, 10_000)
        if not text:
            return "", []
        key = (text, what)
        if key not in self.seen:
            flags = check_store_text(text, what)
            if what == "order number" and not flags and not ORDER_NUMBER.fullmatch(text):
                flags = [
                    Flag(
                        "store_text",
                        "review",
                        f"the order number {text[:40]!r} from the store's data "
                        "was left out of the draft: it is not a short code",
                    )
                ]
            self.seen[key] = ("" if flags else text, flags)
        return self.seen[key]


def _facts_for(
    cid: str, row: Mapping, facts: pd.DataFrame, store: StoreFacts, vet: _Vetting | None = None
) -> tuple[dict[str, str], dict[str, list[Flag]]]:
    """The facts of one customer's draft, and the store text left out of them: {fact: flags}
    (`product_name` stands for the product it would have been)."""
    vet = vet or _Vetting()
    f = facts.loc[cid].to_dict() if cid in facts.index else {}
    last = f.get("last_order_date")
    last = pd.Timestamp(last) if last is not None and last == last else None
    raw = {
        "last_product_name": f.get("last_product_name"),
        "favourite_product": f.get("favourite_product"),
        "recommended_product": f.get("recommended_product"),
        "order_number": f.get("last_order_id"),
        "store_name": store.store_name,
        "sender_name": store.sender_name,
        "sender_role": store.sender_role,
        "sign_off": getattr(store, "sign_off", ""),
    }
    vetted: dict[str, str] = {}
    left_out: dict[str, list[Flag]] = {}
    for key, value in raw.items():
        vetted[key], flags = vet(value, STORE_TEXT_FACTS[key])
        if flags:
            left_out[key] = flags
    source = "last_product_name" if clean_fact(raw["last_product_name"]) else "favourite_product"
    product = vetted["last_product_name"] or vetted["favourite_product"]
    if source in left_out:
        left_out["product_name"] = left_out[source]
    return {
        "store_name": vetted["store_name"] or "our store",
        "sender_name": vetted["sender_name"] or "the team",
        "sender_role": vetted["sender_role"],
        "sign_off": vetted["sign_off"],
        "product_name": product,
        "last_product_name": vetted["last_product_name"],
        "favourite_product": vetted["favourite_product"],
        "recommended_product": vetted["recommended_product"],
        "last_order_date": f"{last.day} {last:%B %Y}" if last is not None else "",
        "last_order_month": f"{last:%B %Y}" if last is not None else "",
        "first_order_year": clean_fact(f.get("first_order_year")),
        "order_number": vetted["order_number"],
        "unsubscribe_link": "",  # the email platform adds its own unsubscribe footer
        "reason_label": row.get("churn_reason", ""),
        "last_order_stale": "yes"
        if _stale(f.get("days_since_last_order"), f.get("usual_interval_days"))
        else "",
    }, left_out


STALE_AFTER_DAYS = 120
"""A last order this old (with no usual interval to go by) is not "around now"."""
STALE_AT_MOST_DAYS = 365


def _stale(days, usual) -> bool:
    """Whether a last order `days` ago is too long past to be written as current ("may be
    getting low around now"): past twice the customer's usual interval (at least 60 days),
    past STALE_AFTER_DAYS without one, and always past a year."""
    if days is None or days != days:
        return False
    days = float(days)
    if usual is not None and usual == usual and usual > 0:
        return days > max(2.0 * float(usual), 60.0) or days > STALE_AT_MOST_DAYS
    return days > STALE_AFTER_DAYS


def _left_out_flags(
    left_out: Mapping[str, list[Flag]], skeleton: str | None, *, llm: bool
) -> list[Flag]:
    """The flags of the store text this draft would have used: every fact for a language model
    (it is given them all), else the skeleton's placeholders plus the facts every template may
    add (the recommended product, the store's name)."""
    used = (
        set(left_out)
        if llm
        else ({*PERSONAL_PLACEHOLDER.findall(skeleton or ""), "recommended_product", "store_name"})
    )
    out: dict[tuple[str, str], Flag] = {}
    for key in sorted(left_out):
        if key in used and not (key == "product_name" and "product_name" not in used):
            for flag in left_out[key]:
                out.setdefault((flag.rule, flag.message), flag)
    return list(out.values())


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
    vet = _Vetting()
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
        f, left_out = _facts_for(cid, row, facts, store, vet)
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
        d.flags += _left_out_flags(left_out, skeleton, llm=writer == "llm")
        out.append(d)
    return out


# --- export rows (used by the approval queue) -------------------------------------------------

EXPORT_COLUMNS = [
    "email",
    "first_name",
    "subject",
    "body",
    "offer_code",
    "campaign_id",
    "channel",
    "phone",
    "customer_id",
    "draft_id",
]
"""The export CSV: Klaviyo and Shopify Email import email and first_name, the rest as custom
properties; subject and body are rendered (no placeholders left), their paragraphs kept
(blank lines), never hard-wrapped; the offer code is the one in the final (edited) text; the
phone is filled wherever the customer has one."""

KLAVIYO_COLUMNS = [
    "Email",
    "First Name",
    "Last Name",
    "Phone Number",
    "Retention Subject",
    "Retention Message",
    "Offer Code",
    "Retention Campaign",
    "Retention Channel",
]
"""Klaviyo's profile import (Lists & segments > Import contacts): Email, First Name, Last Name and
Phone Number are its own profile fields (the phone in E.164, +441234567890, as the store has it);
every other column becomes a custom profile property of that name, which a template uses as
{{ person|lookup:'Retention Message' }}."""

SHOPIFY_TAG_COLUMNS = ["First Name", "Last Name", "Email", "Phone", "Tags"]
"""Shopify's customer CSV import (Customers > Import, "Overwrite existing customers"): headers are
case sensitive and the Email column is required; Tags replaces a customer's tags, so the
column carries the tags the store's customers file gives them plus this campaign's tag
(`shopify_tag`). Columns left out of the file are not touched."""

_GENERATED_CODE = re.compile(r"\b(?:SAVE\d{1,2}|SHIPFREE)-[0-9A-F]{6}\b")
_CODE_AFTER_WORD = re.compile(r"\b(?i:code)\s*:?\s+([A-Z0-9][A-Z0-9_-]{3,31})\b")


def final_offer_code(subject: str, body: str, generated: str = "") -> str:
    """The offer code the customer will read: the one in the final (possibly edited) text.
    The generated code when the text still carries it; else an upper-case code the text
    gives after the word "code" ("use the code WELCOME10"), else a generated-looking one;
    "" when the merchant took the offer out."""
    text = f"{subject}\n{body}"
    if generated and re.search(rf"\b{re.escape(generated)}\b", text):
        return generated
    m = _CODE_AFTER_WORD.search(text)
    if m:
        return m.group(1)
    m = _GENERATED_CODE.search(text)
    return m.group(0) if m else ""


def unwrap(text: str) -> str:
    """Paragraphs kept (a blank line between them), lines inside a paragraph joined: a text
    written with hard line breaks ("... before it goes public on\n{date}") reads as one
    paragraph in any email client. A short closing line ("Warm wishes,") keeps its break."""
    paras = re.split(r"\n\s*\n", str(text or "").replace("\r\n", "\n").replace("\r", "\n"))
    out = []
    for p in paras:
        lines = [ln.strip() for ln in p.split("\n") if ln.strip()]
        if not lines:
            continue
        joined = lines[0]
        for ln in lines[1:]:
            joined += (
                "\n" if joined.endswith(",") and len(joined.split("\n")[-1]) < 40 else " "
            ) + ln
        out.append(joined)
    return "\n\n".join(out)


def shopify_tag(campaign_id: str) -> str:
    """The customer tag of a campaign in Shopify: "retention-<campaign id>", letters, digits
    and dashes only (a tag is at most 255 characters, commas separate tags)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(campaign_id or "")).strip("-").lower()[:60]
    return f"retention-{slug}" if slug else "retention"


def customer_rows(customers: pd.DataFrame | None) -> dict[str, dict]:
    if customers is None or not len(customers):
        return {}
    c = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates(
        "customer_id"
    )
    return {r["customer_id"]: r for r in c.to_dict("records")}


def exportable(
    drafts: list, customers: pd.DataFrame | None, *, confirmed=None
) -> tuple[list, list[str]]:
    """The drafts whose customer has an email and still may be contacted on the channel (their
    data says yes, or says nothing and the merchant confirmed the channel: agent.outreach.consent),
    and why the others are held back. A customer whose data now says no is held back."""
    from agent.outreach.consent import allows, state
    from agent.outreach.guardrails import CONSENT

    rows = customer_rows(customers)
    ok, why = [], []
    for d in drafts:
        c = rows.get(str(d.customer_id))
        if c is None or not str(c.get("email") or "").strip():
            why.append(f"draft {d.id}: no email for customer {d.customer_id}")
            continue
        value = c.get(CONSENT.get(d.channel, ""))
        allowed, _, reason = allows(value, d.channel, confirmed)
        if allowed:
            ok.append(d)
        elif state(value) is False:
            why.append(f"draft {d.id}: customer {d.customer_id} no longer consents to {d.channel}")
        else:
            why.append(f"draft {d.id}: customer {d.customer_id}: {reason}")
    return ok, why


def export_table(drafts: list, customers: pd.DataFrame | None) -> pd.DataFrame:
    """One CSV row per draft (objects with id, customer_id, channel, subject, body,
    offer_code, campaign_id), rendered locally with the customer's row."""
    rows = customer_rows(customers)
    out = []
    for d in drafts:
        c = rows.get(str(d.customer_id), {})
        subject, body = render({"subject": d.subject, "body": d.body}, c)
        body = body.replace("\r\n", "\n").strip()
        out.append(
            {
                "email": _text(c.get("email")),
                "first_name": clean_fact(c.get("first_name"), 40),
                "subject": subject,
                "body": body,
                "offer_code": final_offer_code(subject, body, getattr(d, "offer_code", "") or ""),
                "campaign_id": d.campaign_id,
                "channel": d.channel,
                "phone": _text(c.get("phone")),
                "customer_id": d.customer_id,
                "draft_id": d.id,
            }
        )
    return pd.DataFrame(out, columns=EXPORT_COLUMNS)


def _text(value) -> str:
    """A cell of the customers file as text ("" for nothing)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def klaviyo_table(export: pd.DataFrame, customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The export (`export_table`) as Klaviyo's profile CSV (KLAVIYO_COLUMNS)."""
    rows = customer_rows(customers)
    last = [clean_fact(rows.get(str(c), {}).get("last_name"), 40) for c in export["customer_id"]]
    return pd.DataFrame(
        {
            "Email": export["email"],
            "First Name": export["first_name"],
            "Last Name": last,
            "Phone Number": export["phone"],
            "Retention Subject": export["subject"],
            "Retention Message": export["body"],
            "Offer Code": export["offer_code"],
            "Retention Campaign": export["campaign_id"],
            "Retention Channel": export["channel"],
        },
        columns=KLAVIYO_COLUMNS,
    )


def shopify_tags_table(export: pd.DataFrame, customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The export (`export_table`) as Shopify's customer CSV that tags each customer with the
    campaign (SHOPIFY_TAG_COLUMNS): one row per customer, the tags they have in the store's
    customers file kept, the campaign's tag added."""
    rows = customer_rows(customers)
    out: dict[str, dict] = {}
    for r in export.itertuples():
        c = rows.get(str(r.customer_id), {})
        key = str(r.email).lower()
        if key not in out:
            have = [t.strip() for t in _text(c.get("tags")).split(",") if t.strip()]
            out[key] = {
                "First Name": r.first_name,
                "Last Name": clean_fact(c.get("last_name"), 40),
                "Email": r.email,
                "Phone": r.phone,
                "Tags": have,
            }
        tag = shopify_tag(r.campaign_id)
        if tag not in out[key]["Tags"]:
            out[key]["Tags"].append(tag)
    table = [{**v, "Tags": ", ".join(v["Tags"])} for v in out.values()]
    return pd.DataFrame(table, columns=SHOPIFY_TAG_COLUMNS)


EXPORT_FORMATS = {"klaviyo": klaviyo_table, "shopify_tags": shopify_tags_table}
"""The files written with each export CSV, in a folder of their own next to it:
klaviyo/klaviyo_<export>.csv and shopify/shopify_tags_<export>.csv (so the exports folder
itself holds the exports only)."""
FORMAT_FOLDERS = {"klaviyo": "klaviyo", "shopify_tags": "shopify"}


def format_paths(path: Path) -> dict[str, Path]:
    """Where the Klaviyo and Shopify files of the export at `path` are."""
    path = Path(path)
    return {
        name: path.parent / FORMAT_FOLDERS[name] / f"{name}_{path.name}" for name in EXPORT_FORMATS
    }


def write_export(table: pd.DataFrame, path: Path, customers: pd.DataFrame | None = None) -> None:
    """The export CSV at `path`, then its Klaviyo and Shopify files next to it (`format_paths`),
    each through `tools.csvout.write_csv`: inert, atomic."""
    atomic_csv(table, path)
    for name, target in format_paths(path).items():
        frame = EXPORT_FORMATS[name](table, customers)
        if target.exists() and not _same_header(target, list(frame.columns)):
            import logging

            logging.getLogger(__name__).warning(
                "%s exists and is not an export's %s file: left as it is", target, name
            )
            continue  # a file of the merchant's own next to an --out file is never overwritten
        atomic_csv(frame, target)


def _same_header(path: Path, columns: list[str]) -> bool:
    try:
        return list(pd.read_csv(path, nrows=0).columns) == columns
    except (OSError, ValueError):
        return False


def atomic_csv(table: pd.DataFrame, path: Path) -> None:
    """Write an export CSV with `tools.csvout.write_csv`: inert in a spreadsheet (a cell
    starting with =, +, -, @, tab or CR gets a leading apostrophe; numbers stay numbers), and
    through a temporary file and a rename, so never half a file."""
    from tools.csvout import write_csv

    write_csv(table, path)
