# ruff: noqa: E501  (one regular expression per line: the vocabularies, read as a list of phrasings)
"""What a merchant's request names: customers, money, counts, segment, churn reason, CLV tier,
period, channel, kind of play, KPIs, rank, sort order and consent filter (`extract`).

Patterns only, no model. Customers are the store's own (`StoreSession.find_customers`), less
ranks ("my #1 customer" is a position, not C000001: `customer_mentions`). Merchant shorthand
and synonyms ("custs", "wk", "went quiet", "rfm bucket") are written out (`expand`) before
matching, in requests and intent examples alike.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from agent.assistant.mentions import CUSTOMER_WORDS
from tools.schema import SEGMENTS

SEGMENT_WORDS = {s.lower(): s for s in SEGMENTS if s not in ("At risk", "New", "Lost")}
SEGMENT_WORDS.update(
    {
        "champion": "Champions",
        "loyal customers": "Loyal",
        "potential loyalists": "Potential loyalist",
        "cant lose them": "Can't lose them",
        "can't lose": "Can't lose them",
        "cannot lose": "Can't lose them",
        "new customers": "New",
        "new segment": "New",
        "lost customers": "Lost",
        "lost segment": "Lost",
        "at risk segment": "At risk",
        "at-risk segment": "At risk",
        "hibernating": "Hibernating",
        "sleeping": "About to sleep",
    }
)
REASON_WORDS = [
    (
        r"pric(?:e|ing|ey)|discount|coupon|deal.?hunt|bargain|\bsale|too expensive|cheaper|voucher|promo code|markdown",
        "price_sensitivity",
    ),
    (
        r"service|support|complain|ticket|late deliver|angry|slow (?:shipping|deliver)|bad deliver|deliver\w* (?:was |went |were )?(?:bad|late|slow|wrong)|deliver(?:y|ies) (?:issue|problem|delay)|shipping (?:issue|problem|delay)"
        r"|courier|rude|bad experience|poor experience|customer care",
        "service_problems",
    ),
    (
        r"quality|return(?!ing customer|ing buyer|ing shopper)|refund|faulty|broken|defect|sen(?:d|t|ds|ding) (?:\w+ ){0,2}back"
        r"|damaged|not as described|wrong size",
        "quality_returns",
    ),
    (
        r"engag|not opening|stopped opening|inactive|disengag|ignor\w* (?:our |my )?(?:e-?mails|messages|newsletters?)"
        r"|(?:not|stopped) clicking|tuned out",
        "fading_engagement",
    ),
    (
        r"overdue|late for|cycle|replenish|running low|run out|due (?:for|to) (?:re)?order|past due",
        "cycle_overdue",
    ),
    (
        r"one.?time|one.?off|single purchase|only bought once|first.?time|second purchase|bought (?:just |only )?once"
        r"|ordered (?:just |only )?once|buying once|purchas\w* once|one.and.done|never (?:came back|reordered|bought again)",
        "one_time_buyer",
    ),
]
NUMBER_WORDS = {
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
    "twenty": 20,
}


@dataclass
class Entities:
    customer_ids: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    """Names several of the store's customers share (no id can be chosen)."""
    money: float | None = None
    count: int | None = None
    segment: str | None = None
    reason: str | None = None
    tier: str | None = None
    days_back: int = 7
    period_given: bool = False
    channel: str | None = None
    """email or sms, when the request names one ("a win-back email")."""
    play: str | None = None
    """A kind of play the request names (agent.toolbox.tools.PLAY_KINDS), e.g. win_back."""
    metrics: list[str] = field(default_factory=list)
    """KPIs the request names (keys of agent.assistant.answers.KPI_WORDS)."""
    rank: str | None = None
    """"value" or "stake" when the request names a customer by rank ("my best customer")."""
    sort_by: str | None = None
    consent: tuple[str, str] | None = None
    """(channel or "any", state) when the request filters on consent."""
    at_risk: bool = False
    preview: bool = False

    @property
    def names_customer(self) -> bool:
        """Whether the request names a customer: one of the store's, an unknown id or a name
        several customers share."""
        return bool(self.customer_ids or self.unknown_ids or self.ambiguous)

    def about(self, other: Entities) -> None:
        """Make this request about the customers `other` names ("what did they buy" after "who
        is C000777")."""
        self.customer_ids, self.unknown_ids = list(other.customer_ids), list(other.unknown_ids)


def extract(session, text: str) -> Entities:
    """Customer ids, money, counts, segment, churn reason, CLV tier and period in a request.
    Customers are only those the store has (`StoreSession.find_customers`: its ids, its
    customers' names); what is written as an id but is not one of the store's is unknown."""
    e, low = Entities(), expand(text.lower())
    _add_customers(e, session, text)
    e.money = _money(text, low)
    e.count = _count(low)
    e.segment = _segment(low)
    e.reason = next((r for pat, r in REASON_WORDS if re.search(pat, low)), None)
    e.tier = _tier(low)
    e.days_back, e.period_given = _period(low)
    e.channel = _channel(low)
    e.play = next((k for pat, k in PLAY_WORDS if re.search(pat, low)), None)
    e.metrics = [k for pat, k in METRIC_WORDS if re.search(pat, low)]
    e.at_risk = bool(AT_RISK_WORDS.search(low))
    e.rank = _rank(low)
    e.sort_by = _sort_by(low)
    e.consent = _consent(low)
    e.preview = bool(
        re.search(r"preview|without queu|don.?t queue|do not queue|not queue|just show", low)
    )
    return e


def _add_customers(e: Entities, session, text: str) -> None:
    """The store's customers the text names (once each), names several share, unknown ids."""
    for m in customer_mentions(session, text):
        if m.customer_id is not None:
            if m.customer_id not in e.customer_ids:
                e.customer_ids.append(m.customer_id)
        elif m.note:
            e.ambiguous.append(m.text)
        else:
            e.unknown_ids.append(m.text)


def _money(text: str, low: str) -> float | None:
    """An amount: "$40", "40 dollars", "CAC of 40", "40 acquisition cost"."""
    money = (
        re.search(r"[$£€]\s?(\d[\d,]*(?:\.\d+)?)", text)
        or re.search(
            r"(\d[\d,]*(?:\.\d+)?)\s?(?:dollars?|bucks|usd|pounds?|gbp|quid|euros?|eur)\b", low
        )
        or re.search(r"\bcac\s*(?:of|is|=|at|:|was|costs?)?\s*(\d[\d,]*(?:\.\d+)?)", low)
        or re.search(r"(\d[\d,]*(?:\.\d+)?)\s*(?:cac|acquisition cost)", low)
    )
    return float(money.group(1).replace(",", "")) if money else None


def _count(low: str) -> int | None:
    """How many customers: "top 5", "ten at-risk customers" (None for none or zero)."""
    count = re.search(r"\btop\s+(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\b", low) or re.search(
        r"\b(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\s+(?:[\w-]+\s+){0,3}customers\b", low
    )
    if not count:
        return None
    return (
        int(NUMBER_WORDS.get(count.group(1), count.group(1) if count.group(1).isdigit() else 0))
        or None
    )


def _tier(low: str) -> str | None:
    if re.search(r"high.?(?:value|clv|tier|spend)|\bvip|best customers|most valuable", low):
        return "high"
    if re.search(r"low.?(?:value|clv|tier)", low):
        return "low"
    return None


def _period(low: str) -> tuple[int, bool]:
    """(days back, whether the request gave a period): a week unless it names another."""
    if re.search(r"last month|30 days|four weeks", low):
        return 30, True
    if m := re.search(r"(?:last|past)\s+(\d{1,3})\s+days", low):
        return max(1, min(365, int(m.group(1)))), True
    if re.search(r"this week|last week|past week|this wk|last wk|7 days", low):
        return 7, True
    return 7, False


def _channel(low: str) -> str | None:
    if re.search(r"\bsms\b|\btexts?\b|text messages?", low):
        return "sms"
    if re.search(r"e-?mails?\b|emial|\bmails?\b", low):
        return "email"
    return None


AT_RISK_WORDS = re.compile(
    r"at.?risk|risk(?:y|iest)|churn(?!\w*\s+(?:reason|driver|this week|last week|rate"
    r"|is (?:mostly |mainly |largely )?(?:down to|due to|because|caused|driven)))"
    r"|leav|lapse|slip|drift|(?:high|higher|highest|most) (?:churn )?risk|n(?:o|')t (?:come|coming) back|"
    r"in danger|drop(?:ping)? off|stop(?:ped)? (?:ordering|buying|shopping|purchasing)|go(?:ne|ing)? quiet|fading(?! engag)"
    r"|cool(?:ing|ed) off|on the fence"
    r"|\bbail|walk away|jump(?:ing)? ship|shaky|wobbl|flight risk|on the way out|los(?:e|ing) interest|waver"
    r"|(?:about|going) to lose|(?:might|could|will|may)(?: \w+)? lose\b"
)
"""Words that say a request is about customers at risk ("slipping away", "gone quiet")."""


def _rank(low: str) -> str | None:
    """ "value" for a customer named by rank ("my best customer"), "stake" by value at stake."""
    if re.search(
        r"(?:best|top|#1|number one|no\.? ?1|most valuable|biggest|most important|highest.?value|largest)"
        r" (?:customer|spender|buyer|client|shopper)\b",
        low,
    ):
        return "value"
    if re.search(r"customer (?:with|who has) the most (?:value |money )?at stake", low):
        return "stake"
    return None


def _sort_by(low: str) -> str | None:
    if re.search(r"at stake|value at risk|money at risk", low):
        return "value_at_stake"
    if re.search(r"spend|spender|revenue to date|spent the most", low):
        return "revenue_to_date"
    if re.search(
        r"riskiest|most likely to (?:churn|leave)|highest churn|by churn (?:prob\w*|risk|score|likelihood)",
        low,
    ):
        return "churn_probability"
    return None


def _consent(low: str) -> tuple[str, str] | None:
    """(channel or "any", state) when the request filters on consent, else None."""
    if not re.search(r"consent|opt(?:ed)?.?(?:in|out)|unsubscrib|permission", low):
        return None
    ch = (
        "sms"
        if re.search(r"\bsms\b|text", low)
        else "email"
        if re.search(r"e-?mail", low)
        else "any"
    )
    neg = re.search(r"\bno\b|without|never|not|haven.?t|hasn.?t|missing|lack", low)
    state = (
        "unknown"
        if re.search(r"unknown|don.?t know|not sure", low)
        else "no"
        if re.search(r"refus|opted.?out|unsubscrib|said no", low)
        else "not_given"
        if neg
        else "yes"
    )
    return ch, state


PLAY_WORDS = [
    (r"win.?back|winback|bring (?:them |\w+ )?back|re.?engag|lapsed|reactivat", "win_back"),
    (r"replenish|restock|running low|reorder|refill", "replenishment"),
    (r"cross.?sell|upsell|bundle", "cross_sell"),
    (r"second (?:purchase|order)|first.?time buyers?|onboard", "second_purchase"),
    (r"\bvip\b|thank.?you gift|surprise", "vip"),
    (r"feedback|review request|ask for a review", "feedback"),
]
METRIC_WORDS = [
    (
        r"repeat|returning (?:customer|buyer|shopper)|retention rate|(?:come|came|coming) back (?:to buy|and buy)|buy again|bought again",
        "repeat_rate",
    ),
    (r"\bactive\b", "active_customers"),
    (r"churned|\bchurn this week|did we lose|lost this week", "churned_this_week"),
    (
        r"\baov\b|average order|order value|basket|cart size|ticket size|order size|spend per order",
        "aov_week",
    ),
    (r"revenue|\bsales\b|turnover|takings|\bgmv\b|income", "revenue_week"),
    (r"how many orders|number of orders|\borders this week|order (?:count|volume)", "orders_week"),
]


RANK_BEFORE = re.compile(
    r"(?:\b(?:top|rank(?:ed)?|ranking|number|no\.?)\s*#?\s*|\b(?:my|our|your|the)\s*#\s*)$", re.I
)
ID_BEFORE = re.compile(rf"\b(?:{CUSTOMER_WORDS}|id)\s*(?:id|number|no\.?)?\s*[:#]?\s*$", re.I)
RANK_AFTER = re.compile(
    r"(?:st|nd|rd|th)?\s*(?:(?:most|best|biggest|top|highest|largest)\s+)?(?:customers?|spenders?|"
    r"buyers?|clients?|shoppers?|accounts?|fans?|by|in|on|for|spot|place|ranked)\b",
    re.I,
)


def customer_mentions(session, text: str) -> list:
    """The customers the text names (`StoreSession.find_customers`), less ranks: "my #1
    customer", "top 1", "no. 1", "number 1 spender" name a position in a ranking, not C000001
    (an id is still one after "customer": "customer #1", "customer no. 12")."""
    out = []
    for m in session.find_customers(text):
        before, after = text[: m.start], text[m.end :]
        rank = (
            re.fullmatch(r"\d{1,3}(?:st|nd|rd|th)?", m.text, re.I)
            and not ID_BEFORE.search(before)
            and (
                RANK_BEFORE.search(before)
                or (before.rstrip().endswith("#") and RANK_AFTER.match(after))
            )
        )
        if not rank:
            out.append(m)
    return out


def _segment(low: str) -> str | None:
    flat = re.sub(r"[^a-z' -]", " ", low)
    for word, seg in sorted(SEGMENT_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{re.escape(word)}s?\b", flat):
            return seg
    for tok in flat.split():  # typos: "champoins", "hibernatng"
        close = difflib.get_close_matches(
            tok, ["champions", "hibernating", "loyalists"], n=1, cutoff=0.8
        )
        if close:
            return {
                "champions": "Champions",
                "hibernating": "Hibernating",
                "loyalists": "Potential loyalist",
            }[close[0]]
    return None


FILLER = r"(?<![\w'])(?:u+m+|u+h+m*|e+r+m+|h+m+)\b[,.]*"
"""A spoken filler ("um", "uhh", "erm", "hmm"), as dictation types it: no part of an ask."""
INDIRECT = re.compile(
    r"\b(?:(?:can|could|would) you\s+)?(?:please\s+)?(?:tell me|let me know|i (?:need|want|would like|'d like) to"
    r" know|i wonder|(?:i'?m |i am )?wondering)\s+(?:if|whether)\s+(?:(it'?s|it is)|(i|we) should)\b",
    re.I,
)
"""A yes-or-no question asked indirectly ("tell me if it's ok to send on a Sunday", "I wonder
whether we should offer free shipping"): `direct` asks it directly."""


def direct(text: str) -> str:
    """`text` with each indirect yes-or-no question (`INDIRECT`) asked directly: "tell me if
    it's ok to ..." -> "is it ok to ...", "I wonder whether we should ..." -> "should we ..."."""
    return INDIRECT.sub(lambda m: "is it" if m.group(1) else f"should {m.group(2)}", text)


CUSTOMER_SYNONYMS = (
    *("client", "shopper", "member", "subscriber", "regular", "patron", "reader", "household"),
    "guest",
)
"""A shop's own words for its customers ("our regulars", "at-risk readers"): customers."""
HINGLISH = {
    r"\baur\b": "and",
    r"\bkya kharid[ae]\b": "what did they buy",
    r"\bke liye\b": "for",
    r"\bhone wal[aei]\b": "about to",
    r"\bbata(?:o| do|iye)\b": "tell me",
    r"\bdikha(?:o| do|iye|na)\b": "show",
    r"\bkitn[ae]\b": "how many",
    r"\bkya\b": "what",
    r"\bkaun\b|\bkon\b": "who",
    r"\bkyu?n?\b(?= )": "why",
    r"\bkaise\b": "how",
    r"\bkharid[ae]\b": "bought",
    r"\bbech(?:na|u|un|ein|en)\b": "sell",
    r"\b(?:usko|usse|unko|unhe|use ko)\b": "them",
    r"\b(?:karu|karun|karein|karen|karna)\b": "should i",
    r"\bchahiye\b": "should",
    r"\bbhej(?:o|na|do|iye)\b": "send",
    r"\blikh(?:o| do|na)\b": "draft",
    r"\bhu(?:e|a)\b": "happened",
    r"\bbhi\b": "also",
    r"\bsabse\b": "most",
    r"\bis (hafte|mahine)\b|\bis (week|month)\b(?! (?:over|on|\d))": r"this \1\2",
    r"\bhaft[ae]\b": "week",
    r"\bmahine\b": "month",
    r"\b(?:ka|ki|ke|ne|ko|hai|hain|wala|wale)\b": " ",
}
"""Hindi and Urdu words of a merchant who types in Hinglish ("c3 ka profile dikhao aur usko kya
bechna chahiye"), in English (`from_hinglish`)."""
_HINGLISH_CUES = re.compile(
    r"\b(?:aur|kya|ka|ki|ke|ko|ne|hai|hain|bhi|usko|unko|dikhao|batao|bata do|kitne|kitna|kaun"
    r"|kyun|kaise|chahiye|kharida|bechna|karu|karun|likho|bhejo|hafte|mahine)\b",
    re.I,
)


def from_hinglish(text: str) -> str:
    """`text` with its Hindi and Urdu words in English (`HINGLISH`) when two different ones
    show that it is written in Hinglish; an English message is left as it is (a product
    called "Hue", a customer named "Ka")."""
    if len({m.lower() for m in _HINGLISH_CUES.findall(text)}) < 2:
        return text
    for pat, word in HINGLISH.items():
        text = re.sub(pat, word, text, flags=re.I)
    return " ".join(text.split())


def spoken(message: str) -> str:
    """A message as the router reads it: spoken fillers ("um", "uh") left out, Hinglish in
    English (`from_hinglish`), its key words spelled right (`spelled`)."""
    message = " ".join(re.sub(FILLER, " ", message, flags=re.I).split()) or message
    return spelled(from_hinglish(message))


SHORTHAND = {
    r"\bcusts?\b": "customers",
    r"\bwk\b": "week",
    r"\bpls\b|\bplz\b": "please",
    r"\btix\b": "tickets",
    r"\bavg\b": "average",
    r"#\s?1\b|\bno\.? ?1\b|\bnumber 1\b|\btop (?:1|one)\b(?! ?\d)": "number one",
    r"\b(?:rfm|customer|shopper|value|loyalty) (?:group|bucket|cohort|cluster|band|categor(?:y|ie))(s?)\b": r"segment\1",
    r"\b(each|every|per|by|which|all) (?:rfm )?(?:group|bucket|cohort|cluster)(s?)\b": r"\1 segment\2",
    r"\brfm\b(?! segment)": "segment",
    r"\b(?:went|gone|go|got|gotten) (?:quiet|dark|silent|cold|mia|awol)\b|\bdormant\b|\bghost(?:ed|ing)\b"
    r"|\bfell off\b|\bdropped off (?:the|our) radar\b|\bdisappeared\b": "lapsed",
    r"\bstate of play\b": "overall state",
    r"\b(?:rsik|risck|riks|rik)(s?)\b": r"risk\1",
    r"\b(?:chrun|churm|chrn)(\w*)": r"churn\1",
    r"\bquiet (customers|shoppers|buyers|ones|people|regulars)\b": r"lapsed \1",
    r"\bbig picture\b|\bbird'?s.?eye(?: view)?\b|\bhigh.?level view\b|\bat a glance\b": "overview",
    r"\bthx\b": "thanks",
    r"\brev\b": "revenue",
    r"\bmsgs?\b": "messages",
    r"\bu\b": "you",
    r"\bppl\b": "people",
    r"\bnbp\b": "next best product",
    r"\bhist\b": "history",
    rf"\b(?:{'|'.join(w + 's' for w in CUSTOMER_SYNONYMS)})\b": "customers",
    FILLER: " ",
}


def _one_edit(word: str) -> set[str]:
    """Every string one typo away from `word`: a letter left out, added, changed, or two
    neighbours swapped (Damerau's four single edits)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    cuts = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return (
        {a + b[1:] for a, b in cuts if b}
        | {a + b[1] + b[0] + b[2:] for a, b in cuts if len(b) > 1}
        | {a + c + b[1:] for a, b in cuts if b for c in letters}
        | {a + c + b for a, b in cuts for c in letters}
    )


TYPO_WORDS = ("customer", "customers")
"""Words spelled right where one typo is made in them ("custoemr", "cutsomers"): the word
customer ids and ranks are found by ("custoemr 12", "my top custoemr"); other words' typos
the intent model's character n-grams already read ("segmnet", "campain")."""
_TYPOS = {t: w for w in TYPO_WORDS for t in _one_edit(w) if len(t) >= 7}
_TYPOS.update({w: w for w in TYPO_WORDS})


def expand(text: str) -> str:
    """Merchant shorthand written out ("custs" -> customers, "wk" -> week) and the words of
    `TYPO_WORDS` spelled right, for matching."""
    text = from_hinglish(text)
    for pat, word in SHORTHAND.items():
        text = re.sub(pat, word, text, flags=re.I)
    return spelled(text)


def spelled(text: str) -> str:
    """`text` with the words of `TYPO_WORDS` spelled right where one typo is made in them."""
    return re.sub(r"\b[a-z]{7,16}\b", lambda m: _TYPOS.get(m[0].lower(), m[0]), text, flags=re.I)
