"""Query understanding: a merchant's words mapped onto the playbook vocabulary before a search.

"my best customer hasn't ordered in 4 months" names no segment, tier or churn reason, yet it
means CLV tier high (a VIP), lapsed for months (At risk, and for a high-value customer Can't
lose them). `understand` finds such cues with a small set of patterns and returns a
`QueryIntent`: the segments, CLV tiers and churn reasons the words imply (always values of the
vocabulary in `knowledge.schema`, imported from there, never spelt again) and a short expansion
in the playbooks' own words.

`KnowledgeBase.search` uses it for every caller (the agent's tool, the CLI, the evals): the
expansion is added to what is embedded and keyword-matched, and playbooks tagged with the
implied values get a bonus. It is soft: nothing is filtered out (explicit filters stay the
caller's), and a question with no cue is searched exactly as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from knowledge.schema import CHURN_REASONS, CLV_TIERS, SEGMENTS

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple": 2,
    "couple of": 2,
    "few": 3,
    "a few": 3,
    "several": 4,
    "many": 6,
}
_UNIT_DAYS = {
    "day": 1,
    "week": 7,
    "wk": 7,
    "month": 30,
    "mo": 30,
    "mth": 30,
    "year": 365,
    "yr": 365,
}


@dataclass(frozen=True)
class Cue:
    """One kind of merchant wording and what it implies in the playbook vocabulary."""

    name: str
    pattern: re.Pattern[str]
    segments: tuple[str, ...] = ()
    churn_reasons: tuple[str, ...] = ()
    clv_tiers: tuple[str, ...] = ()
    expansion: str = ""


def _cue(
    name: str,
    patterns: Iterable[str],
    *,
    segments: tuple[str, ...] = (),
    reasons: tuple[str, ...] = (),
    tiers: tuple[str, ...] = (),
    expansion: str = "",
) -> Cue:
    for value, vocab in ((segments, SEGMENTS), (reasons, CHURN_REASONS), (tiers, CLV_TIERS)):
        unknown = set(value) - set(vocab)
        if unknown:
            raise ValueError(f"cue {name!r} names {sorted(unknown)}, not in the vocabulary")
    rx = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    return Cue(name, rx, segments, reasons, tiers, expansion)


_WHO = r"(?:customers?|custmers?|costumers?|buyers?|spenders?|clients?|shoppers?|accounts?|fans?|ppl|people|folks|guys?|ones)"

CUES: tuple[Cue, ...] = (
    _cue(
        "high_value",
        [
            rf"\b(?:best|top|biggest|bigest|most valuable|highest[- ]value|high[- ]value|high[- ]spend\w*|big|heavy|key|premium|largest|top[- ]tier)\s+(?:\d+\s+|\w+\s+)?{_WHO}",
            r"\bvips?\b",
            r"\bwhales?\b",
            r"\bbig[- ]spenders?\b",
            r"\btop \d+\s?%",
            r"\btop \d+\b",
            r"\bspent (?:over |more than |like |about )?[$£€]?\s?\d[\d,.]*\s*k?\b",
            r"\bhigh(?:est)?[- ](?:clv|ltv|lifetime value)\b",
            r"\bclv tier high\b",
            r"\b(?:buy|spend|order)s? (?:a ?lot|alot|loads|tons)\b",
        ],
        tiers=("high",),
        expansion="a high-value VIP customer (CLV tier high)",
    ),
    _cue(
        "low_value",
        [
            r"\blow[- ](?:value|clv|ltv|spend\w*)\b",
            r"\bsmall (?:spenders?|baskets?)\b",
            r"\bclv tier low\b",
        ],
        tiers=("low",),
        expansion="low-value customers",
    ),
    _cue(
        "champions",
        [
            r"\bchampions?\b",
            r"\bsuper ?fans?\b",
            r"\b(?:top|biggest|best) fans?\b",
            r"\bbrand (?:lovers?|advocates?)\b",
        ],
        segments=("Champions",),
        tiers=("high",),
        expansion="Champions, the best customers",
    ),
    _cue(
        "loyal",
        [
            r"\bregulars?\b",
            r"\brepeat (?:customers?|buyers?|shoppers?|guys|purchasers?)\b",
            r"\bloyal\w*\b",
            r"\bfaithful\b",
            r"\blong[- ]time (?:customers?|buyers?)\b",
        ],
        segments=("Loyal", "Champions"),
        expansion="loyal repeat customers",
    ),
    _cue(
        "new",
        [
            rf"\bnew (?:{_WHO}|sign ?ups?|subscribers?|members?)\b",
            r"\bbrand new\b",
            r"\bjust (?:signed up|joined|made (?:their|a) first)\b",
            r"\bwelcome\b",
            r"\bfirst[- ]time (?:buyers?|customers?|shoppers?|purchasers?)\b",
            r"\bfirst[- ]timers?\b",
            r"\bnewbies?\b",
        ],
        segments=("New", "Promising"),
        expansion="new customers after their first order",
    ),
    _cue(
        "one_time",
        [
            r"\b(?:bought|ordered|purchased|buy|order|shop(?:ped)?) (?:only )?once\b",
            r"\bone[- ](?:time|off|and[- ]done)\b",
            r"\bsingle (?:purchase|order)\b",
            r"\b(?:second|2nd) (?:order|purchase|time|buy)\b",
            r"\brepeat purchase\b",
            r"\bnever (?:came|come|comes|coming) back\b",
            r"\bafter (?:the|their|a) first (?:order|purchase|buy)\b",
            r"\b(?:1|one) and done\b",
        ],
        reasons=("one_time_buyer",),
        expansion="one-time buyers who have not made a second purchase",
    ),
    _cue(
        "price",
        [
            r"\bonly (?:ever )?(?:buys?|orders?|shops?|purchases?|comes? back|convert\w*)\b[^.?!]{0,30}\b(?:sales?|discounts?|deals?|promos?|coupons?|codes?|black friday|% off|percent off)",
            r"\bsale[- ]only\b",
            r"\bon sale\b",
            r"\bwhen (?:there'?s|there is|we have|i have) a sale\b",
            r"\b(?:coupon|deal|discount|bargain|promo|code|sale)[- ]?(?:hunters?|seekers?|chasers?|junkies?|addicts?|shoppers?)\b",
            r"\bwait(?:s|ing)? for (?:a |the |our )?(?:sales?|discounts?|deals?|promos?)\b",
            r"\b(?:asks?|asking|begs?|begging) (?:for )?(?:a |an )?(?:discount|promo|coupon|code)",
            r"\btoo expensive\b",
            r"\b(?:price|prices) (?:rise|rises|increase|increases|hike|hikes|went up)\b",
            r"\braised (?:our |my |the )?prices?\b",
            r"\bfull price\b",
            r"\bcheaper\b",
            r"\bprice[- _]sensitiv\w*\b",
            r"\bblack friday\b",
            r"\bduring (?:a |the )?sales?\b",
        ],
        reasons=("price_sensitivity",),
        expansion="price-sensitive customers who buy only with discounts",
    ),
    _cue(
        "service",
        [
            r"\bcomplain\w*",
            r"\bangry\b",
            r"\bfurious\b",
            r"\bupset\b",
            r"\bfrustrat\w*",
            r"\bmad (?:at|about)\b",
            r"\bpissed\b",
            r"\b(?:bad|terrible|horrible|awful|poor) (?:experience|service|support)\b",
            r"\bsupport (?:ticket|team|experience)\b",
            r"\btickets?\b",
            r"\bcustomer service\b",
            r"\bignored\b",
            r"\brude\b",
            r"\blate (?:delivery|refund|shipment|parcel|package)\b",
            r"\bmoney back\b",
            r"\bcourier\b",
            r"\blost (?:parcel|package|in the post)\b",
            r"\bnever (?:arrived|got (?:his|her|their) order)\b",
        ],
        reasons=("service_problems",),
        expansion="a service problem, a frustrated customer who complained",
    ),
    _cue(
        "quality",
        [
            r"\breturns\b",
            r"\breturned\b",
            r"\breturn rate\b",
            r"\bsent (?:it|them|the \w+) back\b",
            r"\bbroken?\b",
            r"\bbroke\b",
            r"\bdamaged?\b",
            r"\bdefect\w*",
            r"\bfaulty\b",
            r"\bwrong size\b",
            r"\bsizes? run\b",
            r"\b(?:does ?n'?t|did ?n'?t|dont|didnt) fit\b",
            r"\bpoor quality\b",
            r"\bquality (?:issues?|problems?)\b",
            r"\bfell apart\b",
            r"\bstopped working\b",
        ],
        reasons=("quality_returns",),
        expansion="returns and product quality problems",
    ),
    _cue(
        "fading",
        [
            r"\bstopped (?:opening|clicking|reading|engaging|visiting)\b",
            r"\b(?:not|never|don'?t|dont|doesn'?t|havent|haven'?t) (?:open|opened|opening|click\w*|read)\b",
            r"\bopen rates?\b",
            r"\bclick rates?\b",
            r"\bengage?ment\b",
            r"\bengagment\b",
            r"\b(?:visit\w*|click\w*|open\w*) less\b",
            r"\bless (?:active|engaged)\b",
            r"\bbarely (?:open|visit|click)\w*\b",
            r"\b(?:un|dis)engaged\b",
            r"\b(?:gone|went|going) quiet\b",
        ],
        reasons=("fading_engagement",),
        expansion="fading engagement, opening and clicking less",
    ),
    _cue(
        "cycle",
        [
            r"\boverdue\b",
            r"\brun(?:s|ning)? (?:out|low)\b",
            r"\bran out\b",
            r"\bre-?order\w*\b",
            r"\brebuy\w*\b",
            r"\breplenish\w*\b",
            r"\bevery \d+ (?:days?|weeks?)\b",
            r"\busual (?:order|reorder|refill|restock)\b",
            r"\bdue (?:for|a) (?:a )?(?:refill|reorder|restock)\b",
            r"\blate (?:for|on|with) (?:their|the|his|her) (?:usual|next|regular)\b",
        ],
        reasons=("cycle_overdue",),
        expansion="overdue for their usual reorder (replenishment cycle)",
    ),
    # not a segment, tier or reason: "they buy A but never B from us" asks what goes with A
    _cue(
        "pairing",
        [
            r"\b(?:buys?|bought|buying|purchas\w*|orders?|ordered|gets?|got)\b.{0,40}?\b(?:but |and )?"
            r"(?:never|don'?t|dont|doesn'?t|rarely|not)\s+(?:\w+\s+)?(?:buy|get|pick up|order|add|grab)\w*"
            r"\s+(?!anything|again|in\b|for\b|since\b)\w+",
            r"\b(?:goes|go|pairs?) (?:well )?with\b",
            r"\bbought together\b",
        ],
        expansion="cross-sell the products that go with what they already bought",
    ),
    # not a segment, tier or reason: the rules every message follows (the safeguards playbook)
    _cue(
        "rules",
        [
            r"\b(?:legal|illegal|allowed|permitted|lawful|complian\w*|against the (?:law|rules))\b",
            r"\b(?:opt(?:ed)?[- ]?ins?|opt(?:ed)?[- ]?out|consent\w*|permission|gdpr|ccpa|can-?spam|tcpa|e-?privacy)\b",
            r"\bunsubscrib\w*",
            r"\bspam\w*",
            r"\b(?:countdown|timers?|scarcity|fake urgency|false urgency|urgency|dark patterns?|manipulat\w*|pressure tactics?)\b",
            r"\btoo many (?:emails?|texts?|sms|messages?)\b",
            r"\bhow often\b.{0,30}\b(?:email|text|sms|messag|contact)",
            r"\b(?:emails?|texts?|sms|messages?) (?:a|per) (?:week|day)\b",
            r"\b\d+ times a (?:week|day)\b",
        ],
        expansion="consent to contact, contact frequency caps, no false urgency or pressure tactics",
    ),
)

_NO_ORDER = re.compile(
    # "hasn't ordered in 4 months", "not bought anything since may": a negated purchase verb
    # with no product after it ("never buy lenses from us" is about what they buy, not a lapse)
    r"\b(?:ha(?:s|ve)n'?t|hasnt|havent|ha(?:s|ve) not|did ?n'?t|didnt|not|never|no)\s+"
    r"(?:\w+\s+){0,2}?(?:order\w*|bought|buy\w*|purchas\w*|shop\w*)\b"
    r"(?=\s*(?:$|[.,;:!?)]|(?:in|for|since|again|anything|a thing|at all|lately|recently|"
    r"from (?:us|me)|with (?:us|me)|like|over|this|last|\d)\b))"
    r"|\b(?:ha(?:s|ve)n'?t|hasnt|havent|not|never|didn'?t|didnt)\s+(?:\w+\s+)?"
    r"(?:been back|come back|came back|returned|reordered)\b"
    r"|\b(?:gone|went|going) (?:quiet|silent|dark|cold|awol|mia)\b|\blapsed\b|\bdormant\b"
    r"|\binactive\b|\bslipping\b|\bdrift\w*\b|\bstopped (?:buying|ordering|shopping|purchasing)\b"
    r"|\bdisappear\w*|\bhaven'?t seen\b|\bno orders?\b|\bwin[- ]?back\b|\bsleeping (?:customers?|buyers?|shoppers?)\b",
    re.IGNORECASE,
)
_DURATION = re.compile(
    r"\b(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|few|"
    r"couple of|couple|several|many)\s*\+?\s*(day|week|wk|month|mth|mo|year|yr)s?\b",
    re.IGNORECASE,
)
_OVER_A_YEAR = re.compile(
    r"\b(?:over|more than|almost|nearly) a year\b|\bsince (?:19|20)\d\d\b", re.IGNORECASE
)


def _vocab_names(values: Iterable[str], ambiguous: set[str]) -> list[tuple[str, re.Pattern[str]]]:
    """A pattern per vocabulary value as a merchant would type it ("cant lose them",
    "price_sensitivity"); everyday words ("New", "Lost") are left to the cues above."""
    out = []
    for v in values:
        if v in ambiguous:
            continue
        words = re.split(r"[\s_']+", v.lower())
        body = r"[\s_'-]*".join(re.escape(w) for w in words if w)
        out.append((v, re.compile(rf"\b{body}\b", re.IGNORECASE)))
    return out


_SEGMENT_NAMES = _vocab_names(SEGMENTS, {"New", "Lost", "Loyal", "Promising", "Champions"})
_REASON_NAMES = _vocab_names(CHURN_REASONS, set())


@dataclass(frozen=True)
class QueryIntent:
    """What a merchant's question implies in the playbook vocabulary."""

    query: str
    segments: tuple[str, ...] = ()
    churn_reasons: tuple[str, ...] = ()
    clv_tiers: tuple[str, ...] = ()
    cues: tuple[str, ...] = ()
    """The cues found, e.g. ("high_value", "lapsed:120d"), to explain a ranking."""
    expansion: str = ""
    lapsed_days: int | None = field(default=None, compare=False)

    def __bool__(self) -> bool:
        return bool(self.segments or self.churn_reasons or self.clv_tiers)

    @property
    def search_text(self) -> str:
        """The question plus the expansion: what is embedded and keyword-matched."""
        return f"{self.query} ({self.expansion})" if self.expansion else self.query

    def match(self, tags: Mapping[str, Iterable[str]]) -> float:
        """0..1: how well a playbook's tags (`segments`, `churn_reasons`, `clv_tiers`) fit the
        implied values, the mean Jaccard overlap over the fields the question implies (a play
        tagged for everything fits a little; one tagged for just this fits best)."""
        parts = []
        for name, want in (
            ("segments", self.segments),
            ("churn_reasons", self.churn_reasons),
            ("clv_tiers", self.clv_tiers),
        ):
            if not want:
                continue
            have = set(tags.get(name) or ())
            union = have | set(want)
            parts.append(len(have & set(want)) / len(union) if union else 0.0)
        return sum(parts) / len(parts) if parts else 0.0

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "segments": list(self.segments),
            "churn_reasons": list(self.churn_reasons),
            "clv_tiers": list(self.clv_tiers),
            "cues": list(self.cues),
            "expansion": self.expansion,
        }


def _lapse_days(text: str) -> int | None:
    if _OVER_A_YEAR.search(text):
        return 400
    best = None
    for m in _DURATION.finditer(text):
        n = _NUMBER_WORDS.get(m.group(1).lower())
        n = int(m.group(1)) if n is None and m.group(1).isdigit() else n
        unit = m.group(2).lower()
        days = (n or 1) * _UNIT_DAYS.get(unit, 30)
        best = days if best is None else max(best, days)
    return best


def _lapse_segments(days: int | None, high_value: bool) -> tuple[str, ...]:
    if days is None:
        segs: tuple[str, ...] = ("At risk", "Hibernating")
    elif days <= 45:
        segs = ("About to sleep", "Need attention")
    elif days <= 180:
        segs = ("At risk",)
    elif days <= 365:
        segs = ("At risk", "Hibernating")
    else:
        segs = ("Hibernating", "Lost")
    if high_value and (days is None or days > 45):
        segs = ("Can't lose them", *segs)
    return segs


def _add(acc: list[str], values: Iterable[str]) -> None:
    for v in values:
        if v not in acc:
            acc.append(v)


def understand(query: str) -> QueryIntent:
    """The segments, CLV tiers and churn reasons a merchant's question implies, with the cues
    that implied them; an empty intent (falsy) when the question has none."""
    text = " ".join((query or "").replace("’", "'").split())
    segments: list[str] = []
    reasons: list[str] = []
    tiers: list[str] = []
    cues: list[str] = []
    words: list[str] = []
    for cue in CUES:
        if cue.pattern.search(text):
            cues.append(cue.name)
            _add(segments, cue.segments)
            _add(reasons, cue.churn_reasons)
            _add(tiers, cue.clv_tiers)
            words.append(cue.expansion)
    for value, rx in _SEGMENT_NAMES:
        if rx.search(text):
            cues.append(f"segment:{value}")
            _add(segments, (value,))
    for value, rx in _REASON_NAMES:
        if rx.search(text):
            cues.append(f"reason:{value}")
            _add(reasons, (value,))
    days = None
    if _NO_ORDER.search(text):
        days = _lapse_days(text)
        cues.append("lapsed" if days is None else f"lapsed:{days}d")
        _add(segments, _lapse_segments(days, "high" in tiers))
        words.append("a lapsed customer who has not ordered for a while")
    return QueryIntent(
        query=query,
        segments=tuple(segments),
        churn_reasons=tuple(reasons),
        clv_tiers=tuple(tiers),
        cues=tuple(cues),
        expansion="; ".join(words),
        lapsed_days=days,
    )
