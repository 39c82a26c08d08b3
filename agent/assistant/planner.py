"""Offline mode: a deterministic planner over the assistant's tools (no language model).

A request is mapped to an intent by cosine similarity between its embedding (the local
MiniLM, `knowledge.default_embedder`) and a few example phrasings per intent
(`agent.assistant.prompts.INTENT_EXAMPLES`), plus what an intent model learned from the labelled dev
phrasings (`agent.assistant.intent_model`), nudged by keywords; entities (customer ids, money,
counts, segments, churn reasons, CLV tiers, periods) are extracted with patterns. The intent
picks the tool calls; the answer is a template filled only from the tool results, and says
that no language model is in use. What it cannot map, it says so and lists what it can do.
Several asks in one message are split and answered in turn (`Planner.route`). A question only
reads: the one intent that writes (draft, which queues drafts) needs a request to write.
Routing is measured on merchant phrasings: dev splits, held-out 1 (seen) and held-out 2 to 4,
written blind (`evals.quality.agent.routing_eval`). Words outlive phrasings: ranks ("my #1 customer") are no ids,
and merchant synonyms ("went quiet", "rfm bucket", "big picture") are written out (`expand`) in
requests and examples alike before they are embedded.
A request it must not carry out (send without approval, target by a sensitive attribute, false
urgency, a discount over the cap, personal data, another store) is refused first, with what it
can do instead (`agent.outreach.policy`).
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field

import numpy as np

from agent.assistant import prompts as T
from agent.assistant.intent_model import NONE, WEIGHT, IntentModel
from agent.assistant.prompts import CAPABILITIES, INTENT_EXAMPLES, OFFLINE_NOTE
from agent.outreach import policy
from agent.toolbox.tools import Answer, ToolRunner
from tools.schema import SEGMENTS

MIN_SCORE = 0.38
CUSTOMER_INTENTS = ("why_customer", "customer_profile", "cross_sell", "customer_history")
WRITES = ("draft",)
"""Intents that write (queue drafts): only when the request asks to write (`WRITE_VERB`)."""
WRITE_VERB = re.compile(
    r"\b(?:draft|write|compose|prep(?:are)?|create|queue|put together|make|preview)\b"
    r"|^\s*(?:please\s+)?(?:e-?mail|message|text)\b",
    re.I,
)
WRITE_ASK = re.compile(
    r"^\s*(?:(?:can|could|would) you\s+|pl(?:ea)?se?\s+|pls\s+|go ahead and\s+)*(?:draft|write|compose"
    r"|prep(?:are)?|create|queue|put together|make|generate|set up)\b",
    re.I,
)
"""A request that starts by asking to write: with a message noun, it asks for drafts."""
MESSAGE_NOUN = re.compile(
    r"e-?mail|emial|message|\bsms\b|\btexts?\b|\bnote\b|outreach|reminder|win.?back|nudges?\b|"
    r"\bdrafts?\b|campaign|\bletter|copy\b",
    re.I,
)
"""What a draft request writes: a request to write something else ("a poem") is no draft."""
WHY = re.compile(r"\bwhy\b|how come|reason|\bdriv(?:ing|es|ers?)\b|what'?s behind|\bcaus", re.I)
OUT_OF_SCOPE = re.compile(
    r"^\s*(?:please\s+)?(?:refund|cancel|ship|update|set up|book|buy|translate|delete|"
    r"install|order more|restock|reorder)\b"
)
REASON_FILTER = re.compile(
    r"(?:churn|main|top|primary|biggest|key)\s+(?:reason|driver|cause)|because of|due to|driven by"
    r"|(?:mostly|mainly|largely) (?:down to|about|from)|caused by|down to|lost to"
    r"|reason (?:is|being|was)|whose (?:\w+ )?(?:reason|driver|problem|issue)|\bby (?:churn )?reason",
    re.I,
)
"""A churn reason used to pick customers out ("customers whose churn driver is price")."""
LIST_ASK = re.compile(
    r"^\s*(?:pl(?:ea)?se?\s+|pls\s+)?(?:list|show(?: me)?|give me|pull|who are)\b", re.I
)
HISTORY_CUE = re.compile(
    r"\bhist\w*|received|sent (?:to|them|him|her)|(?:gone|went) out|\bhad (?:any )?(?:e-?mails?|messages?|texts?)|drafts?\b|contacted|e-?mailed|messaged|messages? (?:to|sent)|last order|"
    r"ordered|purchases|bought|before\b|already|pending|waiting",
    re.I,
)
KEYWORDS = {  # intent -> (pattern, boost): cues that survive paraphrase
    "overview": (
        r"\boverview\b|\boverall\b|snapshot|state of (?:the |my |our )?(?:store|shop|business)"
        r"|how(?:'s| is| are) (?:the |my |our )?(?:store|shop|business|things)\b|\bhealth(?:y)?\b"
        r"|where (?:do )?things stand|headline|key (?:numbers|figures|stats)|top.?line|all.?time"
        r"|\btotal (?:customers|revenue|orders)|how (?:are|am) (?:we|i) doing\b|\bin general\b|generally",
        0.2,
    ),
    "customer_profile": (
        r"tell me about|\bprofile\b|\bdetails\b|everything (?:you|we) (?:have|know)|\binfo (?:on|about)"
        r"|rundown|lowdown|pull up|look up|what do (?:we|you) know",
        0.1,
    ),
    "help": (
        r"\bhelp\b|what can (?:you|this)|what (?:are|is) (?:you|this|it) (?:able to|good for|for)\b|what do you do\b|capabilit|how do i use|how does (?:this|it) work|what can i ask|getting started|\bfeatures?\b|^\s*(?:hi|hello|hey)\b",
        0.2,
    ),
    "campaign_results": (
        r"campaign|uplift|save rate|hold.?out|control group|incremental|\blift\b"
        r"|\bdid\b.{0,40}\bwork|results? of|how did .{0,30}\b(?:do|go|perform)|vs control"
        r"|\bpromo\b|\bblast\b|a/?b test|test results|move the needle|results? from|\bpush\b",
        0.25,
    ),
    "campaign_strong": (
        r"\b(?:up)?lift\b|save rate|incremental|hold.?out|control group|how many (?:\w+ ){0,3}(?:did|were|got) (?:[\w'’-]+ ){0,4}(?:save|saved|win back|won back|bring back|brought back|recover|recovered)\b"
        r"|(?:saved|won back|recovered) by (?:the |our |my |that |last )|(?:extra|additional|incremental) (?:revenue|sales|orders|money)"
        r"|did (?:the |our |my |that |last )?(?:[\w'’-]+ ){0,2}(?:flow|campaign|e-?mails?|send|sequence|win.?back|promo|push)s? (?:bring|make|generate|drive|earn|add|save)",
        0.2,
    ),
    "tickets": (
        r"\btickets?\b|\btix\b|support|help.?desk|complain\w* about|customer service|\bcs inbox"
        r"|zendesk|gorgias|freshdesk",
        0.25,
    ),
    "kpis": (
        r"repeat (?:purchase |customer )?(?:rate|%)|\baov\b|average order|\brevenue\b|\bsales\b|churned|"
        r"active (?:customers|buyers)|\bkpis?\b|week over week|metrics|did we lose|returning customer"
        r"|weekly numbers|numbers (?:vs|versus|compared)|churn (?:this|last) week|takings|\bgmv\b|turnover"
        r"|order (?:count|volume)|retention rate|cart size|ticket size|spend per order",
        0.2,
    ),
    "customer_history": (
        r"\bhist\w*|\borders? (?:for|of|from|by)\b|(?:their|his|her) (?:past |previous |last )?orders\b|what (?:has|have|did) (?:customer |cust |client )?\S+ (?:\w+ )?(?:buy|bought|order|ordered|purchase|purchased)\b|received from|(?:gone|went) out to|\bhad (?:any )?(?:e-?mails?|messages?|texts?)|(?:bought|purchased|ordered) (?:\w+ )?before|drafts? (?:for|pending|waiting)|contacted|e-?mailed|messaged|last order",
        0.2,
    ),
    "why_customer": (
        r"\bwhy\b|\bexplain|how come|what'?s driving|what is driving|what'?s behind|what is behind",
        0.15,
    ),
    "customer_list": (
        r"(?:best|top|#1|number one|most valuable|biggest) (?:customer|spender|buyer|client|shopper)\b"
        r"|consent|opt(?:ed)?.?(?:in|out)|unsubscrib"
        r"|\blist (?:my|all|every)|customers (?:whose|with)|tier customers"
        r"|(?:in|of) the [\w' ]{3,25} (?:segment|group)",
        0.15,
    ),
    "ltv_cac": (
        r"\bltv\b|\bcac\b|acqui[sz]|lifetime value (?:to|vs|versus)|pay.?back|pays back|paid back|pay for (?:itself|themselves)|\broas\b|ad spend|break.?even on"
        r"|(?:cost|spent|spend|pay|paid) (?:to |on |for )?(?:get|getting|acquir|win(?:ning)? (?:a |new ))",
        0.25,
    ),
    "cross_sell": (
        r"cross.?sell|upsell|up.?sell|recommend|next best|what else|add.?ons?\b|\bpitch\b|suggest to|buy next",
        0.2,
    ),
    "draft": (
        r"\bdraft|\bwrite\b|\bcompose|win.?back (?:e.?mail|message)|\bemails? (?:to|for)\b",
        0.2,
    ),
    "brief": (
        r"\bbrie?f\b|\bweekly (?:report|summary|digest|recap|update)|\bsummar|\bdigest\b|\brecap\b|round.?up"
        r"|wrap.?up|catch me up|in a nutshell|tl;?dr|the gist|rundown (?:for|of) (?:this|the|last) week",
        0.2,
    ),
    "playbook": (
        r"playbook|\bplays?\b|tactic|strateg|what works|what(?:'s| has)? worked|how do i (?:win|keep|save)|\bideas?\b"
        r"|how (?:do|can|should) (?:i|we) (?:bring|get|re.?engage|reactivate|win|keep|save|stop|prevent|reduce)"
        r"|\btips?\b|\badvice\b|suggestions? for|what (?:should|can|do) (?:i|we) (?:send|offer|try)\b"
        r"|best way to|wake (?:up|them)|what (?:should|can|do) (?:i|we) do (?:about|with|for)"
        r"|\bapproach\b|game plan|best practice|what to do (?:about|with|for)"
        r"|how (?:should|do|can) (?:i|we) (?:handle|deal with|treat|approach)|how to (?:handle|deal with|treat|approach|win|keep|save|bring|get|stop|prevent|reduce|re.?engage)"
        r"|\bsequences?\b|\bcadence\b|how often",
        0.2,
    ),
    "segment_change": (
        r"chang|migrat|moved?|grow|grew|shr[iu]nk|compared|since last|last week|\bgain(?:ed|ing)?\b|shift"
        r"|segments? (?:\w+ ){0,3}(?:lost|los(?:e|ing)|bigger|smaller)"
        r"|(?:slid|slipped|fell|dropped|moved|went|gone) into\b|week on week|upgrad|downgrad|promoted",
        0.12,
    ),
    "clv_by_segment": (
        r"\bclv\b|lifetime value|how much (?:value|money|clv)\b|(?:segments?|groups?|they|they're|they are) (?:are |is )?worth\b|by segment|per segment|each segment|every segment"
        r"|segments? (?:split|breakdown|mix|distribution)|segments (?:\w+ )?split|split (?:of|across|by) (?:my )?segments",
        0.1,
    ),
    "contact_week": (r"contact|reach out|this week|outreach|to.?do", 0.08),
    "contact_strong": (
        r"\b(?:should|to|must|need to) (?:act on|focus on|prioriti[sz]e|work on|chase)\b|\baction (?:list|plan)\b|\bnext (?:7|seven|few) days\b|\bcoming week\b",
        0.15,
    ),
    "at_risk_list": (
        r"(?:about to|might|could|going to)(?: \w+)? (?:churn|leave|lose)\b|likely to (?:churn|leave|drop)|at.?risk|churning|drop(?:ping)? off"
        r"|stop (?:ordering|buying)|fading(?! engag)|cool(?:ing|ed) off"
        r"|\bbail|walk away|jump(?:ing)? ship|shaky|wobbl|flight risk|on the way out|los(?:e|ing) interest|waver"
        r"|slip(?:ping)? away|not (?:come|coming) back|n'?t come back",
        0.08,
    ),
}
KEYWORD_INTENT = {"campaign_strong": "campaign_results", "contact_strong": "contact_week"}
"""Keyword rules that add a second boost to an intent: cues that all but name it."""
ADVICE_Q = re.compile(
    r"^\s*(?:is it (?:\w+ ){0,2}(?:ok|okay|fine|wise|smart|sensible|good|bad|idea|worth|legal|allowed|better|mistake|risky"
    r"|effective|appropriate|too|pushy|spammy|annoying|overkill|creepy|enough)\b|should (?:i|we)\b"
    r"|how (?:often|much|many times|soon|long) should (?:i|we)|what(?:'s| is|s)? (?:a |the )?(?:good|best|right) (?!add.?on)"
    r"|(?:what|which) (?:\w+ )?works?\b|how (?:do|does|would) (?:other|most|successful|good|big) (?:shops|stores|brands|merchants|retailers|businesses)"
    r"|how to (?:handle|deal|treat|approach|win|keep|save|bring|get|stop|reduce|re.?engage)|does it (?:make sense|work|help)"
    r"|any (?:tips|advice|ideas)|(?:do|does) (?:[\w-]+ ){1,4}(?:actually |really |even )?work\b)|\b(?:better|worse|more effective) than\b",
    re.I,
)
"""A question asking for advice ("is it ok to ...", "should I ...", "is SMS better than email"):
the playbooks answer it, whatever customers or discounts it mentions."""
SEND_ASK = re.compile(
    r"^\s*(?:(?:can|could|would) you\s+|pl(?:ea)?se?\s+|pls\s+|go ahead and\s+|just\s+)*"
    r"(?:blast|send(?! me\b)|e-?mail|text|sms|message|push|fire off|shoot)\b"
    r"(?!\s+(?:consent|opt|open|click|engagement|rates?|performance|results?|campaigns?|list|subscri|stats))"
    r"(?![^.?!]*\b(?:draft|preview)).*?"
    r"(?:\bnow\b|right away|immediately|straight away|today|tonight|asap|\ball\b|\beveryone\b|\bevery (?:customer|one)\b|\bout\b)"
    r"|\bblast (?:an?|out|everyone|all|them|my|our|the list)\b"
    r"|\b(?:export|upload|sync|push|send|import)\b[^.?!]{0,40}\b(?:to|into|with) (?:my |our |the )?(?:mailchimp|klaviyo|hubspot|omnisend|"
    r"sendgrid|attentive|postscript|brevo|sendinblue|shopify|salesforce|crm|esp|email (?:platform|tool|provider))\b",
    re.I,
)
"""A request to send, blast or push customers to another platform now: nothing here sends or
exports unapproved, so it gets the can't-do answer (and what it can do instead), no tool."""
SELF_APPROVE = re.compile(
    r",?\s*\b(?:so (?:that )?(?:i|we) can|for (?:me|us) to|(?:and )?(?:i|we)(?:'ll| will| can| want to| wanna)|then (?:i|we)(?:'ll| will)?)"
    r" (?:approve|review|check|look (?:over|at)|sign off on|ok)\b[^.?!,]*",
    re.I,
)
""""..., so I can approve them": the merchant approves, which is no request to skip approval."""
OTHER_SHOPS_PRACTICE = re.compile(r"\bother (shops|stores|brands|merchants|retailers)\b(?!')", re.I)
"""Other shops in an advice question ("how do other shops handle returns"): practice, not
another store's data."""
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
_CACHE: dict[int, tuple[list[str], np.ndarray]] = {}


@functools.lru_cache(maxsize=1)
def _intent_model() -> IntentModel | None:
    """The shipped intent model, loaded once per process (None when there is none)."""
    return IntentModel.load()


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
    """KPIs the request names (keys of agent.assistant.prompts.KPI_WORDS)."""
    rank: str | None = None
    """"value" or "stake" when the request names a customer by rank ("my best customer")."""
    sort_by: str | None = None
    consent: tuple[str, str] | None = None
    """(channel or "any", state) when the request filters on consent."""
    at_risk: bool = False
    preview: bool = False


def extract(session, text: str) -> Entities:  # noqa: C901
    """Customer ids, money, counts, segment, churn reason, CLV tier and period in a request.
    Customers are only those the store has (`StoreSession.find_customers`: its ids, its
    customers' names); what is written as an id but is not one of the store's is unknown."""
    e, low = Entities(), expand(text.lower())
    for m in customer_mentions(session, text):
        if m.customer_id is not None:
            if m.customer_id not in e.customer_ids:
                e.customer_ids.append(m.customer_id)
        elif m.note:
            e.ambiguous.append(m.text)
        else:
            e.unknown_ids.append(m.text)
    money = (
        re.search(r"[$£€]\s?(\d[\d,]*(?:\.\d+)?)", text)
        or re.search(
            r"(\d[\d,]*(?:\.\d+)?)\s?(?:dollars?|bucks|usd|pounds?|gbp|quid|euros?|eur)\b", low
        )
        or re.search(r"\bcac\s*(?:of|is|=|at|:|was|costs?)?\s*(\d[\d,]*(?:\.\d+)?)", low)
        or re.search(r"(\d[\d,]*(?:\.\d+)?)\s*(?:cac|acquisition cost)", low)
    )
    if money:
        e.money = float(money.group(1).replace(",", ""))
    count = re.search(r"\btop\s+(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\b", low) or re.search(
        r"\b(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\s+(?:[\w-]+\s+){0,3}customers\b", low
    )
    if count:
        e.count = (
            int(NUMBER_WORDS.get(count.group(1), count.group(1) if count.group(1).isdigit() else 0))
            or None
        )
    e.segment = _segment(low)
    e.reason = next((r for pat, r in REASON_WORDS if re.search(pat, low)), None)
    if re.search(r"high.?(?:value|clv|tier|spend)|\bvip|best customers|most valuable", low):
        e.tier = "high"
    elif re.search(r"low.?(?:value|clv|tier)", low):
        e.tier = "low"
    if re.search(r"last month|30 days|four weeks", low):
        e.days_back, e.period_given = 30, True
    elif m := re.search(r"(?:last|past)\s+(\d{1,3})\s+days", low):
        e.days_back, e.period_given = max(1, min(365, int(m.group(1)))), True
    elif re.search(r"this week|last week|past week|this wk|last wk|7 days", low):
        e.period_given = True
    if re.search(r"\bsms\b|\btexts?\b|text messages?", low):
        e.channel = "sms"
    elif re.search(r"e-?mails?\b|emial|\bmails?\b", low):
        e.channel = "email"
    e.play = next((k for pat, k in PLAY_WORDS if re.search(pat, low)), None)
    e.metrics = [k for pat, k in METRIC_WORDS if re.search(pat, low)]
    e.at_risk = bool(
        re.search(
            r"at.?risk|risk(?:y|iest)|churn(?!\w*\s+(?:reason|driver|this week|last week|rate"
            r"|is (?:mostly |mainly |largely )?(?:down to|due to|because|caused|driven)))"
            r"|leav|lapse|slip|drift|(?:high|higher|highest|most) (?:churn )?risk|n(?:o|')t (?:come|coming) back|"
            r"in danger|drop(?:ping)? off|stop(?:ped)? (?:ordering|buying|shopping|purchasing)|go(?:ne|ing)? quiet|fading(?! engag)"
            r"|cool(?:ing|ed) off|on the fence"
            r"|\bbail|walk away|jump(?:ing)? ship|shaky|wobbl|flight risk|on the way out|los(?:e|ing) interest|waver"
            r"|(?:about|going) to lose|(?:might|could|will|may)(?: \w+)? lose\b",
            low,
        )
    )
    if re.search(
        r"(?:best|top|#1|number one|no\.? ?1|most valuable|biggest|most important|highest.?value|largest)"
        r" (?:customer|spender|buyer|client|shopper)\b",
        low,
    ):
        e.rank = "value"
    elif re.search(r"customer (?:with|who has) the most (?:value |money )?at stake", low):
        e.rank = "stake"
    if re.search(r"at stake|value at risk|money at risk", low):
        e.sort_by = "value_at_stake"
    elif re.search(r"spend|spender|revenue to date|spent the most", low):
        e.sort_by = "revenue_to_date"
    elif re.search(
        r"riskiest|most likely to (?:churn|leave)|highest churn|by churn (?:prob\w*|risk|score|likelihood)",
        low,
    ):
        e.sort_by = "churn_probability"
    if re.search(r"consent|opt(?:ed)?.?(?:in|out)|unsubscrib|permission", low):
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
        e.consent = (ch, state)
    e.preview = bool(
        re.search(r"preview|without queu|don.?t queue|do not queue|not queue|just show", low)
    )
    return e


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
ID_BEFORE = re.compile(
    r"\b(?:customer|cust|client|buyer|shopper|id)\s*(?:id|number|no\.?)?\s*[:#]?\s*$", re.I
)
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


class Planner:
    """Maps a request to tools and answers from templates. Remembers the last customer."""

    def __init__(self, session, runner: ToolRunner | None = None, embedder=None) -> None:
        self.session = session
        self.runner = runner or ToolRunner(session)
        self._embedder = embedder
        self.last_customer: str | None = None

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

    def classify(  # noqa: C901
        self, text: str, ents: Entities | None = None
    ) -> tuple[str | None, dict[str, float]]:
        """The intent (None when nothing fits well enough) and every intent's score."""
        ents = ents or extract(self.session, text)
        labels, mat = self._examples()
        norm = _normalised(self.session, text)
        q = _unit(np.asarray(self.embedder.embed([norm]), dtype=float))[0]
        sims = mat @ q
        scores: dict[str, float] = {}
        for lab, s in zip(labels, sims):
            scores[lab] = max(scores.get(lab, -1.0), float(s))
        model = _intent_model()
        if model is not None and model.fits(self.embedder):  # what the labelled phrasings taught
            proba = model.proba(norm, q)
            for (
                intent
            ) in scores:  # the more it reads as a request no tool answers, the less any fits
                scores[intent] += WEIGHT * (proba.get(intent, 0.0) - proba.get(NONE, 0.0))
        low = expand(text.lower())
        for intent, (pat, boost) in KEYWORDS.items():
            if re.search(pat, low):
                scores[KEYWORD_INTENT.get(intent, intent)] += boost
        has_id = bool(ents.customer_ids or ents.unknown_ids or ents.ambiguous)
        if re.search(
            KEYWORDS["campaign_strong"][0], low
        ):  # "how many did last week's emails win back": a campaign's effect
            for intent in ("segment_change", "kpis"):
                scores[intent] -= 0.1
        if customer_mentions(
            self.session, text
        ):  # "snapshot of customer C000859": about one customer
            for intent in ("overview", "clv_by_segment"):
                scores[intent] -= 0.1
        for intent in CUSTOMER_INTENTS:
            scores[intent] += 0.1 if has_id else -0.05
        if ents.rank and not has_id:  # "my best customer": a customer named by rank, not a list
            scores["why_customer" if WHY.search(low) else "customer_list"] += 0.15
            for intent in ("at_risk_list", "clv_by_segment"):
                scores[intent] -= 0.1
        if ents.money is not None:
            scores["ltv_cac"] += 0.1
        if ents.metrics and not has_id:  # a KPI named ("retention rate", "takings")
            scores["kpis"] += 0.08
        if ents.segment and not (has_id or ents.at_risk) and LIST_ASK.search(low):
            scores["customer_list"] += (
                0.1  # "list hibernating customers": the customers of a segment
            )
        if ents.reason and not (has_id or ents.at_risk) and REASON_FILTER.search(low):
            scores["customer_list"] += (
                0.12  # "customers whose main churn driver is returns": a filter
            )
        if not (WRITE_VERB.search(text) and MESSAGE_NOUN.search(text)):  # a question never writes,
            for intent in WRITES:  # whatever the intent model reads in it
                scores[intent] -= 0.5 + WEIGHT
        elif WRITE_ASK.search(text):  # "put together sms nudges for ...": an ask to write, whatever
            scores["draft"] += 0.1 + WEIGHT  # else the intent model reads in what it is for
        if OUT_OF_SCOPE.search(low):  # an action on the shop itself: not one of the tools
            for intent in scores:
                scores[intent] -= 0.25
        if not HISTORY_CUE.search(text):  # "tell me about C000123" is the profile, not the history
            scores["customer_history"] -= 0.15
        elif WRITE_ASK.search(
            text
        ):  # "make drafts for ...": an ask to write, not the drafts made so far
            scores["customer_history"] -= 0.2
        if ents.segment and not (has_id or ents.at_risk) and SEGMENT_MEMBERS.search(low):
            scores["customer_list"] += (
                0.25  # "everyone in the Can't lose them segment": its members
            )
            scores["at_risk_list"] -= 0.1
        if not re.search(
            KEYWORDS["segment_change"][0] + CHANGE_CUE, low
        ):  # "how big is the X segment": no change asked
            scores["segment_change"] -= 0.1
        if RANK_BY.search(low) and not WRITE_VERB.search(
            text
        ):  # "top 25 by churn probability": a ranked
            scores["customer_list"] += 0.3 + WEIGHT  # list, sorted by what it names
            scores["at_risk_list"] -= 0.1
        advice = bool(ADVICE_Q.search(low)) and not has_id and not WRITE_ASK.search(text)
        if advice:  # "should I ...", "is it ok to ...": the playbooks answer advice questions
            scores["playbook"] += 0.3
            for intent in ("at_risk_list", "customer_list", "kpis", "tickets", "segment_change"):
                scores[intent] -= 0.25
        if ents.at_risk and not (
            advice or ents.rank or ents.consent or ents.sort_by or WRITE_VERB.search(text)
        ):
            scores["at_risk_list"] += 0.1  # a list of customers at risk is the at-risk list
            scores["customer_list"] -= 0.1
        best = max(scores, key=scores.get)
        return (best if scores[best] >= MIN_SCORE else None), scores

    def route(self, message: str) -> list[tuple[str | None, Entities, str]]:
        """(intent, entities, text) for each ask in the request: several asks in one ("repeat
        rate? also who should I contact") are split at strong separators and each is routed;
        a short part that refers back ("how did that change") stays with the part before it,
        and parts with the same intent are one ask."""
        whole = extract(self.session, message)
        if SEND_ASK.search(message) and not ADVICE_Q.search(
            message
        ):  # send, blast, export: no tool (`ask`)
            return [(None, whole, message)]
        parts = [
            re.sub(r"^(?:and|then|also|plus)\s+", "", p.strip(" ,."), flags=re.I)
            for p in SPLIT.split(message)
            if p and p.strip(" ,.")
        ]
        merged: list[str] = []
        lead = ""  # statements before the first ask ("We sent a code last Tuesday. Did it work?")
        for p in parts:
            if not merged and _statement(p, message):
                lead = f"{lead}{p}. "
            elif merged and (
                len(p.split()) < 3
                or (len(p.split()) <= 4 and BACK_REF.search(p))
                or CONTEXT.search(p)
            ):
                merged[-1] = f"{merged[-1]} and {p}"
            else:
                merged.append(lead + p)
                lead = ""
        if lead:  # statements only: one request
            merged.append(lead.strip(" ."))
        if (
            len(merged) == 1
        ):  # "the weekly brief and the segment changes": two asks if both halves are
            merged = self._and_split(merged[0]) or merged
        if len(merged) > 1:
            routed = []
            for p in merged:
                e = extract(self.session, p)
                if not (e.customer_ids or e.unknown_ids or e.ambiguous):
                    e.customer_ids, e.unknown_ids = (
                        list(whole.customer_ids),
                        list(whole.unknown_ids),
                    )
                    e.rank = e.rank or whole.rank
                intent, _ = self.classify(p, e)
                if intent == "draft":  # "... at-risk customers, then draft emails for the top 3"
                    e.at_risk = e.at_risk or whole.at_risk
                if routed and routed[-1][0] == intent:
                    continue
                routed.append((intent, e, p))
            kept = self._overlaps(routed, whole)
            known = [r for r in kept if r[0] not in (None, "help")]
            if len(known) > 1 or (known and len(kept) < len(routed)):
                return known
        intent, _ = self.classify(message, whole)
        return [(intent, whole, message)]

    def _and_split(self, text: str) -> list[str] | None:
        """The two asks of "X and the Y" when each half is one on its own (3+ words, a clear
        intent of its own, not help), else None."""
        for m in AND_SPLIT.finditer(text):
            a, b = text[: m.start()].strip(" ,."), text[m.end() :].strip(" ,.")
            if len(a.split()) < 3 or len(b.split()) < 3:
                continue
            ea, eb = extract(self.session, a), extract(self.session, b)
            if not (
                eb.customer_ids or eb.unknown_ids or eb.ambiguous
            ):  # "C000404 and their orders"
                eb.customer_ids, eb.unknown_ids = list(ea.customer_ids), list(ea.unknown_ids)
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
            if intent == "at_risk_list" and any(
                r[0] == "draft" and r[1].at_risk and not r[1].customer_ids for r in routed[i + 1 :]
            ):
                continue
            if intent == "segment_change" and not e.period_given and whole.period_given:
                e.days_back, e.period_given = whole.days_back, True
            out.append((intent, e, p))
        return out

    def ask(self, message: str) -> Answer:
        start = len(self.runner.trace)
        if SEND_ASK.search(message) and not ADVICE_Q.search(
            message
        ):  # send, blast, export: not done here
            text = self._refuse(policy.Refusal("send"))
            return Answer(f"{text}\n\n{OFFLINE_NOTE}", self.runner.trace[start:], "offline")
        screened = SELF_APPROVE.sub("", message)
        if ADVICE_Q.search(screened) or re.search(KEYWORDS["playbook"][0], screened.lower()):
            screened = OTHER_SHOPS_PRACTICE.sub(r"most \1", screened)
        refused = policy.refusal(screened, discount_cap=self._discount_cap())
        if refused is not None:
            text = self._refuse(refused)
            return Answer(f"{text}\n\n{OFFLINE_NOTE}", self.runner.trace[start:], "offline")
        texts = []
        for intent, ents, part in self.route(message):
            if ents.customer_ids:
                self.last_customer = ents.customer_ids[0]
            elif (
                not ents.unknown_ids
                and self.last_customer
                and re.search(
                    r"\b(this|that|the same|him|her|them) customer\b|\b(him|her)\b", part.lower()
                )
            ):
                ents.customer_ids = [self.last_customer]
            texts.append(self._answer(intent, ents, part))
        return Answer(
            "\n\n".join(texts) + f"\n\n{OFFLINE_NOTE}", self.runner.trace[start:], "offline"
        )

    def _answer(self, intent: str | None, e: Entities, message: str) -> str:
        if intent is None or intent == "help":
            lead = (
                "I can't map that request to one of my tools."
                if intent is None
                else "Here is what I can do."
            )
            return lead + " Try asking about:\n" + "\n".join(f"- {c}" for c in CAPABILITIES)
        if intent in CUSTOMER_INTENTS + ("draft",) and not e.customer_ids and e.ambiguous:
            return (
                f"Several customers of this store are called {e.ambiguous[0]}: which one? Give "
                f"their customer id, e.g. '{message.rstrip('?.! ')}' with the id instead of the name."
            )
        lead = ""
        if (
            intent in CUSTOMER_INTENTS + ("draft",)
            and not e.customer_ids
            and e.rank
            and not e.unknown_ids
        ):
            res = self._call(
                "list_customers",
                sort_by="value_at_stake" if e.rank == "stake" else "predicted_clv",
                at_risk_only=e.at_risk or None,
                limit=1,
            )
            if isinstance(res, str) or not res["customers"]:
                return T.customers(res)
            e.customer_ids = [res["customers"][0]["customer_id"]]
            lead = T.top_customer(res) + "\n"
        if intent in CUSTOMER_INTENTS and not e.customer_ids:
            if e.unknown_ids:
                return self._call_error("explain_customer", {"customer_id": e.unknown_ids[0]})
            return (
                "Which customer? Give their id, e.g. "
                f"'{message.rstrip('?.! ')} {self.session.by_id.index[0]}'."
            )
        return lead + getattr(self, f"_{intent}")(e, message)

    def _discount_cap(self) -> float:
        from agent.settings import Settings

        return float((self.session.settings or Settings()).discount_cap)

    def _refuse(self, r: policy.Refusal) -> str:
        rules = self._call("outreach_rules") if r.kind == "discount" else None
        return policy.refusal_text(r, rules, store=f"the store in {self.session.store_dir.name!r}")

    def _call_error(self, tool: str, args: dict) -> str:
        res = self.runner.call(tool, args)
        return res if isinstance(res, str) else "Unexpected result."

    # --- one handler per intent: tool calls, then a template over their results -----------------

    def _call(self, tool: str, **args):
        return self.runner.call(tool, {k: v for k, v in args.items() if v is not None})

    def _contact_week(self, e: Entities, _: str) -> str:
        res = self._call("prioritise_interventions", limit=e.count or 10)
        if isinstance(res, str):  # prioritisation not built: rank by value at stake instead
            return T.at_risk(self._call("at_risk_customers", limit=e.count or 10), this_week=True)
        return T.plan(res)

    def _at_risk_list(self, e: Entities, _: str) -> str:
        return T.at_risk(
            self._call(
                "at_risk_customers",
                segment=e.segment,
                clv_tier=e.tier,
                reason=e.reason,
                limit=e.count or 10,
            )
        )

    def _why_customer(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            T.why(self._call("explain_customer", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _customer_profile(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            T.profile(self._call("explain_customer", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _cross_sell(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            T.cross_sell(self._call("next_best_product", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _clv_by_segment(self, e: Entities, _: str) -> str:
        return T.segments(self._call("segment_summary"))

    def _segment_change(self, e: Entities, _: str) -> str:
        return T.migration(
            self._call("segment_summary"),
            self._call("segment_migration", days_back=e.days_back),
            e.segment,
        )

    def _ltv_cac(self, e: Entities, _: str) -> str:
        return T.ltv_cac(self._call("clv_ltv_cac", cac=e.money, segment=e.segment))

    def _playbook(self, e: Entities, message: str) -> str:
        res = self._call(
            "search_playbooks", query=message[:300], segment=e.segment, reason=e.reason
        )
        if not isinstance(res, str) and not res["playbooks"] and (e.segment or e.reason):
            res = self._call("search_playbooks", query=message[:300])
        return T.playbooks(res)

    def _brief(self, e: Entities, _: str) -> str:
        res = self._call("weekly_brief", cac=e.money)
        if not isinstance(res, str):
            return T.brief(res)
        return T.mini_brief(
            self._call("store_overview"),
            self._call("segment_migration"),
            self._call("at_risk_customers", limit=5),
        )

    def _draft(self, e: Entities, _: str) -> str:
        """Drafts into the approval queue, of the kind of play and on the channel asked for. "My
        top N at-risk customers" are the ones the at-risk list names (by value at stake): each is
        drafted or said why not (no consent, no fitting play), never silently swapped."""
        if e.unknown_ids and not e.customer_ids:
            return self._call_error("explain_customer", {"customer_id": e.unknown_ids[0]})
        if e.preview and e.customer_ids:
            return T.draft_preview(self._call("draft_message", customer_id=e.customer_ids[0]))
        kind = {"play": e.play, "channel": e.channel}
        if e.customer_ids:
            return T.queued(self._call("queue_drafts", customer_ids=e.customer_ids[:10], **kind))
        if e.at_risk or e.segment or e.tier:
            risk = self._call(
                "at_risk_customers",
                segment=e.segment,
                clv_tier=e.tier,
                reason=e.reason,
                limit=e.count or 3,
            )
            if isinstance(risk, str) or not risk["customers"]:
                return T.at_risk(risk)
            ids = [c["customer_id"] for c in risk["customers"]]
            return (
                f"Your top {len(ids)} at-risk customers by value at stake: {', '.join(ids)}. Drafts go to "
                "the customers this week's plan can contact; each of these that gets none is named below "
                "with why.\n"
                + T.queued(self._call("queue_drafts", top_n=e.count or 3, explain_ids=ids, **kind))
            )
        return T.queued(self._call("queue_drafts", top_n=e.count or 3, **kind))

    def _overview(self, e: Entities, _: str) -> str:
        return T.overview(self._call("store_overview"))

    def _kpis(self, e: Entities, _: str) -> str:
        return T.kpis(self._call("store_kpis"), e.metrics or None)

    def _campaign_results(self, e: Entities, _: str) -> str:
        return T.campaigns(self._call("campaign_results"))

    def _customer_list(self, e: Entities, _: str) -> str:
        ch, state = e.consent or (None, None)
        sort_by = e.sort_by or ("value_at_stake" if e.rank == "stake" else None)
        return T.customers(
            self._call(
                "list_customers",
                sort_by=sort_by,
                at_risk_only=e.at_risk or None,
                segment=e.segment,
                clv_tier=e.tier,
                reason=e.reason,
                consent_channel=ch,
                consent_state=state,
                limit=e.count or (1 if e.rank else 10),
            )
        )

    def _customer_history(self, e: Entities, _: str) -> str:
        return "\n\n".join(
            T.history(self._call("customer_history", customer_id=c)) for c in e.customer_ids[:3]
        )

    def _tickets(self, e: Entities, _: str) -> str:
        return T.tickets(
            self._call("support_tickets", days_back=e.days_back if e.period_given else None)
        )


SEGMENT_MEMBERS = re.compile(
    r"\b(?:everyone|everybody|all|customers|people|members|who(?:'s| is| are)?)\b (?:\w+ ){0,2}(?:in|of) "
    r"(?:the |my |our )?[\"'“‘]?[\w' ]{3,25}[\"'”’]? (?:segment|group)",
    re.I,
)
CHANGE_CUE = (
    r"|\bvs\b|versus|trend|(?:last|this|past) month|before|over time|week on week|month on month|evolv|moved where|who moved"
    r"|smaller|bigger|larger|fewer|more or less|(?:came|come|got|get) into|joined|left (?:the|my)"
)
RANK_BY = re.compile(
    r"\b(?:by|on|sorted by|ranked by|order(?:ed)? by) (?:their |highest |most )?(?:churn (?:prob\w*|risk|score|likelihood)"
    r"|value at stake|value|clv|predicted (?:clv|value)|lifetime value|spend|revenue)\b",
    re.I,
)
SPLIT = re.compile(
    r"\?+\s*|;\s*|\s+\+\s+|\s+&\s+|\.\s+(?=[A-Za-z])|,?\s+(?:and\s+)?also\s+|,?\s+and then\s+"
    r"|,?\s+then\s+|,?\s+plus\s+|,?\s+and\s+(?=(?:what|how|who|which|whats|what's|show|list|"
    r"draft|give|tell)\b)|,\s+(?=(?:what|how|who|which)\b)",
    re.I,
)
BACK_REF = re.compile(r"\b(?:that|it|this|those|these|they|them|they're|theyre)\b", re.I)
CONTEXT = re.compile(
    r"^(?:they|he|she|i|we|it|this|that|our|my)\b(?!.*\b(?:what|how|who|which|why|when|show|list|give|tell|need|want"
    r"|like|can|could|should|would|draft|write|pull|send|compare)\b)",
    re.I,
)
"""A part that only gives context ("They used to order every month"): it stays with the ask before it."""
AND_SPLIT = re.compile(r",?\s+and\s+(?=(?:the|their|his|her|my|our)\b)", re.I)
"""Where one ask may end and another begin without a question word ("the brief and the segment
changes"): split there only when both sides are asks of their own (`Planner.route`)."""


ASK_START = re.compile(
    r"^\s*(?:what|whats|what's|how|who|whos|who's|which|why|when|where|is|are|am|do|does|did|"
    r"can|could|would|should|will|show|list|give|gimme|tell|get|pull|draft|write|prep|prepare|"
    r"make|compare|find|send|export|e-?mail|text|any|please|pls|plz)\b",
    re.I,
)


def _statement(part: str, message: str) -> bool:
    """A sentence that tells rather than asks ("I can spare 100 dollars on incentives.",
    "Customer 900 just bought a grinder."): four words or more, ended by a full stop in the
    message (not a question mark), and not opening with a question word or a request."""
    if len(part.split()) < 4 or ASK_START.search(part):
        return False
    at = message.find(part)
    rest = message[at + len(part) :].lstrip() if at >= 0 else ""
    return rest.startswith(".") and not rest.startswith("..")


def _normalised(session, text: str) -> str:
    """The request with each customer it names written as C000123, so that the intent examples
    (which use that id) match whatever the store's ids or names look like."""
    out, last = [], 0
    for m in customer_mentions(session, text):
        out += [text[last : m.start], "C000123"]
        last = m.end
    return expand("".join(out) + text[last:])


SHORTHAND = {
    r"\bcusts?\b": "customers",
    r"\bcustomrs?\b|\bcustmers?\b|\bcusotmers?\b": "customers",
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
}


def expand(text: str) -> str:
    """Merchant shorthand written out ("custs" -> customers, "wk" -> week), for matching."""
    for pat, word in SHORTHAND.items():
        text = re.sub(pat, word, text, flags=re.I)
    return text


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.clip(np.linalg.norm(m, axis=-1, keepdims=True), 1e-12, None)
