"""The first cut of a merchant's message into asks: at strong separators.

A question mark, a semicolon, a sentence's full stop, "also", "then", "plus", "and afterwards",
"and" before a question word or request verb (`cues.SPLIT`), and a customer named again after
words about them ("c15 history c15 why at risk": `asks.at_repeats`) end an ask. A short part
that refers back ("how did that change"), only gives context, a figure or what is not wanted
stays with the part before it; statements before the first ask ("We sent a code last Tuesday.")
lead it. The weaker joins inside a part ("and", a comma, a word gap) are weighed after this by
the ask-split model (`agent.assistant.router.Router._learned_split`), unless the part is asks
typed one after another by name ("c73 profile hist nbp": `keyword_chain`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.assistant.asks import (
    KNOWN_OFF,
    NAMED_WORDS,
    at_repeats,
    given_figure,
    qualifier,
    separated,
)
from agent.assistant.cues import (
    ASK_START,
    BACK_REF,
    CONTEXT,
    KEYWORD_INTENT,
    KEYWORDS,
    NEGATED,
    SPLIT,
)
from agent.assistant.entities import expand

ADDED = re.compile(r"\b(?:also|plus)\b|[+&]", re.I)
"""A separator that adds an ask: a short part after it ("..., and also kpis") is an ask of its own."""

_MARKER = re.compile(r"(?:(?<=\s)|^)\(?(?:([1-9])[).]|([a-hA-H])\))\s+")
"""An item's marker in a list of asks typed in one message: "1)", "2.", "(3)", "a)", "b)"."""

_REPEAT = (
    "\x00"  # `strong_parts`: the cut before a customer named again, a new ask whatever its length
)


def strong_parts(message: str, mentions: Callable[[str], list]) -> list[str]:
    """The message cut at strong separators (a question mark, "also", "then", ...), a short
    part that refers back or only gives context kept with the part before it; `mentions` gives
    the customers a text names (`agent.assistant.entities.customer_mentions`)."""
    message = enumerated(message)
    parts: list[tuple[str, str]] = []  # each part with the separator before it
    sep, at = "", 0
    for m in [*SPLIT.finditer(message), None]:
        p = message[at : m.start() if m else len(message)].strip(" ,.")
        if p:
            word = re.match(r"(?:and|then|also|plus)\s+", p, flags=re.I)
            cut = word.end() if word else 0
            for i, q in enumerate(at_repeats(p[cut:], mentions(p[cut:]))):
                parts.append((sep + p[:cut] if i == 0 else _REPEAT, q))
            sep = ""
        if m:
            sep, at = sep + m.group(0), m.end()
    parts = _weak_plus(parts, mentions)
    merged: list[str] = []
    lead = ""  # statements before the first ask ("We sent a code last Tuesday. Did it work?")
    for sep, p in parts:
        if not merged and _statement(p, message):
            lead = f"{lead}{p}. "
        elif merged and _with_before(sep, p):
            merged[-1] = f"{merged[-1]} and {p}"
        else:
            merged.append(lead + p)
            lead = ""
    if lead:  # statements only: one request
        merged.append(lead.strip(" ."))
    return merged


def _weak_plus(parts: list[tuple[str, str]], mentions) -> list[tuple[str, str]]:
    """A word or two joined by "plus" or "+" to what a customer did ("orders plus messages for
    cust 96") is one part, joined by "and": the ask-split model weighs that join ("kpis and
    c12 profile" are two asks), as it weighs any "and"."""
    out: list[tuple[str, str]] = []
    for sep, p in parts:
        before = out[-1][1] if out else ""
        if (
            out
            and ADDED.fullmatch(sep.strip(" ,").lower())
            and len(before.split()) <= 2
            and not mentions(before)
            and mentions(p)
        ):
            out[-1] = (out[-1][0], f"{before} and {p}")
        else:
            out.append((sep, p))
    return out


def enumerated(message: str) -> str:
    """The message with the markers of a list of asks ("a) the weekly digest b) tickets c)
    ltv:cac", "1. kpis 2. who to call") written as semicolons: markers that count up from 1 or
    a, two or more in a row; any other "5)" or "b)" is left as typed."""
    run: list[re.Match] = []
    for m in _MARKER.finditer(message):
        if run and _label(m) == chr(ord(_label(run[-1])) + 1):
            run.append(m)
        elif len(run) > 1:
            break
        else:
            run = [m] if _label(m) in ("1", "a") else []
    if len(run) < 2:
        return message
    out, at = [], 0
    for m in run:
        out += [message[at : m.start()], "; " if message[: m.start()].strip() else ""]
        at = m.end()
    return "".join(out) + message[at:]


def _label(m: re.Match) -> str:
    return m.group(1) or m.group(2).lower()


def _with_before(sep: str, p: str) -> bool:
    """Whether a part of `strong_parts` (after `sep`) belongs to the part before: it refers
    back, only qualifies it or gives context, a figure or what is not wanted; not after
    `_REPEAT`."""
    return sep != _REPEAT and bool(
        (len(p.split()) < 3 and not (ADDED.search(sep) and not BACK_REF.search(p)))
        or (len(p.split()) <= 4 and BACK_REF.search(p))
        or CONTEXT.search(p)
        or NEGATED.search(p)  # "... ? dont want to spam them": no ask of its own
        or given_figure(p)  # "who should I contact, I have $300"
        or qualifier(p)  # "which customers are about to leave? sorted by value"
    )


_TOLD = re.compile(
    r"^(?:i|i'?m|i am|i'?ve|we|we'?re|we are|we'?ve)\b(?!.*\b(?:looking for|interested|curious|wonder))",
    re.I,
)
"""A part the merchant tells about themselves ("I'm calling customer 812 tomorrow", "we had a
slow week"): context for the ask after it when it asks nothing (`cues.CONTEXT`)."""


def _statement(part: str, message: str) -> bool:
    """A sentence that tells rather than asks ("I can spare 100 dollars on incentives.",
    "Customer 900 just bought a grinder."): four words or more, ended by a full stop in the
    message (not a question mark), or by any separator when the merchant tells about
    themselves (`_TOLD`), and not opening with a question word or a request; or a
    figure given before the ask it is for ("I have $350, who should I contact", "my CAC is $55,
    what's the ratio")."""
    if given_figure(part):
        return True
    if len(part.split()) < 4 or ASK_START.search(part):
        return False
    if _TOLD.search(part) and CONTEXT.search(part):  # "I'm calling customer 812 tomorrow, ..."
        return True
    at = message.find(part)
    rest = message[at + len(part) :].lstrip() if at >= 0 else ""
    return rest.startswith(".") and not rest.startswith("..")


CHAIN_ASKS = 3
"""A message typed as this many asks or more with no separator, each named by its keyword
("c73 profile hist nbp", "at risk list overview ltv cac"), is cut before each keyword."""


_LEADS = {
    *("who", "to", "should", "i", "we", "what", "whats", "how", "which", "show", "me", "my", "the"),
    *("our", "segment", "segments"),
}
"""Words that lead an ask ("who to contact", "segment change"): a `keyword_chain` cut goes
before them."""


_TERSE = re.compile(
    r"(?:" + "|".join(sorted(_LEADS)) + r"|for|of|by|them|pls|please|customers?|cust|client|id|list"
    r"|vs|last|this|week|month|today|results|products?|sizes"
    r"|#?c?\d[\d,.:$%]*|\$?\d[\w,.]*|[a-z]?\d+)[,.:;!?]*",
    re.I,
)
"""A word of a `keyword_chain` outside its keywords: a word that leads an ask, a customer's id
or a figure ("c73", "cac 28")."""


_NAMES = [
    (KEYWORD_INTENT.get(key, key), re.compile(rf"(?:{pat})\w*[,.:;!?]*"), re.compile(pat))
    for key, (pat, _) in KEYWORDS.items()
]
"""Each keyword cue's intent, the cue spanning whole words, and the cue anywhere."""
_SENTENCE = re.compile(ASK_START.pattern + r"|\s*explain\b", re.I)


def keyword_chain(text: str) -> list[str] | None:
    """The asks of a message typed as `CHAIN_ASKS` or more named asks with no separator between
    them, cut before the first keyword of each (`cues.KEYWORDS`, each word written out as
    `entities.expand` writes it: "nbp", "hist"); None when the words name fewer, a piece's
    keywords name two intents at once, or the message has a separator."""
    words = text.split()
    if len(separated(text)[0]) != 1 or len(words) > 3 * NAMED_WORDS or _SENTENCE.match(text):
        return None  # a message that opens as a question or request is a sentence
    spelled = [expand(w.lower()) for w in words]
    found: list[tuple[int, int, str]] = []  # (first word, last word, intent) of each keyword
    for a in range(len(words)):  # the words a keyword spans, in full ("incremental revenue")
        for b in range(a, min(a + NAMED_WORDS, len(words))):
            piece = " ".join(spelled[a : b + 1])
            found += [
                (a, b, intent)
                for intent, whole, anywhere in _NAMES
                if whole.fullmatch(piece)
                or (a == b and " " in piece and anywhere.search(piece))  # "nbp": written out
            ]
    found = [  # a keyword inside a longer one of another intent is part of it ("segment change");
        f  # one of words that only time or lead an ask ("this week") names none
        for f in found
        if not any(g[0] <= f[0] and f[1] <= g[1] and g[1] - g[0] > f[1] - f[0] for g in found)
        and not all(_TERSE.fullmatch(w) for w in words[f[0] : f[1] + 1])
    ]
    covered = {i for a, b, _ in found for i in range(a, b + 1)}
    if any(i not in covered and not _TERSE.fullmatch(w) for i, w in enumerate(words)):
        return None  # words that name no ask: a sentence, not asks typed one after another
    groups: list[tuple[str, int, int]] = []  # (intent, first word, last word) of each ask
    for a, b, intent in sorted(found):
        if groups and groups[-1][0] == intent:
            groups[-1] = (intent, groups[-1][1], max(b, groups[-1][2]))
        elif groups and a <= groups[-1][2]:  # two intents' keywords in the same words
            return None
        else:
            groups.append((intent, a, b))
    if len(groups) < CHAIN_ASKS or any(g[0] in KNOWN_OFF for g in groups):
        return None
    cuts = [0]
    for prev, g in zip(groups, groups[1:]):  # the words that lead an ask go with it: "brief |
        at = g[1]  # who to contact | tickets"
        while at - 1 > prev[2] and words[at - 1].lower() in _LEADS:
            at -= 1
        cuts.append(at)
    cuts.append(len(words))
    return [" ".join(words[i:j]) for i, j in zip(cuts, cuts[1:])]
