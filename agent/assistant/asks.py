"""Where one ask of a message ends and the next begins, when no clear separator says so.

"revenue by segment and AOV", "overview, kpis", "kpis segment sizes": an "and", a comma, a "+",
"&", a spaced "/", "then", "after that", or only a space may join two asks, or sit inside one ("at-risk
Champions and their reasons", "churn risk list for Champions"). The places weighed are the
separators, a question word or request verb inside the message, and, in a short part typed with
neither, every word gap but those after a preposition or article (`boundaries`). A side that says
what is not wanted ("not just the kpis": `negated`), only qualifies the ask before it ("sorted by
value": `qualifier`), only gives a figure ("I have $350": `given_figure`) or is a short one not
naming its intent ("orders": `anchored`) is no ask.
Each other boundary is scored by a small logistic regression (scikit-learn) over what the router
reads on either side of it: the separator and the word after it, the length of each side, the
intent each side classifies as and how confidently, how much better the two sides fit than the
whole, whether the right side refers back, which side names a customer and whether each names
its intent by one of its keywords (`cues.KEYWORDS`). It is trained on the
dev phrasings only (a boundary of a phrasing with one expected intent does not split; one of a
multi-ask phrasing splits when its two sides read as two of the expected intents, in order), by
`python -m evals.quality.train_router`, and shipped as JSON in `agent/data/ask_split.json`
(`agent.assistant.router.Router.route` uses it; without it, or with another embedder, the
router keeps its fixed "and the ..." rule).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from agent.assistant.cues import GIVEN_FIGURE, KEYWORD_INTENT, KEYWORDS, NEGATED, QUALIFIER
from agent.assistant.entities import CUSTOMER_SYNONYMS

MODEL_FILE = "ask_split.json"
BOUNDARY = re.compile(
    r"\s*,\s*(?:and\s+|then\s+|plus\s+|after that\s+|as well as\s+)?"
    r"|\s+(?:and then|after that|as well as|and|then|plus|aur|n|&|\+|/)\s+",
    re.I,
)
"""A place two asks may meet: a comma, "and", "then", "plus", "after that", "as well as", "&",
"+", a spaced "/", or the shorthand "n" and Hindi "aur" ("and")."""
GAP_WORDS = 10
"""Up to this many words, a part with no separator is weighed at every word gap too ("kpis
segment sizes", "c808 history next best product": asks typed one after the other)."""
THRESHOLD = 0.75
"""The boundary's probability above which the message is split there. In sample (dev splits and
held-out 1, 1,698 phrasings, 2026-12-04) 0.7, 0.75 and 0.8 routed 1,656, 1,657 and 1,655 right.
With each of dev 5, 6 and 7 left out of the split model's training and routed (804 phrasings,
2026-12-07), 0.75, 0.70 and 0.65 routed 768, 772 and 772 right: 0.70 splits more asks typed one
after another ("ltv cac cac 50 kpis") but also "zendesk complaints | overview" (0.74), one ask,
and "why | at risk" inside "my best customer - why at risk?", so it stays 0.75. The single ask
"overview of my customers and what they're worth" scores 0.71."""
MIN_SIDE = 0.55
"""The score each side's intent needs before a boundary is weighed at all."""
_DET = re.compile(r"^(?:the|their|his|her|my|our|its|each|every|all)\b", re.I)
_QUESTION = re.compile(
    r"^(?:what|whats|what's|how|who|whos|who's|which|why|when|where|is|are|did|do|does|any)\b", re.I
)
_VERB = re.compile(
    r"^(?:show|list|give|tell|draft|write|pull|suggest|recommend|get|send|make|prep|compare|find)\b",
    re.I,
)
_ASK_WORD = re.compile(
    r"^(?:what|whats|what's|how|why|whos|who's|show|give|tell|draft|write|pull|suggest|recommend"
    r"|send|prep|compare|find)\b",
    re.I,
)
"""A word that starts an ask inside a message ("list top 5 customers draft emails ... how did the
campaign do"): `_QUESTION` and `_VERB` less the words as often inside one ask there ("customers
who ...", "where the reason is ...", "risk list", "are", "did")."""


def opens_ask(side: str) -> bool:
    """Whether `side` opens with a word that starts an ask (`_ASK_WORD`: "show ...", "what ...")."""
    return bool(_ASK_WORD.search(side))


_BACK = re.compile(
    r"\b(?:that|it|this|those|these|they|them|he|she|him|her|his|their|ones?)\b", re.I
)
_CUSTOMERS = r"customers?|custs?|buyers?|" + "|".join(f"{w}s?" for w in CUSTOMER_SYNONYMS)
"""A shop's words for its customers: no ask starts with one ("our at-risk | readers")."""
_JOINS_END = re.compile(
    r"\b(?:for|of|in|on|with|by|to|from|at|per|since|vs|than|about|the|a|an|my|our|your|their|his"
    r"|her|its|and|or|is|are|was|were|whose|most|top|each|every|all|this|that|last|next)$",
    re.I,
)
_JOINS_START = re.compile(
    r"^(?:for|of|in|on|with|by|to|from|at(?![\s-]*risk\b)|per|since|vs|than|about"
    r"|whose|that|which|pls|please"
    rf"|plz|is|are|was|were|{_CUSTOMERS}|list)\b",
    re.I,
)
"""A word gap no ask ends or begins at: after a preposition, article or possessive ("list for
the | champions segment"), before a preposition, a relative word or the noun of the phrase
before ("churn risk list for mid value | customers"), or before a relative "who" (`_WHO`).
"at risk" is the at-risk list ("kpis | at risk"), and "who should", "who to" open a question
("brief | who should i contact"); but "at risk" after the customers it describes is part of
their ask ("top 10 customers at risk")."""
_PEOPLE = _CUSTOMERS + r"|spenders?|people|ones|vips?|champions|loyal|loyalists?|users|accounts"
_DESCRIBED = re.compile(rf"\b(?:{_PEOPLE})$", re.I)
_AT_RISK = re.compile(r"^at[\s-]*risk\b", re.I)
_WHO = re.compile(r"^who(?!\s+(?:should|to|do|can|shall|must|needs?|gets?)\b)", re.I)
_PERSONS = re.compile(rf"\b(?:{_PEOPLE}|everyone|everybody|anyone|anybody|those|them|all)$", re.I)
"""A relative "who" joins the people before it ("customers | who bought twice", "everyone | who
opted in"); after anything else ("show me the brief | who is at risk") it opens a question."""
FEATURES = (
    "comma", "and", "comma_and", "plus", "then", "gap", "next_det", "next_question", "next_verb",
    "log_words_left", "log_words_right", "short_side", "distinct", "both_known", "score_left",
    "score_right", "margin_left", "margin_right", "score_whole", "whole_is_a_side", "gain",
    "back_ref_right", "cross_left", "cross_right", "id_left_only", "id_both", "keyword_left",
    "keyword_right",
)  # fmt: skip
KNOWN_OFF = (None, "help")


@dataclass(frozen=True)
class Side:
    """What the router read in one side of a boundary (or the whole message)."""

    intent: str | None
    scores: dict[str, float]
    has_id: bool = False
    """Whether the side itself names a customer (not one it inherits from the side before)."""

    @property
    def top(self) -> float:
        return self.scores[self.intent] if self.intent else max(self.scores.values())

    @property
    def margin(self) -> float:
        s = sorted(self.scores.values(), reverse=True)
        return s[0] - s[1] if len(s) > 1 else s[0]


def boundaries(text: str, gaps: bool = True) -> list[tuple[str, str, str]]:
    """(left, separator, right) at each place two asks may meet, both sides non-empty: at each
    separator (`BOUNDARY`) but an "and" under a `shared_quantity`; before a question word or a
    request verb inside the text ("list top 5 customers draft emails ... how did the campaign
    do"); and, in a short part with neither, at every word gap (`GAP_WORDS`; when `gaps`). The
    separator of the last two kinds is " "."""
    out = []
    for m in BOUNDARY.finditer(text):
        left, right = text[: m.start()].strip(" ,."), text[m.end() :].strip(" ,.")
        if left and right and not shared_quantity(left, m.group(0), right):
            out.append((left, m.group(0), right))
    at_gaps = [
        m.start()
        for m in re.finditer(r"(?<=\S)\s+(?=\S)", text)
        if not (
            _JOINS_END.search(text[: m.start()])
            or _JOINS_START.search(text[m.end() :])
            or (_AT_RISK.search(text[m.end() :]) and _DESCRIBED.search(text[: m.start()]))
            or (_WHO.search(text[m.end() :]) and _PERSONS.search(text[: m.start()]))
        )
    ]
    for at in at_gaps:
        left, right = text[:at].strip(" ,."), text[at:].strip(" ,.")
        if not (left and right) or any(left == a and right == b for a, _, b in out):
            continue
        if _ASK_WORD.search(right):
            out.append((left, " ", right))
    if gaps and not out and len(at_gaps) < GAP_WORDS:
        out = [(text[:at].strip(" ,."), " ", text[at:].strip(" ,.")) for at in at_gaps]
        out = [(a, sep, b) for a, sep, b in out if a and b]
    return out


_TRAILING_JOIN = re.compile(r"[\s,.]+(?:and|then|also|plus)$", re.I)


def at_repeats(part: str, mentions) -> list[str]:
    """`part` cut before each mention (`agent.assistant.entities.customer_mentions`) of a
    customer it already named, with words between ("c15 history c15 why at risk c15 draft"):
    naming them again starts another ask."""
    seen: set[str] = set()
    cuts, last = [], 0
    for m in mentions:
        if m.customer_id in seen and re.search(r"[a-z]{2}", part[last : m.start], re.I):
            cuts.append(m.start)
        if m.customer_id is not None:
            seen.add(m.customer_id)
        last = m.end
    bounds = [0, *cuts, len(part)]
    pieces = (part[a:b].strip(" ,.") for a, b in zip(bounds, bounds[1:]))
    return [q for p in pieces if (q := _TRAILING_JOIN.sub("", p))]


_QUANTITY = re.compile(
    r"^(?:(?:the|my|our) )?(?:total|overall|average|avg|mean|median|(?:number|count|sum|share) of)\b",
    re.I,
)


def shared_quantity(left: str, sep: str, right: str) -> bool:
    """Two nouns under one quantity word ("total customers and revenue so far", "average order
    value and frequency"): joined by "and" or "&", the right a bare noun phrase of three words
    or fewer (no determiner, question word or request verb), the quantity is asked of both,
    one ask."""
    return (
        sep.strip().lower() in ("and", "&")
        and bool(_QUANTITY.search(left))
        and len(right.split()) <= 3
        and not (_DET.search(right) or _QUESTION.search(right) or _VERB.search(right))
    )


def separated(text: str) -> tuple[list[str], list[str]]:
    """The pieces of `text` between its separators (`BOUNDARY`), and the separator after each
    piece but the last ("kpis, campaign results, and the brief": three pieces, ", " and ", and ")."""
    pieces, seps, last = [], [], 0
    for m in BOUNDARY.finditer(text):
        piece = text[last : m.start()].strip(" ,.")
        if piece:
            pieces.append(piece)
            seps.append(m.group(0))
        last = m.end()
    rest = text[last:].strip(" ,.")
    if rest:
        pieces.append(rest)
    return pieces, seps[: max(len(pieces) - 1, 0)]


def negated(side: str) -> bool:
    """A side that says what the merchant does not want ("not just the kpis", "no discounts"):
    no ask of its own."""
    return bool(NEGATED.search(side))


def _keyword(side: str, intent: str | None) -> bool:
    """Whether one of `intent`'s keyword cues (`agent.assistant.cues.KEYWORDS`) is in `side`."""
    low = side.lower()
    return any(
        KEYWORD_INTENT.get(k, k) == intent and re.search(pat, low)
        for k, (pat, _) in KEYWORDS.items()
    )


ANCHOR_WORDS = 2
"""A side of this many words or fewer is an ask of its own only when it names its intent."""


def anchored(side: str, intent: str | None) -> bool:
    """Whether a short side (`ANCHOR_WORDS`) names its intent outright ("kpis", "tickets",
    "weekly brief"), not only words of the ask around it ("segment", "orders", "average value"):
    longer sides always do."""
    return len(side.split()) > ANCHOR_WORDS or _keyword(side, intent)


NAMED_WORDS = 4
"""A piece of a list of this many words or fewer that names its intent is shorthand for one ask."""


def shorthand(pieces: list[str], seps: list[str]) -> bool:
    """Short pieces (`NAMED_WORDS`) between commas, "+" or "&", not "and": the shape of a
    `named_list`, told from the text alone. (Joined by "and", two named pieces may be one ask:
    "total customers and revenue so far".)"""
    return not any(re.search(r"[a-z]", s, re.I) for s in seps) and all(
        len(p.split()) <= NAMED_WORDS for p in pieces
    )


def named_list(pieces: list[str], seps: list[str], sides: list[Side]) -> bool:
    """A `shorthand` list whose pieces each name an intent of their own by one of its keywords
    ("AT RISK LIST, CAMPAIGN RESULTS, LTV CAC", "weekly digest, segment summary"): dashboard
    shorthand for as many asks, whatever the split model makes of one comma."""
    return (
        shorthand(pieces, seps)
        and len({s.intent for s in sides}) == len(sides)
        and all(_keyword(p, s.intent) for p, s in zip(pieces, sides))
    )


def qualifier(side: str) -> bool:
    """A side that only qualifies the ask before it: how to sort it ("sorted by value") or the
    tone of a draft ("friendly tone", "keep it short and friendly")."""
    return bool(QUALIFIER.search(side))


_RUN_ON = re.compile(r"^(?:what'?s|whats|what|how|why|who (?:should|to))\s+\w", re.I)
_ASKED = re.compile(r"\b(?:what'?s|whats|what|how|why|who)\b", re.I)


def run_on(left: str, right: str) -> bool:
    """Two questions typed one after the other with nothing between them: the right side of a
    word gap opens with a question word and the left asks one already ("customer #210 what
    they bought what to recommend", "whats c13 churn chance what should i sell her next")."""
    return bool(_RUN_ON.search(right.strip()) and _ASKED.search(left))


def given_figure(side: str) -> bool:
    """A side that only gives a figure (`cues.GIVEN_FIGURE`: "I have $350", "my CAC is $55"),
    on either side of the ask it qualifies."""
    return bool(GIVEN_FIGURE.search(side.strip(" ,.")))


def features(sep: str, left: str, right: str, a: Side, b: Side, whole: Side) -> list[float]:
    """The boundary's feature vector, in the order of `FEATURES`."""
    s = sep.strip().lower()
    kind = (
        "gap"
        if not s
        else "comma_and"
        if s.startswith(",") and len(s) > 1
        else "comma"
        if s == ","
        else "plus"
        if s in ("+", "&", "plus")
        else "then"
        if "then" in s
        else "and"
    )
    wl, wr = len(left.split()), len(right.split())
    known = a.intent not in KNOWN_OFF and b.intent not in KNOWN_OFF
    return [
        *(float(kind == k) for k in ("comma", "and", "comma_and", "plus", "then", "gap")),
        float(bool(_DET.search(right))),
        float(bool(_QUESTION.search(right))),
        float(bool(_VERB.search(right))),
        math.log1p(wl),
        math.log1p(wr),
        float(min(wl, wr) < 3),
        float(a.intent != b.intent),
        float(known),
        a.top,
        b.top,
        a.margin,
        b.margin,
        whole.top,
        float(whole.intent in (a.intent, b.intent)),
        (a.top + b.top) / 2 - whole.top,
        float(bool(_BACK.search(" ".join(right.split()[:4])))),
        a.scores.get(b.intent, 0.0) if b.intent else 0.0,
        b.scores.get(a.intent, 0.0) if a.intent else 0.0,
        float(a.has_id and not b.has_id),
        float(a.has_id and b.has_id),
        float(_keyword(left, a.intent)),
        float(_keyword(right, b.intent)),
    ]


def weighed(a: Side, b: Side) -> bool:
    """Whether a boundary may separate two asks at all: both sides read as distinct intents a
    tool answers, each with a score of `MIN_SIDE` or more."""
    return (
        a.intent not in KNOWN_OFF
        and b.intent not in KNOWN_OFF
        and a.intent != b.intent
        and min(a.top, b.top) >= MIN_SIDE
    )


@dataclass(frozen=True)
class SplitModel:
    """A standardised logistic regression over `FEATURES`, as plain numbers."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    embedder: str
    digest: str

    @classmethod
    def load(cls, path=None) -> SplitModel | None:
        """The shipped model, or None when there is none (or it was fitted on other features)."""
        src = Path(path) if path is not None else files("agent") / "data" / MODEL_FILE
        try:
            d = json.loads(src.read_text())
        except FileNotFoundError:
            return None
        if tuple(d["features"]) != FEATURES:
            return None
        return cls(
            tuple(d["mean"]),
            tuple(d["scale"]),
            tuple(d["coef"]),
            float(d["intercept"]),
            d["embedder"],
            d["digest"],
        )

    def save(self, path) -> None:
        d = {"features": list(FEATURES), **self.__dict__}
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        Path(path).write_text(json.dumps(d, indent=1) + "\n")

    def fits(self, embedder) -> bool:
        return getattr(embedder, "name", None) == self.embedder

    def proba(self, x: list[float]) -> float:
        """P(the boundary separates two asks)."""
        z = self.intercept + sum(
            c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def train(X: list[list[float]], y: list[int], *, embedder: str, digest: str) -> SplitModel:
    """Fit the scaler and the logistic regression (scikit-learn, lbfgs, balanced classes)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(np.asarray(X, dtype=float))
    lr = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
    lr.fit(sc.transform(np.asarray(X, dtype=float)), np.asarray(y))
    scale = np.where(sc.scale_ > 0, sc.scale_, 1.0)
    return SplitModel(
        tuple(float(v) for v in sc.mean_),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in lr.coef_[0]),
        float(lr.intercept_[0]),
        embedder,
        digest,
    )
