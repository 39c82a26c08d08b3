"""A text as the guardrails read it, and what it contains.

`Views` folds a text (case, accents, invisible and look-alike characters; agent.outreach.textfold)
with digits for letters in words and letters for digits in numbers; `hits_of` finds a word list's
phrasings (agent.outreach.wordlists) in any view; `amounts`, `contacts`, `codes` and `urls_in`
pull out the percentages and money-off amounts, email addresses and phone numbers, discount
codes and web addresses a text holds. `store_text_problems` says why a piece of store text (a
product name, an order number) is not what it claims to be.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from agent.outreach.textfold import Folded, fold, lettered, mixed_script_words, numeric
from agent.outreach.wordlists import (
    CODE_AFTER,
    CODE_SHAPE,
    CREDENTIALS,
    INSTRUCTION,
    MONEY,
    OFF,
    OFFER_CONTEXT,
    OFFER_WORDS,
    PERCENT,
    PRICE,
    REQUESTS,
    SPELLED,
    STORE_OFFER,
    TENS,
    UNITS,
    URL,
)

Severity = Literal["block", "review"]


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


def as_views(text) -> Views:
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


def hits_of(patterns: list[str], text, *, letters: bool = True) -> list[str]:
    """The first match of each pattern, on the text as written and as its views read it, as
    the original text has it there."""
    v = as_views(text)
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
    v = as_views(text)
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
            value = TENS[m["tens"]] + (UNITS.index(m["unit"]) if m["unit"] else 0)
        else:
            value = float(UNITS.index(m["small"]))
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

    v = as_views(text)
    f = v.folded
    found = [f.source(s, e) for s, e, _ in _email_hits(f.text, PersonalIndex())]
    chars = list(f.text)
    for m in _DATE.finditer(f.text):
        chars[m.start() : m.end()] = "x" * (m.end() - m.start())
    view = "".join(chars)  # the text with its dates masked: a date is not a phone number
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


def urls_in(v: Views) -> list[str]:
    return hits_of(URL, v, letters=False)


def defang(text: str) -> str:
    """Store text quoted in a flag, with links that cannot be followed."""
    return text.replace("://", "[://]").replace(".", "[.]").replace("@", "[at]")


def codes(text) -> list[str]:
    """Discount codes a text gives: a word after "code", "coupon", "voucher" or "promo" that has
    a digit or is in capitals, and any capitals-and-digits code (EVIL90, SAVE10-13FC89)."""
    v = as_views(text)
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


STORE_TEXT_LIMIT = 80
"""The longest product name (or other store text) a draft takes, in characters."""


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
        hits = hits_of(patterns, v)
        if hits:
            out.append((rule, "block", f"{what} ({', '.join(repr(h) for h in hits)})"))
    if urls_in(v):
        out.append(("url", "block", "a web address"))
    if contacts(v, strict=False):
        out.append(("contact", "block", "an email address or phone number"))
    found = amounts(v)
    offers = (
        [a.written for a in found]
        + hits_of(STORE_OFFER, v)
        + hits_of(OFFER_WORDS, v)
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
