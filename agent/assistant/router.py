"""Offline routing: which intent a request is, and the asks of a message of several.

A request is mapped to an intent by cosine similarity between its embedding (the local
MiniLM, `knowledge.default_embedder`) and a few example phrasings per intent
(`agent.assistant.prompts.INTENT_EXAMPLES`), plus what an intent model learned from the labelled
dev phrasings (`agent.assistant.intent_model`), nudged by keywords and by what the request
names (`agent.assistant.nudges`, over `agent.assistant.cues` and `agent.assistant.entities`):
`Router.classify`. A question only reads: the one intent that writes (draft) needs a request.
Several asks in one message are split and each routed (`Router.route`).
"""

from __future__ import annotations

import functools
import re

import numpy as np

from agent.assistant.asks import (
    ANCHOR_WORDS,
    KNOWN_OFF,
    MIN_SIDE,
    THRESHOLD,
    Side,
    SplitModel,
    anchored,
    boundaries,
    features,
    given_figure,
    named_list,
    negated,
    opens_ask,
    qualifier,
    run_on,
    separated,
    shorthand,
    weighed,
)
from agent.assistant.cues import (
    ADVICE_Q,
    AND_SPLIT,
    ASK_START,
    BACK_REF,
    OUT_OF_SCOPE,
    PERSON_REF,
    SHOP_ACTION,
)
from agent.assistant.entities import Entities, customer_mentions, direct, expand, extract, spoken
from agent.assistant.intent_model import NONE, WEIGHT, IntentModel
from agent.assistant.nudges import (
    CUSTOMER_INTENTS,
    entity_nudges,
    keyword_boosts,
    list_nudges,
    write_nudges,
)
from agent.assistant.parts import keyword_chain, strong_parts
from agent.assistant.prompts import INTENT_EXAMPLES

MIN_SCORE = 0.38
EXAMPLE_ID = "C000123"
"""The customer id the intent examples use (`agent.assistant.prompts.INTENT_EXAMPLES`)."""
INHERIT_MARGIN = 0.5
"""How much better an ask after one naming a customer must read on its own than as about that
customer to be read on its own (`Router.route`)."""
OFF_TOPIC = 0.0
"""An ask of several whose best intent scores below this reads as no tool's ("what's the weather
in Madrid"): it is answered as such, the others by their tools."""
_CACHE: dict[int, tuple[list[str], np.ndarray]] = {}


@functools.lru_cache(maxsize=1)
def _ask_split_model() -> SplitModel | None:
    """The shipped ask-split model, loaded once per process (None when there is none)."""
    return SplitModel.load()


@functools.lru_cache(maxsize=1)
def _intent_model() -> IntentModel | None:
    """The shipped intent model, loaded once per process (None when there is none)."""
    return IntentModel.load()


class Router:
    """Maps a request to an intent (`classify`) and splits a message of several asks (`route`)."""

    def __init__(self, session, embedder=None) -> None:
        self.session = session
        self._embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def _embed(self, texts: list[str]) -> list[np.ndarray]:
        """Unit embeddings of normalised requests, each embedded once per router (a message's
        candidate asks are embedded together, in one batch)."""
        if len(self._vectors) > 4096:
            self._vectors.clear()
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            vecs = _unit(np.asarray(self.embedder.embed(new), dtype=float))
            self._vectors.update(zip(new, vecs))
        return [self._vectors[t] for t in texts]

    def _prefetch(self, texts: list[str]) -> None:
        self._embed([_normalised(self.session, t) for t in texts])

    @property
    def embedder(self):
        return self._embedder or self.session.embedder

    def _examples(self) -> tuple[list[str], np.ndarray]:
        key = id(self.embedder)
        if key not in _CACHE:
            labels = [i for i, xs in INTENT_EXAMPLES.items() for _ in xs]
            texts = [expand(x) for xs in INTENT_EXAMPLES.values() for x in xs]  # as requests are
            _CACHE[key] = (labels, _unit(np.asarray(self.embedder.embed(texts), dtype=float)))
        return _CACHE[key]

    def classify(
        self, text: str, ents: Entities | None = None
    ) -> tuple[str | None, dict[str, float]]:
        """The intent (None when nothing fits well enough) and every intent's score: how close
        the request is to each intent's examples, what the intent model reads in it, then the
        nudges of its keywords, of what it names, of whether it asks to write, and of the lists
        it asks for, in that order. An action on the shop (`cues.SHOP_ACTION`) fits none."""
        ents = ents or extract(self.session, text)
        scores = self._similarities(text)
        low = expand(text.lower())
        keyword_boosts(scores, low)
        has_id = ents.names_customer
        named = bool(customer_mentions(self.session, text))
        entity_nudges(scores, low, ents, has_id=has_id, named=named)
        write_nudges(scores, text, low)
        list_nudges(scores, text, low, ents, has_id=has_id)
        best = max(scores, key=scores.__getitem__)
        if SHOP_ACTION.search(text):  # "refund c400 last order": an action, no tool's ask
            return None, scores
        return (best if scores[best] >= MIN_SCORE else None), scores

    def _similarities(self, text: str) -> dict[str, float]:
        """Each intent's best cosine between the request and its examples, moved by what the
        intent model learned from the labelled phrasings (when it fits this embedder)."""
        labels, mat = self._examples()
        norm = _normalised(self.session, text)
        q = self._embed([norm])[0]
        sims = mat @ q
        scores: dict[str, float] = {}
        for lab, s in zip(labels, sims):
            scores[lab] = max(scores.get(lab, -1.0), float(s))
        model = _intent_model()
        if model is not None and model.fits(self.embedder):  # what the labelled phrasings taught
            proba = model.proba(norm, q)
            none = proba.get(NONE, 0.0)  # the more it reads as no tool's, the less any fits
            for intent in scores:
                scores[intent] += WEIGHT * (proba.get(intent, 0.0) - none)
        return scores

    def route(self, message: str) -> list[tuple[str | None, Entities, str]]:
        """(intent, entities, text) for each ask in the request: several asks in one ("repeat
        rate? also who should I contact") are split at strong separators and each is routed;
        a short part that refers back ("how did that change") stays with the part before it,
        and parts with the same intent are one ask. Spoken fillers ("um", "uh") are no part of
        any ask."""
        message = spoken(message)  # without "um" and "uh", and Hinglish in English
        merged = [direct(p) for p in self._parts(message)]  # "tell me if it's ok": "is it ok"
        message = direct(message)
        whole = extract(self.session, message)  # (a send, blast or export is set aside by `ask`)
        if self._split_model() is not None:  # where "and", a comma or "+" joins two asks
            merged = [q for p in merged for q in self._learned_split(p)]
        elif len(merged) == 1:  # "the weekly brief and the segment changes": two asks if both
            merged = self._and_split(merged[0]) or merged  # halves are
        if len(merged) > 1 and (asks := self._route_asks(merged, whole)):
            return asks
        intent, _ = self.classify(message, whole)
        if intent == "help" and len(merged) == 1 and merged[0] != message:  # "hey! how does this
            ask = merged[0]  # work, and can you show me my Champions": the ask left once the
            e = extract(self.session, ask)  # greeting is set aside
            ask_intent, _ = self.classify(ask, e)
            if ask_intent not in KNOWN_OFF:
                return [(ask_intent, e, ask)]
        return [(intent, whole, message)]

    def _route_asks(
        self, merged: list[str], whole: Entities
    ) -> list[tuple[str | None, Entities, str]] | None:
        """Each ask of a message of several routed, with the customer an ask names carried to
        the asks after it; None when they are better read as one request."""
        routed: list[tuple[str | None, Entities, str]] = []
        named: Entities | None = None  # the last ask that named a customer
        off: list[str] = []  # the asks that read as no tool's at all ("change the banner")
        for p in merged:
            e = extract(self.session, p)
            own = e.names_customer
            if own:
                named = e
            elif not ADVICE_Q.search(p):  # advice is general ("... what's the best time of day
                # to send it?", "why is my best customer at risk and what should i do about it");
                # else the customer named before ("who is C000777, what did they buy"), or one
                # named only later ("my best customers list, then tell me about c12") when
                # this ask refers to someone ("why are they at risk? C000123")
                src = named or (whole if _refers(p) else None)
                if src is not None:
                    e.about(src)
                e.rank = e.rank or whole.rank
            intent, scores = self.classify(_about(p, e, own), e)
            if not own and e.customer_ids:  # "... what has he bought? is there a good
                alone, plain = self.classify(p, e)  # playbook for customers like him?": an
                if (  # ask that reads far better as one of its own is not about them
                    alone is not None
                    and alone not in CUSTOMER_INTENTS
                    and plain[alone] >= max(scores.values()) + _inherit_margin(p)
                ):
                    intent = alone
            if (
                intent == "help"
                and any(r[0] not in KNOWN_OFF for r in routed)
                and ADVICE_Q.search(p)
            ):
                intent = "playbook"  # "churn this week, at risk customers, and what to do":
                # advice on the asks before, not how to use the assistant (as it reads alone)
            if intent == "draft":  # "... at-risk customers, then draft emails for the top 3"
                e.at_risk = e.at_risk or whole.at_risk
            if intent is None and max(scores.values()) < OFF_TOPIC:
                off.append(p)
            if any(r[0] == intent and r[1].customer_ids == e.customer_ids for r in routed):
                continue  # the same ask twice ("tickets themes and ... on complaints")
            routed.append((intent, e, p))
        kept = self._overlaps(routed, whole)
        known = [r for r in kept if r[0] not in (None, "help")]
        acts = [
            r
            for r in kept
            if r[0] is None and (r[2] in off or OUT_OF_SCOPE.search(expand(r[2].lower())))
        ]
        if known and acts:  # "refund order 8812 and show me at risk customers": each ask a
            return [r for r in kept if r in known or r in acts]  # tool answers, and the rest
        if known and all(r[0] == "help" for r in kept if r not in known):  # "hey! how does
            return known  # this work, and can you show me my Champions": the ask is the list
        if len(known) > 1 or (known and len(kept) < len(routed)):  # said to be no tool's
            return known
        return None

    def _parts(self, message: str) -> list[str]:
        """The message cut at strong separators (`agent.assistant.parts.strong_parts`)."""
        return strong_parts(message, lambda text: customer_mentions(self.session, text))

    def _split_model(self) -> SplitModel | None:
        model = _ask_split_model()
        return model if model is not None and model.fits(self.embedder) else None

    def _side(self, text: str, ents: Entities, own_id: bool | None = None) -> Side:
        intent, scores = self.classify(text, ents)
        has_id = ents.names_customer
        return Side(intent, scores, has_id if own_id is None else own_id)

    def _boundary_sides(
        self, text: str, gaps: bool = True, typed: bool = False
    ) -> list[tuple[str, str, str, Side, Side, Side]]:
        """Each place two asks may meet in `text` (`agent.assistant.asks.boundaries`), with what
        the router reads in its left side, its right side (about the left's customer when it
        names none: "C000123, value, churn chance" reads "value" as C000123's) and the whole.
        Word gaps are weighed unless the text opens as a question or request ("who should I
        contact this week"), or it is `typed`: a side of a split at a word gap, asks typed one
        after another ("brief who to contact tickets")."""
        opens = bool(ASK_START.search(text))
        found = boundaries(text, gaps=gaps and (typed or not opens))
        tail = gaps and opens and not typed and not found  # "why c333 at risk ltv cac": a
        if tail:  # named ask typed after the question, its last words
            found = [
                x
                for x in boundaries(text)
                if len(x[2].split()) <= ANCHOR_WORDS or run_on(x[0], x[2])
            ]
        if not found:
            return []
        whole = extract(self.session, text)
        sides = []
        for a, sep, b in found:
            ea, eb = extract(self.session, a), extract(self.session, b)
            own = eb.names_customer
            if not own:
                eb.about(ea)
                eb.rank = eb.rank or ea.rank
            sides.append((a, sep, b, ea, eb, own))
        self._prefetch(
            [text, *(x for a, _, b, _, eb, own in sides for x in (a, _about(b, eb, own)))]
        )
        side = self._side(text, whole)
        out = [(a, sep, b, self._side(a, ea), self._right(b, eb, own)) for a, sep, b, ea, eb, own in sides]  # fmt: skip
        return [(*x, side) for x in out if not tail or anchored(x[2], x[4].intent)]

    def _right(self, b: str, eb: Entities, own: bool) -> Side:
        """The right side of a boundary, about the left's customer when it names none, unless
        it reads far better as a store-wide ask of its own and refers to no one, as `_route_asks`
        reads an ask after a customer's; or only better, when it opens with "the", "our" or "my"
        ("profile of customer #3 and the KPIs")."""
        about = self._side(_about(b, eb, own), eb, own)
        if own or not eb.customer_ids or BACK_REF.search(b):  # "..., whats their clv"
            return about
        plain = self._side(b, extract(self.session, b), False)
        store_wide = plain.intent not in (*KNOWN_OFF, *CUSTOMER_INTENTS)
        return plain if store_wide and plain.top >= about.top + _inherit_margin(b) else about

    def _learned_split(self, text: str, depth: int = 0, gaps: bool = True) -> list[str]:
        """The asks of `text`: split at the boundary the split model (`agent.assistant.asks`)
        finds likeliest to separate two asks, when it is likely enough and both sides read as
        distinct intents a tool answers; each side split again, three levels deep. A side that
        only names a customer ("cust 260 purchase history ..."), only qualifies the ask before
        it ("sorted by value") or says what is not wanted ("not just the kpis") is no ask. Word
        gaps are weighed in a part typed with no separator (`asks.boundaries`), not in the
        sides of a split at a separator."""
        model = self._split_model()
        if model is None or depth > 2:
            return [text]
        if depth == 0 and (listed := self._list_split(text, model) or keyword_chain(text)):
            return listed
        best: tuple[float, str, str, str] | None = None
        typed = depth > 0 and gaps  # a side of a split at a word gap
        for a, sep, b, sa, sb, whole in self._boundary_sides(text, gaps=gaps, typed=typed):
            if sep.strip() and (
                negated(b) or negated(a)
            ):  # "the full brief, not just the kpis": what is not wanted is no ask
                kept, side = (a, sa) if negated(b) else (b, sb)
                if side.intent not in KNOWN_OFF and not negated(kept):
                    return self._learned_split(kept, depth, gaps)
            if (
                sep.strip() and sa.intent == "help" and sb.intent not in KNOWN_OFF
            ) and sb.top >= MIN_SIDE:  # "hey! how does this work, and can you show me ...": the ask
                return self._learned_split(b, depth, gaps)
            if (
                not sep.strip()
                and opens_ask(b)
                and sa.intent is None  # (`classify` reads no ask in a `cues.SHOP_ACTION`)
                and OUT_OF_SCOPE.search(expand(a.lower()))
                and sb.intent not in KNOWN_OFF
                and sb.top >= MIN_SIDE
            ):  # "refund order 88 show the brief": an action on the shop, refused on its own
                return [a, *self._learned_split(b, depth + 1, gaps)]
            if not self._weighed(a, b, sa, sb):
                continue
            p = model.proba(features(sep, a, b, sa, sb, whole))
            if not sep.strip() and run_on(a, b):  # "c13 churn chance what should i sell her"
                p = max(p, THRESHOLD)
            if p >= THRESHOLD and (best is None or p > best[0]):
                best = (p, a, sep, b)
        if best is None:
            return [text]
        _, a, sep, b = best
        sub = not sep.strip()  # a split at a word gap: its sides may be split at gaps again
        return self._learned_split(a, depth + 1, sub) + self._learned_split(b, depth + 1, sub)

    def _list_split(self, text: str, model: SplitModel) -> list[str] | None:
        """The asks of a list of three or more ("ticket complaints, at risk customers with
        service problems, and advice on ..."), split at every separator at once when each
        two neighbours would be split on their own, or of a list of two or more short pieces
        that each name their ask (`asks.named_list`: "weekly digest, segment summary"); else
        None. (Split one boundary at a time, the first boundary's right side of three reads as
        a mix of two asks and is never split.)"""
        pieces, seps = separated(text)
        if len(pieces) < 2 or (len(pieces) == 2 and not shorthand(pieces, seps)):
            return None  # two pieces: the split model weighs their one boundary, unless named
        ents = [extract(self.session, p) for p in pieces]
        own = [e.names_customer for e in ents]
        for i in range(1, len(ents)):  # a piece that names nobody is about the one before's
            if not own[i]:
                ents[i].about(ents[i - 1])
        texts = [_about(p, e, o) for p, e, o in zip(pieces, ents, own)]
        self._prefetch(texts)
        sides = [self._side(texts[0], ents[0], own[0])]
        sides += [self._right(p, e, o) for p, e, o in zip(pieces[1:], ents[1:], own[1:])]
        named = named_list(pieces, seps, sides)
        if not named and len(pieces) < 3:
            return None
        for i in range(len(pieces) - 1):
            a, sep, b = pieces[i], seps[i], pieces[i + 1]
            if negated(a) or negated(b) or not self._weighed(a, b, sides[i], sides[i + 1]):
                return None
            if named:
                continue
            pair = f"{a}{sep}{b}"
            whole = self._side(pair, extract(self.session, pair))
            if model.proba(features(sep, a, b, sides[i], sides[i + 1], whole)) < THRESHOLD:
                return None
        return pieces

    def _weighed(self, a: str, b: str, sa: Side, sb: Side) -> bool:
        """Whether the split model weighs a boundary at all (`asks.weighed`): not when the right
        side only qualifies the left ("sorted by value"), the left only names a customer, or a
        short side does not name its intent ("orders", "average value"; `asks.anchored`) unless
        both are about the customer the left names ("C000033: orders, upsell")."""
        return (
            weighed(sa, sb)
            and not qualifier(b)
            and not (given_figure(a) or given_figure(b))
            and not self._bare(a)
            and (sa.has_id or (anchored(a, sa.intent) and anchored(b, sb.intent)))
        )

    def _bare(self, text: str) -> bool:
        """Whether `text` only names a customer ("cust 260", "hey, C000123:")."""
        ms = customer_mentions(self.session, text)
        if not ms:
            return False
        rest = text[: ms[0].start] + " " + text[ms[-1].end :]
        return not (set(re.findall(r"[a-z]+", rest.lower())) - _FILLER)

    def _and_split(self, text: str) -> list[str] | None:
        """The two asks of "X and the Y" when each half is one on its own (3+ words, a clear
        intent of its own, not help), else None."""
        for m in AND_SPLIT.finditer(text):
            a, b = text[: m.start()].strip(" ,."), text[m.end() :].strip(" ,.")
            if len(a.split()) < 3 or len(b.split()) < 3:
                continue
            ea, eb = extract(self.session, a), extract(self.session, b)
            if not eb.names_customer:  # "C000404 and their orders"
                eb.about(ea)
            (ia, sa), (ib, sb) = self.classify(a, ea), self.classify(b, eb)
            if (
                ia not in (None, "help")
                and ib not in (None, "help")
                and ia != ib
                and min(sa[ia], sb[ib]) >= 0.55
            ):
                return [a, b]
        return None

    @staticmethod
    def _overlaps(routed: list, whole: Entities) -> list:
        """Asks whose tools another ask already calls are one ask: the segment summary is part of
        the segment change, and the at-risk list is what "draft for the top 5 at risk" drafts for."""
        intents = [r[0] for r in routed]
        out: list = []
        for i, (intent, e, p) in enumerate(routed):
            if intent == "clv_by_segment" and "segment_change" in intents:
                continue
            later = routed[i + 1 :]
            if (  # the next ask drafts for it; not when an ask between reads the list ("...,
                intent == "at_risk_list"  # why the first one is at risk") or asks another thing
                and later  # ("list them, tell me whether a discount is wise, and draft ...")
                and later[0][0] == "draft"
                and later[0][1].at_risk
                and not later[0][1].customer_ids
            ):
                continue
            if (
                intent in ("why_customer", "customer_profile")
                and out
                and out[-1][0] in ("why_customer", "customer_profile")
                and out[-1][1].customer_ids == e.customer_ids
            ):  # "why is C19 at risk and what's their profile": one explanation answers both
                continue
            if intent == "segment_change" and not e.period_given and whole.period_given:
                e.days_back, e.period_given = whole.days_back, True
            out.append((intent, e, p))
        return out


_FILLER = {"customer", "cust", "client", "id", "no", "for", "of", "about", "on", "re", "so", "hey", "hi"}  # fmt: skip


def _inherit_margin(ask: str) -> float:
    """How much better an ask after a customer's must read on its own to be store-wide: any
    better when it opens with "the", "our" or "my" ("profile of customer #3 and the KPIs"), else
    `INHERIT_MARGIN`."""
    return 0.0 if re.match(r"(?:the|our|my)\b", ask.strip(), re.I) else INHERIT_MARGIN


def _about(text: str, ents: Entities, own: bool = False) -> str:
    """What a part that names no customer of its own reads as when it is about the customer
    named before it ("their purchases" after "profile of C000222"): prefixed with that id; or,
    when it refers back to a customer named by rank ("why is my best customer at risk, what did
    they buy"), with the id the intent examples use."""
    if own:
        return text
    if ents.customer_ids:
        return f"{ents.customer_ids[0]} {text}"
    return f"{EXAMPLE_ID} {text}" if ents.rank and _refers(text) else text


def _refers(text: str) -> bool:
    """Whether an ask refers back to someone ("what did they buy", "what's she bought")."""
    return bool(BACK_REF.search(text) or PERSON_REF.search(text))


def _normalised(session, text: str) -> str:
    """The request with each customer it names written as C000123, so that the intent examples
    (which use that id) match whatever the store's ids or names look like."""
    out, last = [], 0
    for m in customer_mentions(session, text):
        out += [text[last : m.start], EXAMPLE_ID]
        last = m.end
    return expand("".join(out) + text[last:])


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.clip(np.linalg.norm(m, axis=-1, keepdims=True), 1e-12, None)
