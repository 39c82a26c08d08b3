"""The guardrails' words: the phrasings each rule looks for, as word lists and patterns.

URGENCY (false urgency and pressure), SENSITIVE (health, religion, ethnicity, age, money
trouble...), INSTRUCTION (text that gives orders), URL, CREDENTIALS, REQUESTS (a product name
asking the reader to act), OFFER_WORDS and STORE_OFFER (offers other than a percentage), and
the patterns of numbers, amounts, codes and prices (PERCENT, OFF, SPELLED, MONEY, PRICE,
CODE_AFTER, CODE_SHAPE). Plain data: the rules that read them are in agent.outreach.scan and
agent.outreach.guardrails, and agent.outreach.policy reuses some.
"""

from __future__ import annotations

import re

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
UNITS = [
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
TENS = {
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
    r"\b(?:(?P<tens>" + "|".join(TENS) + r")(?:[\s-]+(?P<unit>" + "|".join(UNITS[1:10]) + r"))?"
    r"|(?P<small>" + "|".join(UNITS) + r")|(?P<hundred>(?:a|one)\s+hundred|hundred)|(?P<half>half))"
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
MONEY = re.compile(
    r"(?:[$£€]\s?(\d+(?:[.,]\d+)?)|(\d+(?:[.,]\d+)?)\s?(?:[$£€]|dollars|euros?|pounds|usd|eur|gbp)\b)"
    r"(?=[^.\n]{0,30}\b(off|discount|credit|voucher|coupon|back|saving|cheaper)\b)",
    re.IGNORECASE,
)
