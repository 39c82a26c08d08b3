"""Which of a store's customers a person's text names: ids, full names and emails.

`CustomerLookup` is the part of `StoreSession` that reads customers out of text: an id as typed
(any case, the number alone padded to the store's pattern, `resolve_customer_id`), the
customers a text names in order (`find_customers`, each a `Mention`; unknown ids and names
several customers share say so), and the store's id pattern. Words are never ids, and a bare
number is one only where it cannot be a count, an amount or a year.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd


class CustomerLookup:
    """Customers named in text, for a session with `by_id` (scores indexed by customer id),
    `_id_width` (the ids' shape, `id_shape`), `_personal` (personal fields by id, or None) and
    `memo` (a per-session cache)."""

    by_id: pd.DataFrame
    _id_width: tuple[str, int]
    _personal: pd.DataFrame | None
    memo: dict

    def resolve_customer_id(self, text: str) -> str | None:
        """A customer id of this store from what a person typed: exact, any case, or the
        number alone padded to the store's pattern (c123 or 123 -> C000123)."""
        raw = str(text).strip().strip("#'\".,?!")
        if raw in self.by_id.index:
            return raw
        up = raw.upper()
        if up in self.by_id.index:
            return up
        prefix, width = self._id_width
        m = re.fullmatch(r"([A-Za-z]*)[-_ ]?0*(\d+)", raw)
        if m and width and (not m.group(1) or m.group(1).upper() == prefix):
            cand = f"{prefix}{int(m.group(2)):0{width}d}"
            if cand in self.by_id.index:
                return cand
        return None

    def find_customers(self, text: str) -> list[Mention]:
        """The customers a person's text names, in text order: ids that exist in this store
        (any case, the number alone padded to the store's pattern), the full names and emails
        of this store's customers, and, as unknown (customer_id None), what is written as an
        id but is not one of this store's (after "customer", "id" or "#", or in the store's
        id pattern, e.g. C999999). Words are never ids: "customers" is not customer "omers",
        and a bare number is an id only where it cannot be a count, an amount or a year."""
        found: list[Mention] = []
        taken: list[tuple[int, int]] = []

        def add(start: int, end: int, raw: str, cid: str | None) -> None:
            if any(start < b and a < end for a, b in taken):
                return
            taken.append((start, end))
            found.append(Mention(start, end, raw, cid))

        for start, end, raw, cid, note in self._name_mentions(text):
            if not any(start < b and a < end for a, b in taken):
                taken.append((start, end))
                found.append(Mention(start, end, raw, cid, note))
        prefix, width = self._id_width
        for m in _TOKEN.finditer(text):
            raw = m.group(0).rstrip(".-_+")
            start, end = m.start(), m.start() + len(raw)
            if not raw or any(start < b and a < end for a, b in taken):
                continue
            before, after = text[:start], text[end:]
            cue = bool(_ID_CUE.search(before))
            digits = any(ch.isdigit() for ch in raw)
            if raw.isdigit() and not cue and _COUNT_AFTER.match(after):
                continue  # "3 customers", "30 days", "40 dollars": a number, not an id
            cid = self.resolve_customer_id(raw)
            if cid is not None:
                if not digits and not cue and re.fullmatch(r"[^\W\d_]+", raw):
                    continue  # a plain word is an id only where it is written as one
                if raw.isdigit() and not cue and not _bare_number_is_id(raw, before, after, width):
                    continue
                add(start, end, raw, cid)
            elif digits and (
                cue or (prefix and re.fullmatch(rf"{re.escape(prefix)}[-_]?\d+", raw, re.I))
            ):
                add(start, end, raw, None)
        return sorted(found, key=lambda x: x.start)

    def _name_mentions(self, text: str) -> list[tuple[int, int, str, str | None, str]]:
        """Full names and emails of this store's customers in `text`: (start, end, text, id,
        note). A full name several customers share gives no id (which one is meant is not
        known) and says so in the note."""
        if self._personal is None or not text:
            return []
        if "name_index" not in self.memo:
            p = self._personal
            emails: dict[str, str] = {}
            if "email" in p.columns:
                e = p["email"].dropna().astype(str).str.strip().str.lower()
                emails = dict(zip(e[e != ""], e[e != ""].index))
            full: dict[str, str | None] = {}
            if {"first_name", "last_name"} <= set(p.columns):
                names = (
                    p["first_name"].fillna("").astype(str).str.strip()
                    + " "
                    + p["last_name"].fillna("").astype(str).str.strip()
                ).str.lower()
                names = names[names.str.contains(r"\S \S", regex=True)]
                dup = names.duplicated(keep=False)
                full = {n: (None if d else cid) for cid, n, d in zip(names.index, names, dup)}
            self.memo["name_index"] = (emails, full)
        emails, full = self.memo["name_index"]
        out: list[tuple[int, int, str, str | None, str]] = []
        for m in re.finditer(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text):
            cid = emails.get(m.group(0).lower())
            if cid is not None:
                out.append((m.start(), m.end(), m.group(0), cid, ""))
        if full:
            words = list(re.finditer(r"[^\W\d_][\w'-]*", text))
            for a, b in zip(words, words[1:]):
                if text[a.end() : b.start()].strip():
                    continue
                key = f"{a.group(0)} {b.group(0)}".lower()
                if key in full:
                    cid = full[key]
                    note = (
                        "" if cid else "several customers of this store have that name; give the id"
                    )
                    out.append((a.start(), b.end(), text[a.start() : b.end()], cid, note))
        return out

    def id_pattern(self) -> re.Pattern:
        """A regex for customer ids of this store (C000123 style, or the generic one: a code
        with a digit after "customer"/"id"). To find the customers a text names, use
        `find_customers`, which checks each candidate against the store."""
        prefix, width = self._id_width
        if prefix:
            return re.compile(rf"\b{re.escape(prefix)}[-_]?\d{{1,{max(width, 1)}}}\b", re.I)
        return re.compile(
            r"\b(?:customer|cust|id)\b\s*#?\s*([A-Za-z0-9_-]*\d[A-Za-z0-9_-]*)\b", re.I
        )


@dataclasses.dataclass(frozen=True)
class Mention:
    """A customer named in a person's text: where, as written, and the store's id (None: unknown)."""

    start: int
    end: int
    text: str
    customer_id: str | None
    note: str = ""


_TOKEN = re.compile(r"(?<![\w@.+-])[A-Za-z0-9][\w.+@-]*")
"""A word or code as typed (ids may carry -, _, . or @)."""
CUSTOMER_WORDS = r"customer|cust|client|buyer|shopper|cliente|clienta|kunde|kundin|klant"
"""The words a merchant writes before a customer's id, in English and the languages of the
stores it has met ("cliente 600", "Kunde 600")."""
_ID_CUE = re.compile(
    rf"(?:\b(?:{CUSTOMER_WORDS})\s*(?:id|number|no\.)?\s*[:#]?\s*"
    r"|\bid\s*[:#]?\s*|#\s*)$",
    re.I,
)
"""Text right before an id: "customer 123", "customer id: 123", "customer #123", "#123"."""
_COUNT_AFTER = re.compile(
    r"\s*(?:%|[-\s]*(?:days?|weeks?|months?|years?|hours?|times?|orders?|"
    r"customers?|people|percent|dollars?|pounds?|euros?|x\b))",
    re.I,
)
_MONEY_BEFORE = re.compile(r"(?:[$£€¥₹]|\b(?:usd|gbp|eur|cad|aud|pkr|bdt|inr|rs\.?))\s*$", re.I)
_COUNT_BEFORE = re.compile(
    r"\b(?:top|first|last|best|worst|next|past|over|under|at|of|than|cac|"
    r"ltv|budget|limit|show|list|give|by|in|since|from|to|until|before|after)\s*$",
    re.I,
)


def _bare_number_is_id(raw: str, before: str, after: str, width: int) -> bool:
    """Whether a number written without "customer"/"#" before it can be a customer id: of the
    store's id length (at least 4 digits), not a year, an amount, a count or a period."""
    if len(raw) < 4 or (width and len(raw.lstrip("0")) != width and len(raw) != width):
        return False
    if len(raw) == 4 and raw[:2] in ("19", "20"):
        return False  # a year
    if _MONEY_BEFORE.search(before) or _COUNT_AFTER.match(after) or _COUNT_BEFORE.search(before):
        return False
    return not re.match(r"\s*[.,]\d", after) and not re.search(r"\d[.,]$", before)


def id_shape(ids: pd.Index) -> tuple[str, int]:
    """('C', 6) when most ids look like C000123; ('', 0) when there is no common shape."""
    sample = pd.Series(ids[:2000], dtype=str)
    m = sample.str.extract(r"^([A-Za-z]*)(\d+)$")
    if m[1].notna().mean() < 0.9:
        return "", 0
    prefix = m[0].mode().iloc[0] if len(m) else ""
    return prefix.upper(), int(m[1].str.len().mode().iloc[0])
