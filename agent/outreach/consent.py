"""Consent to contact, per channel: yes, no, or unknown, and the merchant's confirmation.

The customers table carries `accepts_email` / `accepts_sms` (pandas "boolean": True, False or
<NA>). A store without a customers table, or without one of those columns, carries no consent
at all. The rules (DESIGN.md, "Invariants"):

- True is consent; False is a refusal and nothing overrides it;
- unknown (<NA>, an empty cell, no column, no customers table) is not a refusal, but it is not
  consent either: nobody is contacted on it, and the plan says so and how to supply it;
- the merchant may confirm once, for one channel of one store, that they hold consent for it
  (`retention consent confirm --channel email --by NAME`, or the app's Settings tab). The
  confirmation is recorded in the approval queue's audit log with who and when
  (`ApprovalQueue.confirm_consent`); from then on unknown consent on that channel counts as
  given, and every draft made on it carries a review note naming the confirmation. Never
  assumed silently.

Channels map to consent kinds: email and personal_email need `email` (accepts_email), sms
needs `sms` (accepts_sms); other channels are not drafted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from tools.schema import CONSENT_UNKNOWN_WORDS, TRUE_WORDS

KINDS = {"email": "accepts_email", "sms": "accepts_sms"}
"""Consent kind -> the customers table's column."""
CHANNEL_KIND = {"email": "email", "personal_email": "email", "sms": "sms"}
"""Draftable channel -> the consent kind it needs."""
YES = TRUE_WORDS
UNKNOWN = CONSENT_UNKNOWN_WORDS
"""Text that says nothing. Any other text (no, false, unsubscribed, pending, invalid...) is no.
Both lists are the loader's (`tools.ingest.parse`), so a file and the assistant read a cell alike."""


REACHABLE = {"has_email": "email", "has_phone": "phone"}
"""Non-personal flags a customers table may carry instead of the addresses themselves: an email
channel needs an address, SMS a phone (`agent.assistant.session` keeps only these flags)."""


def reach_flags(customers: pd.DataFrame) -> dict[str, np.ndarray]:
    """{flag: whether each customer has the address}, from the flag columns where the table
    has them, else from its address columns (a table with the addresses)."""
    out = {}
    for flag, address in REACHABLE.items():
        if flag in customers.columns:
            out[flag] = customers[flag].fillna(False).to_numpy(dtype=bool)
        elif address in customers.columns:
            out[flag] = customers[address].fillna("").astype(str).str.strip().ne("").to_numpy()
    return out


def state(value) -> bool | None:
    """True (consent), False (refused or not given) or None (unknown: the data does not say)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in UNKNOWN:
            return None
        return text in YES
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    try:
        return bool(value)
    except (TypeError, ValueError):
        return None


def state_column(values: pd.Series) -> np.ndarray:
    """`state` of each value as an object array of True / False / None (once per distinct value)."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    verdict = np.empty(len(uniques) + 1, dtype=object)
    verdict[:] = [state(u) for u in uniques] + [None]  # code -1: missing
    return verdict[codes]


def kind_of(channel: str) -> str | None:
    return CHANNEL_KIND.get(channel or "")


@dataclass(frozen=True)
class Confirmation:
    """A merchant's confirmation that they hold consent for one channel of one store."""

    kind: str
    by: str
    at: datetime | str
    store: str = ""
    note: str = ""

    @property
    def day(self) -> str:
        return (
            str(self.at)[:10] if not isinstance(self.at, datetime) else self.at.date().isoformat()
        )

    def words(self) -> str:
        return f"{self.kind} consent confirmed by {self.by} on {self.day}"


Confirmed = Mapping[str, Confirmation | str] | Iterable[str] | None
"""What callers pass: {kind: Confirmation}, or just the kinds ("email", "sms")."""


def confirmed_kinds(confirmed: Confirmed) -> dict[str, str]:
    """{kind: words} of the confirmed consent kinds (empty when none)."""
    if not confirmed:
        return {}
    if isinstance(confirmed, Mapping):
        return {
            k: (v.words() if isinstance(v, Confirmation) else str(v or f"{k} consent confirmed"))
            for k, v in confirmed.items()
            if k in KINDS
        }
    return {k: f"{k} consent confirmed" for k in confirmed if k in KINDS}


def allows(value, channel: str, confirmed: Confirmed = None) -> tuple[bool, str, str]:
    """(allowed, basis, why not) for contacting on `channel` given the customer's consent value:
    basis is "customer" (their data says yes) or "confirmation" (unknown, the merchant
    confirmed the channel); why is the refusal in words when not allowed."""
    kind = kind_of(channel)
    if kind is None:
        return (
            False,
            "",
            f"channel {channel!r} has no consent field; only email, personal_email and sms are drafted",
        )
    st = state(value)
    if st is True:
        return True, "customer", ""
    if st is False:
        return False, "", f"the customer has not opted in to {channel} ({KINDS[kind]})"
    conf = confirmed_kinds(confirmed)
    if kind in conf:
        return True, "confirmation", ""
    return (
        False,
        "",
        (
            f"{kind} consent unknown: the store's files do not say whether this customer "
            f"accepts {kind}"
        ),
    )


def how_to_supply(kinds: Iterable[str] = ("email", "sms")) -> str:
    """The two ways to supply consent, in words a merchant can act on."""
    kinds = [k for k in kinds if k in KINDS] or list(KINDS)
    cols = " / ".join(KINDS[k] for k in kinds)
    ch = kinds[0]
    return (
        f"add a customers file (customers.csv with customer_id and {cols}, or Shopify's customers "
        f"export with its Accepts Email Marketing / Accepts SMS Marketing columns), or confirm once "
        f"that you hold consent for a channel: `retention consent confirm --channel {ch} --by "
        f'"Your Name" --store DIR` (or Settings > Consent in the app); the confirmation is recorded '
        "in the audit log with your name and the date. A customer whose data says no stays refused."
    )


def summary(
    scores_ids: Iterable[str], customers: pd.DataFrame | None, confirmed: Confirmed = None
) -> dict[str, Any]:
    """Per consent kind, how many of the scored customers say yes, no, or nothing; whether the
    store's files carry that consent at all; and the confirmation in force."""
    ids = pd.Index(pd.unique(pd.Series(list(scores_ids), dtype=str)))
    conf = confirmed_kinds(confirmed)
    out: dict[str, Any] = {"customers": int(len(ids)), "customers_file": customers is not None}
    for kind, col in KINDS.items():
        if customers is not None and col in customers.columns and len(ids):
            c = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates(
                "customer_id"
            )
            vals = c.set_index("customer_id")[col].reindex(ids)
            st = state_column(vals)
            yes, no = int(sum(v is True for v in st)), int(sum(v is False for v in st))
        else:
            yes = no = 0
        unknown = int(len(ids)) - yes - no
        out[kind] = {
            "column": col,
            "in_files": bool(yes or no),
            "yes": yes,
            "no": no,
            "unknown": unknown,
            "confirmed": conf.get(kind),
        }
    return out


def statement(summary_: Mapping[str, Any]) -> str:
    """Plain sentences about what the files say on consent, for the plan, chat and brief."""
    absent = [k for k in KINDS if (summary_.get(k) or {}) and not summary_[k]["in_files"]]
    parts = []
    if absent:
        parts.append(
            f"The store's files carry no {' or '.join(absent)} consent"
            + ("" if summary_.get("customers_file") else " (there is no customers file)")
            + "."
        )
    for kind in KINDS:
        k = summary_.get(kind) or {}
        if not k:
            continue
        if k["in_files"]:
            text = f"{kind.capitalize()} consent in the files: {k['yes']:,} yes, {k['no']:,} no"
            parts.append(text + (f", {k['unknown']:,} not stated." if k["unknown"] else "."))
        if k.get("confirmed") and k["unknown"]:
            parts.append(
                f"{k['confirmed'][:1].upper() + k['confirmed'][1:]}: it counts for the "
                f"{k['unknown']:,} customers whose data does not say."
            )
    return " ".join(parts)
