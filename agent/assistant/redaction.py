"""Personal data out of text before it leaves the machine (DESIGN.md: "Names, emails and other
personal data never go to an external model").

    index = PersonalIndex.of(personal)   # the store's customers: email, phone, first/last name
    redact("call jose nunez on 555.864.6660", index)  -> "call C000017 on C000017"

What is found, in any text (a merchant's message, a ticket, a product name, a tool result):
- emails, written plainly or spelled out: "firstname dot lastname558 at example dot com",
  "jane.doe [at] example [dot] com", "jane＠example．com";
- phone numbers with any common separator or none: 555.864.6660, 555 864 6660,
  (555) 864-6660, +1-555-864-6660, +15558646660 (ten to fifteen digits; a seven-digit
  555-8646 too), never a date or a time, never one of the store's own customer ids;
- the store's customers' names (first and last, either order, with a title before a last
  name: "Mrs Nunez"), whatever their case or accents ("José Núñez" / "jose nunez" / "JOSE
  NUNEZ") and whatever separates the words (spaces, a hyphen, an apostrophe, a comma).

A known email, phone or name becomes the customer's id (the model works with ids); one that
several customers share becomes "[customer name]" / "[email]" / "[phone]", as does any email
or phone the store does not know.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.outreach.textfold import fold

NAME_PLACEHOLDER = "[customer name]"
EMAIL_PLACEHOLDER = "[email]"
PHONE_PLACEHOLDER = "[phone]"
TITLES = frozenset({"mr", "mrs", "ms", "mx", "dr", "mme", "mlle", "herr", "frau", "sra", "srta"})
TLDS = frozenset(
    [
        "com",
        "net",
        "org",
        "info",
        "biz",
        "edu",
        "gov",
        "mil",
        "int",
        "name",
        "pro",
        "mobi",
        "asia",
        "app",
        "dev",
        "io",
        "ai",
        "xyz",
        "online",
        "site",
        "shop",
        "store",
        "tech",
        "cloud",
        "email",
        "live",
        "life",
        "today",
        "world",
        "news",
        "blog",
        "club",
        "art",
        "design",
        "page",
        "space",
        "website",
        "top",
        "link",
        "click",
        "example",
        "test",
        "invalid",
        "local",
        "localhost",
        "onion",
    ]
)
"""Last labels a spelled-out address ("… at example dot com") may end with: these, or any two
letters (a country code)."""

_SEP = r"(?:\s*(?:\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\})\s*|\s+dot\s+|\.)"
_AT = r"(?:\s*(?:\[\s*(?:@|at)\s*\]|\(\s*(?:@|at)\s*\)|\{\s*(?:@|at)\s*\}|@)\s*|\s+at\s+)"
_LOCAL = rf"[a-z0-9_+%-]+(?:{_SEP}[a-z0-9_+%-]+)*"
_DOMAIN = rf"[a-z0-9-]+(?:{_SEP}[a-z0-9-]+)*{_SEP}[a-z]{{2,24}}"
EMAIL = re.compile(rf"(?<![a-z0-9_+%.-])({_LOCAL}){_AT}({_DOMAIN})(?![a-z0-9-])")
_PLAIN_EMAIL = re.compile(r"^[a-z0-9_+%.-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$")

_DATE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ t]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:[ t]\d{1,2}:\d{2}(?::\d{2})?)?"
    r"|\d{1,2}:\d{2}(?::\d{2})?"
)
PHONE = re.compile(
    r"(?<![\w+.,])(?:\+|00)?[ \t]*(?:\(\d{1,4}\)|\d)(?:[ \t().\-/]{0,3}\d){6,16}(?![\w])"
)
_LOCAL7 = re.compile(r"^\d{3}[-.]\d{4}$")
_WORD = re.compile(r"[^\W\d_]+")
_NAME_GAP = re.compile(r"^[\s'.,-]{1,4}$")


def digits(text: str) -> str:
    return re.sub(r"\D", "", str(text))


def phone_key(text: str) -> str:
    """A phone number as the digits that identify it: the last ten (country codes and trunk
    prefixes vary: +1 555…, 001 555…, 0 7700…), or all of a shorter number."""
    d = digits(text)
    return d[-10:] if len(d) >= 10 else d


def name_key(text: str) -> tuple[str, ...]:
    """A name as its folded words: "José Núñez-O'Neil" -> ("jose", "nunez", "o", "neil")."""
    return tuple(_WORD.findall(fold(str(text)).text))


@dataclass
class PersonalIndex:
    """The store's personal data, keyed for matching: email, phone key and name words, each
    to the customer's id, or to None where several customers share it."""

    emails: dict[str, str | None] = field(default_factory=dict)
    phones: dict[str, str | None] = field(default_factory=dict)
    names: dict[tuple[str, ...], str | None] = field(default_factory=dict)
    last_names: dict[tuple[str, ...], str | None] = field(default_factory=dict)
    tails: dict[str, str | None] = field(default_factory=dict)
    ids: frozenset = frozenset()
    longest: int = 2

    @classmethod
    def of(
        cls, personal: Mapping[str, Mapping] | None = None, *, frame=None, ids: Iterable[str] = ()
    ) -> PersonalIndex:
        """From {customer_id: {email, phone, first_name, last_name, name}} or a DataFrame of
        those columns indexed by customer id (`frame`). `ids`: every customer id of the store,
        so a numeric id is never taken for a phone number."""
        import pandas as pd

        if personal is not None:
            frame = pd.DataFrame.from_dict(
                {str(k): dict(v) for k, v in personal.items()}, orient="index"
            )
        index = cls(ids=frozenset(str(i) for i in ids))
        if frame is None or not len(frame):
            return index
        cids = pd.Index(frame.index.astype(str))

        def column(name: str) -> pd.Series:
            if name not in frame.columns:
                return pd.Series("", index=cids, dtype=object)
            return pd.Series(frame[name].to_numpy(dtype=object), index=cids).where(
                frame[name].notna().to_numpy(), ""
            )

        def keyed(values: pd.Series, fn) -> pd.Series:  # names and emails repeat: fold each once
            uniq = {v: fn(v) for v in pd.unique(values.astype(str))}
            return values.astype(str).map(uniq)

        emails = keyed(
            column("email").astype(str).str.strip(), lambda e: fold(e).text if "@" in e else ""
        )
        index.emails = _table(emails)
        phones = column("phone").astype(str).str.replace(r"\D", "", regex=True)
        phones = phones.where(phones.str.len() < 10, phones.str[-10:])
        phones = phones[phones.str.len() >= 7]
        index.phones = _table(phones)
        index.tails = _table(
            pd.Series(phones.str[-7:].to_numpy(), index=phones.to_numpy())
        )  # -> the number
        first, last = keyed(column("first_name"), name_key), keyed(column("last_name"), name_key)
        both = (first.map(bool) & last.map(bool)).to_numpy()
        f, la = first[both], last[both]
        full = keyed(column("name"), name_key)
        full = full[full.map(len) >= 2]
        index.names = _table(pd.concat([f + la, la + f, full, full.map(lambda k: k[-1:] + k[:-1])]))
        index.last_names = _table(la)
        index.longest = max((len(k) for k in index.names), default=2)
        return index


def _table(keys) -> dict:
    """{key: customer id} from keys indexed by customer id; a key several customers share maps
    to None (a placeholder, no id)."""
    import pandas as pd

    keys = keys[keys.map(bool)]
    pairs = pd.DataFrame({"k": keys.to_numpy(), "c": keys.index.to_numpy()}).drop_duplicates()
    shared = pairs["k"].duplicated(keep=False).to_numpy()
    return {k: (None if s else c) for k, c, s in zip(pairs["k"], pairs["c"], shared)}


def redact(text: str, index: PersonalIndex | None = None) -> str:
    """`text` with emails, phone numbers and the store's customers' names replaced (module
    docstring). Without an index, every email and phone number becomes a placeholder."""
    if not text:
        return text
    text = str(text)
    index = index or PersonalIndex()
    f = fold(text)
    low = f.text
    hits: list[tuple[int, int, str]] = []  # spans in the folded text, and what replaces them
    hits += _email_hits(low, index)
    chars = list(low)
    for m in _DATE.finditer(low):  # a date or a time is never part of a phone number
        chars[m.start() : m.end()] = "x" * (m.end() - m.start())
    view = "".join(chars)
    for m in PHONE.finditer(view):
        raw = m.group(0).strip()
        d = digits(raw)
        if d in index.ids or raw in index.ids:
            continue
        key = phone_key(d)
        known = key in index.phones
        if len(d) > 15:
            continue
        if not known and len(d) < 10:
            full = index.tails.get(d[-7:])  # a known number without its area code
            if full and full.endswith(d):
                key, known = full, True
            elif not (len(d) == 7 and _LOCAL7.match(raw)):
                continue
        start = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
        hits.append(
            (start, m.end(), (index.phones.get(key) if known else None) or PHONE_PLACEHOLDER)
        )
    if index.names:
        hits += _name_hits(low, index)
    if not hits:
        return text
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    out, at = [], 0
    for s, e, rep in hits:
        a, b = f.span(s, e)
        if a < at:
            continue  # inside an earlier replacement
        out += [text[at:a], rep]
        at = b
    out.append(text[at:])
    return "".join(out)


def _email_hits(low: str, index: PersonalIndex) -> list[tuple[int, int, str]]:
    """Plain addresses, and spelled-out ones that are clearly addresses: a known one, or with a
    dot, digit or underscore in the name, a spelled or bracketed dot, or a bracketed at, and
    ending in a real top-level domain ("arrived at amazon.com" is a sentence, not an address)."""
    hits, pos = [], 0
    while (m := EMAIL.search(low, pos)) is not None:
        local, domain, whole = m.group(1), m.group(2), m.group(0)
        canonical = re.sub(r"\s+", "", re.sub(_SEP, ".", local) + "@" + re.sub(_SEP, ".", domain))
        plain = bool(_PLAIN_EMAIL.match(whole))
        known = canonical in index.emails
        tld = canonical.rsplit(".", 1)[-1]
        spelled_ok = (
            re.search(r"[._+\d]|\bdot\b|[\[({]", local)
            or re.search(r"\bdot\b|[\[({]", domain)
            or re.search(r"[@\[({]", whole[len(local) : len(whole) - len(domain)])
        )
        if (
            known
            or plain
            or (spelled_ok and (tld in TLDS or len(tld) == 2) and _PLAIN_EMAIL.match(canonical))
        ):
            hits.append((m.start(), m.end(), index.emails.get(canonical) or EMAIL_PLACEHOLDER))
            pos = m.end()
        else:
            pos = m.start() + 1
    return hits


def _name_hits(low: str, index: PersonalIndex) -> list[tuple[int, int, str]]:
    words = list(_WORD.finditer(low))
    hits = []
    i = 0
    while i < len(words):
        found = None
        for n in range(min(index.longest, len(words) - i), 1, -1):
            chunk = words[i : i + n]
            if any(not _NAME_GAP.match(low[a.end() : b.start()]) for a, b in zip(chunk, chunk[1:])):
                continue
            key = tuple(w.group(0) for w in chunk)
            if key in index.names:
                found = (chunk[0].start(), chunk[-1].end(), index.names[key] or NAME_PLACEHOLDER, n)
                break
        if found is None and words[i].group(0) in TITLES:  # "Mrs Núñez", "dr al-khouri"
            for n in range(min(3, len(words) - i - 1), 0, -1):
                chunk = words[i : i + 1 + n]
                if any(
                    not _NAME_GAP.match(low[a.end() : b.start()]) for a, b in zip(chunk, chunk[1:])
                ):
                    continue
                key = tuple(w.group(0) for w in chunk[1:])
                if key in index.last_names:
                    found = (
                        chunk[1].start(),
                        chunk[-1].end(),
                        index.last_names[key] or NAME_PLACEHOLDER,
                        n + 1,
                    )
                    break
        if found:
            hits.append(found[:3])
            i += found[3]
        else:
            i += 1
    return hits
