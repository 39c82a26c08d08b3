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
`STORE_TEXT_LIMIT` characters. Text that fails is left out of the draft (agent.outreach.drafts), and the
draft carries a flag saying which text and why.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from agent.outreach.textfold import Folded, fold, lettered, mixed_script_words, numeric
from tools.schema import PERSONAL_PLACEHOLDERS

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
    r"only today",
    r"today only",
    r"last chance",
    r"act (now|fast|quickly)",
    r"\bhurry\b",
    r"countdown",
    r"ends (tonight|today|soon|at midnight|in \d+)",
    r"expires? (tonight|today|soon|in \d+)",
    r"limited[- ]time",
    r"while (supplies|stocks?) last",
    r"only \d+ left",
    r"(just|only) a few left",
    r"selling (out|fast)",
    r"almost (gone|sold out)",
    r"don'?t miss (out|this)",
    r"final hours?",
    r"before it'?s too late",
    r"now or never",
    r"\burgent",
    r"\d+\s*(hours?|hrs|minutes?|mins)\s+(left|to go|remaining)",
    r"once in a lifetime",
    r"(won'?t|will not) last",
    r"last (day|call)",
    r"running out of time",
    r"(offer|deal|sale) (ends|expires)",
]
SENSITIVE = [
    r"\bhealth\b",
    r"\bmedical\b",
    r"\billness\b",
    r"\bdiagnos",
    r"\bdisease",
    r"\bmedication",
    r"\btherapy\b",
    r"\bdepress",
    r"\banxiety\b",
    r"\bpregnan",
    # named conditions: a message must not reveal that the shop inferred one
    r"\bdiabet",
    r"\bcancer\b",
    r"\bhiv\b",
    r"\baids\b",
    r"\basthma\b",
    r"\bobes",
    r"\bweight loss\b",
    r"\bmiscarr",
    r"\bfertility\b",
    r"\bivf\b",
    r"\bmenopaus",
    r"\bdementia\b",
    r"\balzheimer",
    r"\badhd\b",
    r"\bautis",
    r"\beating disorder",
    r"\baddict",
    r"\brehab\b",
    r"\bchemo",
    r"\bexpecting a baby",
    r"\bmaternity\b",
    r"\breligio",
    r"\bchurch\b",
    r"\bmosque\b",
    r"\bsynagogue\b",
    r"\bfaith\b",
    r"\bethnic",
    r"\brace\b",
    r"\bracial\b",
    r"\bnationality\b",
    r"\bimmigra",
    r"sexual orientation",
    r"\bgay\b",
    r"\blesbian\b",
    r"\blgbt",
    r"\btransgender\b",
    r"\byour age\b",
    r"\bat your age\b",
    r"\b(elderly|seniors?|retiree|retired)\b",
    r"\b\d{2}(th)? birthday\b",
    r"\bdisab",
    r"\bwheelchair\b",
    r"financial (hardship|difficult|trouble|struggle)",
    r"\bdebt\b",
    r"\bbankrupt",
    r"\bunemploy",
    r"\blow[- ]income\b",
    r"can'?t afford",
    r"tight budget",
    r"money (is )?tight",
    r"\bbenefits claim",
]
INSTRUCTION = [
    r"ignore (all |any )?(the )?(previous|prior|above|earlier) (instructions|messages|prompts?)",
    r"disregard (all |any )?(the )?(previous|prior|above|your) ",
    r"system prompt",
    r"you are (now )?(an? |the )?(ai|assistant|language model|chatbot)",
    r"as an ai\b",
    r"^\s*(system|assistant|user)\s*:",
    r"<\s*/?\s*(script|system|instructions?)\b",
    r"\bapprove (this|all|every) (draft|message)",
    r"(begin|end) (of )?instructions",
    r"(do not|don'?t) (tell|inform) the (merchant|reviewer|customer)",
    r"\bjailbreak",
    r"(send|export) (this|it) (immediately|now|without)",
    r"override (the )?(rules|guardrails|policy)",
]
PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:%|percent\b|per\s*cent\b|pct\b)", re.IGNORECASE)
OFF = re.compile(r"(?<![\d.,$£€¥₹])(\d+(?:[.,]\d+)?)\s*off\b", re.IGNORECASE)
"""A bare "20 off": a discount of unknown unit (counted as a percentage against the cap)."""
_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SPELLED = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS) + r")(?:[\s-]+(?P<unit>" + "|".join(_UNITS[1:10]) + r"))?"
    r"|(?P<small>"
    + "|".join(_UNITS)
    + r")|(?P<hundred>(?:a|one)\s+hundred|hundred)|(?P<half>half))"
    r"(?:\s*(?P<pct>%|per\s*cent\b|percent\b|pct\b)"
    r"|\s+(?P<money>dollars?|bucks|euros?|pounds?|quid)\s+off\b"
    r"|(?P<price>\s+price\b)|\s+(?P<off>off)\b)"
)
"""Numbers spelled out before %, "percent", "off" or "dollars off" ("ninety off", "twenty-five
percent", "half price")."""
TLDS = (
    "com|net|org|info|biz|io|co|me|app|dev|ai|xyz|online|site|shop|store|top|link|click|ly|gl|"
    "ru|cn|tk|ml|ga|cf|gq|pw|cc|ws|su|uk|de|fr|nl|es|it|eu|us|ca|au|in|br|jp|kr|ch|se|no|dk|pl|"
    "be|at|cz|ie|nz|za|mx|ar|tv|fm|gg|to|is|sh|gd|am|vip|live|life|today|world|news|blog|club|"
    "page|space|website|tech|cloud|email|example|test|invalid|local|onion|zip|mov|win|bid|loan|"
    "work|men|date|review|stream|download|party|science|gdn|lol|icu|cyou|buzz|rest|fun|host|pro"
)
_DOT = r"(?:\.|\s*[\[(]\s*(?:\.|dot)\s*[\])]\s*|\s+dot\s+)"
URL = [
    r"\b(?:https?|hxxps?|ftps?)\s*:\s*/\s*/",
    r"\bwww\s*(?:\.|\[\s*\.\s*\]|\s+dot\s+)",
    rf"\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:{_DOT}[a-z0-9-]+)*{_DOT}(?:{TLDS})\b(?!\.?[a-z0-9])",
]
CREDENTIALS = [
    r"\bpass\s?(?:word|code|phrase)s?\b",
    r"\bpasswd\b",
    r"\bpin\s+(?:code|number)\b",
    r"\byour\s+pin\b",
    r"\bone[-\s]time\s+(?:pass)?code\b",
    r"\b(?:otp|2fa|mfa)\b",
    r"\b(?:verification|security|login|sms|access|auth(?:entication)?)\s+code\b",
    r"\bcvv2?\b",
    r"\bcvc\b",
    r"\bcard\s+(?:number|details|verification)\b",
    r"\b(?:credit|debit)\s+card\b",
    r"\bbank\s+(?:details|login)\b",
    r"\byour\s+bank\s+account\b",
    r"\bbank\s+account\s+(?:number|details)\b",
    r"\b(?:account|routing|sort|swift)\s+(?:number|code)\b",
    r"\biban\b",
    r"\b[li]og[-\s]?[il]n\s+(?:details|credentials|information|info)\b",
    r"\bcredentials?\b",
    r"\busername\b",
    r"\bsocial\s+security\b",
    r"\bssn\b",
    r"\bmother'?s\s+maiden\s+name\b",
    r"\b(?:seed|recovery)\s+phrase\b",
    r"\bprivate\s+key\b",
    r"\b(?:verify|confirm|update|validate|unlock|reactivate|restore)\s+your\s+(?:account|identity|details|"
    r"information|payment|card|login|password|email)\b",
    r"\byour\s+account\s+(?:has\s+been\s+|is\s+|was\s+|will\s+be\s+)?(?:suspended|locked|disabled|"
    r"closed|on\s+hold|compromised|limited)\b",
    r"\b(?:reply|respond|write\s+back|text|email|message|dm|whatsapp)\b[^.\n]{0,30}?\byour\s+(?:password|pin|"
    r"code|card|bank|account|login|username|details|date\s+of\s+birth|birth\s?date|dob|passport|id\s+number|"
    r"address|phone\s+number|social)\b",
    r"\bsend\s+(?:us|me)\s+(?:your|the)\s+(?:password|pin|code|card|bank|account|login|details|photo|id)\b",
]
REQUESTS = [
    r"\b(?:reply|respond|write\s+back|text\s+back)\b",
    r"\b(?:click|tap)\b",
    r"\b(?:visit|call|text|email|e-mail|message|contact|dm|whatsapp|write\s+to)\s+(?:us|me|now|today|"
    r"here|at|on)\b",
    r"\b(?:log|sign)\s*-?\s*[il]n\b",
    r"\b(?:claim|redeem|verify|confirm|activate|unlock)\s+(?:your|it|now|here|at|the|this)\b",
    r"\buse\s+(?:the\s+)?code\b",
    r"\bscan\s+(?:the|this|me)\b",
    r"\bdm\b",
]
"""A product name that asks the reader to do something (a draft's own text may say "reply")."""
OFFER_WORDS = [
    r"\bfree\s+(?:shipping|delivery|postage|p&p|gift)\b",
    r"\bstore\s+credit\b",
    r"\bcash\s?back\b",
    r"\bbogo\b",
    r"\bbuy\s+(?:one|1|\d+),?\s+get\s+(?:one|1|\d+)\b",
    r"\b(?:2|two)\s+for\s+(?:1|one)\b",
]
"""Offers other than a percentage, an amount off or a code."""
STORE_OFFER = [
    r"\bdiscount",
    r"\bcoupon",
    r"\bvoucher",
    r"\bpromo",
    r"\brebate",
    r"\bcode\b",
    r"\bsave\s+\d",
    r"\b\d+\s*off\b",
]
"""In store text, the words of an offer too."""
CODE_AFTER = re.compile(
    r"\b(?:code|coupon|voucher|promo(?:\s*code)?)\b\s*[:#=-]?\s*[\"'“”‘’]?([a-z0-9][a-z0-9_-]{2,})",
    re.IGNORECASE,
)
CODE_SHAPE = re.compile(
    r"\b(?=(?:[A-Z0-9-]*[A-Z]){3})(?=(?:[A-Z0-9-]*\d){2})[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\b"
)
"""A discount code as shops write them: capitals and digits (EVIL90, SAVE10-13FC89, WELCOME15)."""
OFFER_CONTEXT = re.compile(
    r"\b(?:code|coupon|voucher|promo|checkout|use|apply|enter|redeem|off|discount|save|"
    r"saving)\b|%|percent",
    re.IGNORECASE,
)
PRICE = re.compile(
    r"(?:[$£€¥₹]\s?\d|\d(?:[.,]\d+)?\s?(?:[$£€¥₹]|\b(?:usd|eur|gbp|cad|aud|inr|pkr|bdt|dollars?|"
    r"euros?|pounds?|rs)\b))",
    re.IGNORECASE,
)
STORE_TEXT_LIMIT = 80
"""The longest product name (or other store text) a draft takes, in characters."""
MONEY = re.compile(
    r"(?:[$£€]\s?(\d+(?:[.,]\d+)?)|(\d+(?:[.,]\d+)?)\s?(?:[$£€]|dollars|euros?|pounds|usd|eur|gbp)\b)"
    r"(?=[^.\n]{0,30}\b(off|discount|credit|voucher|coupon|back|saving|cheaper)\b)",
    re.IGNORECASE,
)
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


@dataclass(frozen=True)
class Views:
    """A text as the rules read it: folded (case, accents, invisible and look-alike characters;
    agent.outreach.textfold), with digits for letters in words (`lettered`), with letters for digits
    in numbers (`numeric`). Every view has the folded text's length and positions."""

    folded: Folded
    lettered: str
    numeric: str

    @classmethod
    def of(cls, text: str) -> Views:
        f = fold(text)
        return cls(f, lettered(f.text), numeric(f.text))


def _views(text) -> Views:
    return text if isinstance(text, Views) else Views.of(str(text or ""))


_COMPILED: dict[int, tuple[re.Pattern, list[re.Pattern]]] = {}


def _compiled(patterns: list[str]) -> tuple[re.Pattern, list[re.Pattern]]:
    """A list of patterns compiled: one alternation (does any match?) and each on its own."""
    key = id(patterns)
    if key not in _COMPILED:
        flags = re.IGNORECASE | re.MULTILINE
        _COMPILED[key] = (
            re.compile("|".join(f"(?:{p})" for p in patterns), flags),
            [re.compile(p, flags) for p in patterns],
        )
    return _COMPILED[key]


def _hits(patterns: list[str], text, *, letters: bool = True) -> list[str]:
    """The first match of each pattern, on the text as written and as its views read it, as
    the original text has it there."""
    v = _views(text)
    f = v.folded
    views = [f.text] + ([v.lettered] if letters and v.lettered != f.text else [])
    if not f.original.isascii():
        views.append(f.original)
    anything, each = _compiled(patterns)
    views = [view for view in views if anything.search(view)]
    found = []
    for rx in each:
        for view in views:
            m = rx.search(view)
            if m and m.end() > m.start():
                found.append(
                    (m.group(0) if view is f.original else f.source(m.start(), m.end())).strip()
                )
                break
    return found


@dataclass(frozen=True)
class Amount:
    """A discount or amount the text states: kind "percent" (10%, ten percent, half price),
    "off" (a bare "20 off", unit unknown) or "money" ($5 off, ten dollars off)."""

    kind: str
    value: float
    written: str
    disguised: bool = False


_PLAIN_NUMBER_CHARS = set("€£¥₹")


def amounts(text) -> list[Amount]:
    """Every percentage, "N off" and money-off amount in a text, in digits of any script,
    with letters for digits ("9O%") or spelled out ("ninety off")."""
    v = _views(text)
    f, num = v.folded, v.numeric
    out = []

    def disguised(s: int, e: int) -> bool:
        if num[s:e] != f.text[s:e]:
            return True
        return any(
            not c.isascii() and not c.isspace() and c not in _PLAIN_NUMBER_CHARS
            for c in f.source(s, e)
        )

    for rx, kind in ((PERCENT, "percent"), (OFF, "off")):
        for m in rx.finditer(num):
            out.append(
                Amount(
                    kind,
                    float(m.group(1).replace(",", ".")),
                    f.source(*m.span()).strip(),
                    disguised(*m.span()),
                )
            )
    for m in MONEY.finditer(num):
        s, e = m.span(1) if m.group(1) else m.span(2)
        out.append(
            Amount(
                "money",
                float((m.group(1) or m.group(2)).replace(",", ".")),
                f.source(*m.span()).strip(),
                disguised(s, e),
            )
        )
    for m in SPELLED.finditer(f.text):
        if m["half"]:
            value = 50.0
        elif m["hundred"]:
            value = 100.0
        elif m["tens"]:
            value = _TENS[m["tens"]] + (_UNITS.index(m["unit"]) if m["unit"] else 0)
        else:
            value = float(_UNITS.index(m["small"]))
        if m["price"] and not m["half"]:
            continue  # "ten price": not an offer
        if m["off"] and m["small"] == "one":
            continue  # "a one off gift"
        kind = (
            "money" if m["money"] else "percent" if (m["pct"] or m["price"] or m["half"]) else "off"
        )
        out.append(Amount(kind, value, f.source(*m.span()).strip()))
    return out


def contacts(text, *, strict: bool = True) -> list[str]:
    """Email addresses (also spelled out: "x at example dot com") and phone numbers in a text,
    as written. `strict`: a run of digits without a phone's separators counts only after a
    word like "call", "phone" or "text" (an order number is not a phone number)."""
    from agent.assistant.redaction import _DATE, PHONE, PersonalIndex, _email_hits, digits

    v = _views(text)
    f = v.folded
    found = [f.source(s, e) for s, e, _ in _email_hits(f.text, PersonalIndex())]
    view = list(f.text)
    for m in _DATE.finditer(f.text):
        view[m.start() : m.end()] = "x" * (m.end() - m.start())
    view = "".join(view)
    for m in PHONE.finditer(view):
        raw = m.group(0).strip()
        n = len(digits(raw))
        if not 7 <= n <= 15:
            continue
        shaped = raw.startswith(("+", "(")) or len(re.findall(r"\d[ \t().\-/]+(?=\d)", raw)) >= 2
        cue = re.search(
            r"\b(?:call|phone|tel|telephone|mobile|cell|text|sms|whatsapp|ring|dial|fax)\b[^\n]{0,20}$",
            f.text[max(0, m.start() - 40) : m.start()],
        )
        if (n >= 10 and (shaped or not strict)) or cue:
            found.append(f.source(*m.span()).strip())
    return found


def _urls(v: Views) -> list[str]:
    return _hits(URL, v, letters=False)


def _defang(text: str) -> str:
    """Store text quoted in a flag, with links that cannot be followed."""
    return text.replace("://", "[://]").replace(".", "[.]").replace("@", "[at]")


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
    urgent = _hits(URGENCY, v)
    if urgent:
        flags.append(
            Flag(
                "urgency",
                "block",
                "false urgency or pressure: " + ", ".join(repr(u) for u in urgent),
            )
        )
    sensitive = _hits(SENSITIVE, v)
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
    instr = _hits(INSTRUCTION, v)
    if instr:
        flags.append(
            Flag(
                "instruction_text",
                "block",
                "instruction-like text, probably copied from store data: "
                + ", ".join(repr(i) for i in instr),
            )
        )
    urls = _urls(v)
    if urls:
        flags.append(
            Flag(
                "url",
                "review" if by_person else "block",
                "a web address, which the plan never puts in a message: "
                + ", ".join(repr(_defang(u)) for u in urls),
            )
        )
    contact = contacts(v)
    if contact:
        flags.append(
            Flag(
                "contact",
                "review" if by_person else "block",
                "an email address or phone number, which the plan never puts in "
                "a message: " + ", ".join(repr(_defang(c)) for c in contact),
            )
        )
    creds = _hits(CREDENTIALS, v)
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


def codes(text) -> list[str]:
    """Discount codes a text gives: a word after "code", "coupon", "voucher" or "promo" that has
    a digit or is in capitals, and any capitals-and-digits code (EVIL90, SAVE10-13FC89)."""
    v = _views(text)
    f = v.folded
    out = []
    for m in CODE_AFTER.finditer(f.text):
        word = f.source(*m.span(1))
        if re.search(r"\d", v.numeric[m.start(1) : m.end(1)]) or (
            word.isupper() and len(word) >= 3
        ):
            out.append(word.upper())
    for m in CODE_SHAPE.finditer(f.original):  # a product's SKU is not a code: only near an offer
        near = f.original[max(0, m.start() - 40) : m.end() + 40]
        if OFFER_CONTEXT.search(near):
            out.append(m.group(0))
    return list(dict.fromkeys(out))


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
    v = _views(text)
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
    stray += [w for w in _hits(OFFER_WORDS, v) if fold(w).text not in plan_text]
    if not stray:
        return []
    return [
        Flag(
            "offer_not_in_plan",
            "block",
            "offers the plan did not give: " + ", ".join(repr(s) for s in dict.fromkeys(stray)),
        )
    ]


@functools.lru_cache(maxsize=8192)
def store_text_problems(value: str) -> tuple[tuple[str, Severity, str], ...]:
    """Why a piece of store text (a product name, an order number) is not what it claims to be:
    (rule, severity, what it carries); () when it may go into a draft."""
    v = Views.of(value)
    out: list[tuple[str, Severity, str]] = []
    for rule, patterns, what in (
        ("instruction_text", INSTRUCTION, "instruction-like text"),
        ("credentials", CREDENTIALS, "a request for credentials"),
        ("request", REQUESTS, "a request to the reader"),
    ):
        hits = _hits(patterns, v)
        if hits:
            out.append((rule, "block", f"{what} ({', '.join(repr(h) for h in hits)})"))
    if _urls(v):
        out.append(("url", "block", "a web address"))
    if contacts(v, strict=False):
        out.append(("contact", "block", "an email address or phone number"))
    found = amounts(v)
    offers = (
        [a.written for a in found]
        + _hits(STORE_OFFER, v)
        + _hits(OFFER_WORDS, v)
        + [f"code {c}" for c in codes(v)]
    )
    if offers:
        out.append(
            (
                "offer_not_in_plan",
                "block",
                f"an offer ({', '.join(repr(o) for o in dict.fromkeys(offers))})",
            )
        )
    disguised = [a.written for a in found if a.disguised] + mixed_script_words(value)
    if disguised:
        out.append(
            (
                "lookalike",
                "block",
                f"look-alike characters ({', '.join(repr(d) for d in disguised)})",
            )
        )
    if not out and PRICE.search(v.numeric):
        out.append(("store_text", "review", "a price"))
    if len(value) > STORE_TEXT_LIMIT:
        out.append(
            ("store_text", "review", f"{len(value)} characters (more than {STORE_TEXT_LIMIT})")
        )
    return tuple(out)


def check_store_text(value: str, what: str = "product name") -> list[Flag]:
    """`store_text_problems` as flags on the draft the text was meant for, one per rule, saying
    that the text was left out of it."""
    problems = store_text_problems(value)
    if not problems:
        return []
    shown = value if len(value) <= 60 else value[:59] + "…"
    if any(rule in ("url", "contact") for rule, _, _ in problems):
        shown = _defang(shown)
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


# --- the draft as the customer reads it --------------------------------------------------------

PERSONAL_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def clean_fact(value: Any, limit: int = 80) -> str:
    """A fact from store data as plain text: no braces, angle brackets or line breaks."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = re.sub(r"[{}<>\r\n\t]+", " ", str(value)).strip()
    return text[:limit].strip()


def name_or_blank(value: Any) -> str:
    """A customer's first or last name for a message, or "" when it is not a name (a web
    address, a request, digits: text from the customers file like any other)."""
    name = clean_fact(value, 40)
    if not name or not re.fullmatch(r"[^\W\d_]+(?:[ .'’-]{1,2}[^\W\d_]+)*\.?", name):
        return ""
    return "" if store_text_problems(name) else name


def render(draft: Any, customer_row: Mapping | None) -> tuple[str, str]:
    """(subject, body) with the personal placeholders filled from the customer's row; done
    locally, at review or export time. A missing first name becomes "there" ("Hi there,")."""
    get = draft.get if isinstance(draft, Mapping) else (lambda k, d=None: getattr(draft, k, d))
    subject, body = get("subject", "") or "", get("body", "") or ""
    row = customer_row or {}
    name = name_or_blank(row.get("first_name")) if row else ""
    if not name:
        subject = re.sub(r"^\{first_name\},\s*", "", subject)
        subject = re.sub(r",\s*\{first_name\}", "", subject)
        subject = subject[:1].upper() + subject[1:]
    values = {
        "first_name": name or "there",
        "last_name": name_or_blank(row.get("last_name")) if row else "",
    }

    def sub(m: re.Match) -> str:
        key = m.group(1)
        return values[key] if key in values and values[key] else m.group(0)

    return PERSONAL_PLACEHOLDER.sub(sub, subject), PERSONAL_PLACEHOLDER.sub(sub, body)
