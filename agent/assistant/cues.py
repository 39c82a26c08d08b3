# ruff: noqa: E501  (one regular expression per line: the routing vocabulary, read as a list of phrasings)
"""The words that route a request: regular expressions the offline planner's router reads.

Keyword cues per intent with their boost (`KEYWORDS`), what asks to write (`WRITE_VERB`,
`WRITE_ASK`, `MESSAGE_NOUN`), to send or export now (`SEND_ASK`, never done), for advice
(`ADVICE_Q`), for a list (`LIST_ASK`, `SEGMENT_MEMBERS`, `RANK_BY`, `REASON_FILTER`) or for
what was sent before (`HISTORY_CUE`), and where one ask of a message ends and the next begins
(`SPLIT`, `SEND_CUT`, `AND_SPLIT`, `BACK_REF`, `CONTEXT`, `ASK_START`). Patterns only, no logic.
"""

from __future__ import annotations

import re

from agent.assistant.entities import NUMBER_WORDS

DRAFTS_FOR = (
    r"^\s*(?:(?:e-?mail|sms|text)\s+)?drafts?\s+(?:for|to)\s+"
    r"(?!(?:customer|cust|client|id|c)\s*#?\s*\d|c\d|#\s*\d)"
)
"""An ask that opens with "drafts for" a group ("... my top 5, and drafts for them", "drafts for
at risk VIPs", "drafts for who to contact this wk"): a request to write, while "drafts for
C000123" (a customer's id) may ask for the ones made."""
WRITE_VERB = re.compile(
    r"\b(?:draft|write|compose|prep(?:are)?|create|queue|put together|make|preview)\b"
    r"|^\s*(?:please\s+)?(?:e-?mail|message|text)\b|" + DRAFTS_FOR,
    re.I,
)
WRITE_ASK = re.compile(
    r"^\s*(?:(?:can|could|would) you\s+|pl(?:ea)?se?\s+|pls\s+|go ahead and\s+)*(?:draft|write|compose"
    r"|prep(?:are)?|create|queue|put together|make|generate|set up)\b|" + DRAFTS_FOR,
    re.I,
)
"""A request that starts by asking to write: with a message noun, it asks for drafts."""
MESSAGE_NOUN = re.compile(
    r"e-?mail|emial|message|\bsms\b|\btexts?\b|\bnote\b|outreach|reminder|win.?back|nudges?\b|"
    r"\bdrafts?\b|campaign|\bletter|copy\b|\bsomething (?:to|for)\b|\ba (?:few )?lines? (?:to|for)\b",
    re.I,
)
"""What a draft request writes: a request to write something else ("a poem") is no draft."""
WHY = re.compile(r"\bwhy\b|how come|reason|\bdriv(?:ing|es|ers?)\b|what'?s behind|\bcaus", re.I)
OUT_OF_SCOPE = re.compile(
    r"^\s*(?:please\s+)?(?:refund|cancel|ship|update|set up|book|buy|translate|delete|"
    r"install|order more|restock|reorder|change|edit|redesign|publish|rename)\b"
)
SHOP_ACTION = re.compile(r"^\s*(?:please\s+)?(?:refund|cancel|delete|restock|reorder)\b", re.I)
"""The `OUT_OF_SCOPE` actions that never ask about anything ("refund c400 last order"), whatever
the words after them read as; "update", "change" or "book" may ("update me on the kpis")."""
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
        r"\btickets?\b|\btix\b|support|help.?desk|complain|customer service|\bcs inbox"
        r"|zendesk|gorgias|freshdesk",
        0.25,
    ),
    "kpis": (
        r"repeat (?:purchase |customer )?(?:rate|%)|\baov\b|average order|\brevenue\b|\bsales\b|churned|"
        r"active (?:customers|buyers)|\bkpis?\b|week over week|metrics|did we lose|returning (?:customer|buyer|shopper)"
        r"|weekly numbers|key (?:numbers|metrics|figures|stats)|numbers (?:vs|versus|compared)|churn (?:this|last) week|takings|\bgmv\b|turnover"
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
        r"(?:best|top|#1|number one|most valuable|biggest)(?: \d+)? (?:customer|spender|buyer|client|shopper)s?\b"
        r"|\b(?:champions|loyal|potential loyalists?|new|promising|hibernating|lost|vips?)"
        r"(?: customers)? list\b|\b(?:my|our|all(?: my| our)?|the) (?:champions|loyal|potential loyalists?|promising"
        r"|hibernating|lost|vips?|need attention|about to sleep)(?: customers| buyers| shoppers)\b"
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
        r"playbook|\bplays?\b|tactic|strateg|what works|what(?:'s| has)? worked|what(?:'s| is|s) working|how do i (?:win|keep|save)|\bideas?\b"
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
        r"|segments? (?:split|breakdown|mix|distribution|sizes?|summary|overview|counts?)|segments (?:\w+ )?split|split (?:of|across|by) (?:my )?segments",
        0.1,
    ),
    "contact_week": (r"contact|reach out|this week|outreach|to.?do", 0.08),
    "cross_sell_them": (  # a product for someone, not advice: "what should I recommend to them"
        r"\b(?:recommend|suggest|pitch|sell) (?:to )?(?:them|him|her|this (?:customer|person)|c\d+)\b",
        0.45,
    ),
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
KEYWORD_INTENT = {
    "campaign_strong": "campaign_results",
    "contact_strong": "contact_week",
    "cross_sell_them": "cross_sell",
}
"""Keyword rules that add a second boost to an intent: cues that all but name it."""
ADVICE_Q = re.compile(
    r"^\s*(?:is it (?:\w+ ){0,2}(?:ok|okay|fine|wise|smart|sensible|good|bad|idea|worth|legal|allowed|better|mistake|risky"
    r"|effective|appropriate|too|pushy|spammy|annoying|overkill|creepy|enough)\b|(?:when )?should (?:i|we)\b"
    r"|how (?:often|much|many times|soon|long) should (?:i|we)|what(?:'s| is|s)? (?:a |the )?(?:good|best|right|healthy|normal|typical|reasonable|decent) (?!add.?on)"
    r"|(?:what|which) (?:\w+ )?works?\b|how (?:do|does|would) (?:other|most|successful|good|big) (?:shops|stores|brands|merchants|retailers|businesses)"
    r"|how to (?:handle|deal|treat|approach|win|keep|save|bring|get|stop|reduce|re.?engage)|does it (?:make sense|work|help)"
    r"|any (?:tips|advice|ideas)|(?:do|does) (?:[\w-]+ ){1,4}(?:actually |really |even )?work\b"
    r"|what (?:to|should (?:i|we)|do (?:i|we)|can (?:i|we)) do (?:about|with|when|if|for)\b|what to do\s*$)"
    r"|^(?!.*\b(?:was|were|did|went|performed|last (?:week|month|campaign))\b).*?\b(?:better|worse|more effective) than\b",
    re.I,
)
"""A question asking for advice ("is it ok to ...", "should I ...", "is SMS better than email"):
the playbooks answer it, whatever customers or discounts it mentions; not a comparison of what
was done ("was the SMS play better than the email play last week": the campaign's results)."""
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
_WHY = (
    r"why (?:is|are|was|were|did|does|do|would|might|has|have"  # a why-question, not "why the risk"
)
SPLIT = re.compile(
    r"\?+\s*|;\s*|\s+\+\s+|\s+&\s+|\.\s+(?=[A-Za-z])|,?\s+(?:and\s+)?also\s+|,?\s+and then\s+"
    r"|(?:,\s*|\s+and\s+)(?:afterwards?|after that)\s+(?=[a-z]+\b)|,?\s+then\s+|,?\s+plus\s+"
    r"|,?\s+and\s+(?=(?:what|how|who|which|whats|what's|show|list|draft|give|tell|is it|should (?:i|we)|"
    + _WHY
    + r"|she|he|they|it))\b)|,\s+(?=(?:what|how|who|which|(?:tell me|let me know) (?:if|whether|why|what"
    r"|how|who|which)|" + _WHY + r"|the (?:first|top|second|last) one))\b)",
    re.I,
)
SEND_CUT = re.compile(
    SPLIT.pattern + r"|(?:,\s*|\s+)and\s+(?=(?:(?:please|pls|just|go ahead and)\s+)*"
    r"(?:send|blast|e-?mail|text|sms|message|push|export|upload|sync|approve)\b)"
    r"|,\s*(?=(?:(?:please|pls|just|go ahead and)\s+)*(?:send|blast|export|upload|sync|approve|show|list|give"
    r"|tell|draft|write|pull|what|how|who|which)\b)",
    re.I,
)
"""Where one ask of a message ends when one of them may be to send, export or approve: `SPLIT`,
before a joined ask to send ("show me the brief and send it to my partner"), or at a comma before
an ask ("send the emails now, show kpis"), so that ask alone is refused."""
BACK_REF = re.compile(r"\b(?:that|it|this|those|these|they|them|they're|theyre)\b", re.I)
PERSON_REF = re.compile(r"\b(?:he|she|him|her|his|hers)\b", re.I)
"""One customer referred back to as a person ("why is my best customer at risk, what's she
bought"): like `BACK_REF` for the asks after a customer, not for what keeps a short part with
the part before it."""
CONTEXT = re.compile(
    r"^(?:they|he|she|i|we|it|this|that|our|my)\b(?!.*\b(?:what|how|who|which|why|when|show|list|give|tell|need|want"
    r"|like|can|could|should|would|draft|write|pull|send|compare)\b)",
    re.I,
)
"""A part that only gives context ("They used to order every month"): it stays with the ask before it."""
NEGATED = re.compile(
    r"^(?:not|no|without|except|but not|rather than|instead of|never|nothing about"
    r"|(?:i |we )?(?:don'?t|do not) (?:want|need)|no need)\b",
    re.I,
)
"""A part that says what the merchant does not want ("not just the kpis", "no discounts")."""
QUALIFIER = re.compile(
    r"^(?:(?:sorted|ranked|ordered|grouped|broken down|split) by|by (?:value|clv|spend|revenue|churn)"
    r"|keep (?:it|them)|make (?:it|them) (?:short|friendly|casual|formal|warm|personal)"
    r"|in an? \w+ (?:tone|voice|style)|thank(?:ing)? them"
    r"|(?:only )?(?:the ones?|those|ones) (?:with|who|that|whose|in|from|on)"
    r"|(?:compared|comparing) (?:with|to)|versus|vs)\b"
    r"|^(?:overall|in total|altogether)$"
    r"|^(?:what|how much)(?: are| is)? (?:they|they're|theyre|it|that|those|these)(?: are)? (?:all )?worth\b"
    r"|^(?:[\w-]+\s+){0,2}(?:tone|voice|style)$"
    r"|^(?:short|friendly|casual|formal|warm|polite|personal|concise)(?:\s+(?:and|&)\s+\w+)?$",
    re.I,
)
"""A part that only qualifies the ask before it: its order ("sorted by value") or a draft's tone
("friendly tone", "keep it short and friendly")."""
_AMOUNT = r"(?:about |around |like )?[$£€]?\s?\d[\d,.]*k?\s*(?:\$|dollars?|bucks|usd|eur|euros?|pounds?|quid)?"
GIVEN_FIGURE = re.compile(
    r"^(?:(?:i|we)(?:'ve| have| got| can (?:spend|spare)| only have)|(?:only|just|got)"
    r"|(?:my |the |a |with (?:a |my )?)?budget(?: is| of)?|with)?\s*"
    + _AMOUNT
    + r"(?:\s+(?:to spend|budget|this (?:week|wk)|for (?:this|the) week|left))*\s*$"
    r"|^(?:(?:my|our|the)\s+)?(?:\w+\s+){0,2}(?:is|was|are|=|of)\s+" + _AMOUNT + r"\s*$",
    re.I,
)
"""A part that only gives a figure: the budget ("I have $350", "only 150 bucks this week") or a
cost ("my CAC is $55"). It qualifies the ask beside it (the contact plan, the LTV:CAC ratio),
no ask of its own."""
FIRST_ONE = re.compile(r"\b(?:the )?(?:first|top|1st) one\b|\bnumber one\b|#1\b", re.I)
"""A customer ask about the first of a list just given ("... top 20 customers; why is the first one
at risk?")."""
THEM = re.compile(r"\b(?:them|they|those|these|their|each of them|all of them)\b", re.I)
"""A draft request that refers to customers named before it ("... my top 5, and drafts for them")."""
TOP_GROUP = re.compile(
    r"\b(?:top|best|biggest|most valuable)\s+(?:\d{1,3}|" + "|".join(NUMBER_WORDS) + r")?\s*"
    r"(?:[\w-]+\s+){0,2}(?:customers|spenders|buyers|clients|shoppers|accounts)\b",
    re.I,
)
"""A group of customers named by rank ("my top 20 customers", "best spenders"): drafts for them go
to those customers (`agent.assistant.planner.Planner._draft`), not to this week's plan."""
AND_SPLIT = re.compile(r",?\s+and\s+(?=(?:the|their|his|her|my|our)\b)", re.I)
"""Where one ask may end and another begin without a question word ("the brief and the segment
changes"): split there only when both sides are asks of their own (`Router.route`)."""


ASK_START = re.compile(
    r"^\s*(?:what|whats|what's|how|who|whos|who's|which|why|when|where|is|are|am|do|does|did|"
    r"can|could|would|should|will|show|list|give|gimme|tell|get|pull|draft|write|prep|prepare|"
    r"make|compare|find|send|export|e-?mail|text|any|please|pls|plz)\b",
    re.I,
)
