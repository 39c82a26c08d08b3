"""Which play for which customers, and what running it is worth (the expected value).

`expected_value` is the formula of agent.outreach.prioritise: EV = P(churn) · CLV · s − (offer
value · r + channel cost). `score_groups` takes the customers left after the plan's rules
(reason, held out, frequency cap) one group at a time (same churn reason, segment, CLV tier and
consent): the plays that fit the group (`group_options`: churn reason, segment and tier; no
discount for high CLV or a zero cap; a channel the customer consents to, or would if their
unknown consent were supplied), each priced per customer (`price`), and each customer's
play of the highest EV. `candidates` makes the chosen rows one frame in PLAN_COLUMNS order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from agent.outreach import consent as C
from agent.outreach.plan import (
    CONSENT,
    DRAFTABLE,
    EVENT_TRIGGERED,
    ON_PURCHASE,
    PLAN_COLUMNS,
    SHARE_OF_ORDER,
    UNREACHABLE,
    Play,
    Skip,
)
from tools.schema import REASON_LABEL

_LABEL: dict[str, str] = {str(k): v for k, v in REASON_LABEL.items()}
"""The churn reasons' words, by name (a reason the table carries may be any text)."""


def expected_value(
    *, churn_probability, clv, save_rate, offer_value=0.0, redemption=0.0, channel_cost=0.0
):
    """EV = P(churn) · CLV · save rate − (offer value · redemption + channel cost).
    Works on scalars and arrays alike."""
    return churn_probability * clv * save_rate - (offer_value * redemption + channel_cost)


def _fits(play: Play, reason: str, segment: str, tier: str) -> bool:
    return (
        play.prior_uplift > 0
        and play.id not in EVENT_TRIGGERED
        and reason in play.churn_reasons
        and (not play.segments or segment in play.segments)
        and (not play.clv_tiers or tier in play.clv_tiers)
    )


def _options(
    plays: list[Play],
    reason: str,
    segment: str,
    tier: str,
    consent: dict[str, bool],
    discount_cap: float,
) -> tuple[list[tuple[Play, str]], str]:
    """`consent`: column (accepts_email, accepts_sms) -> whether that channel may be used."""
    """(play, channel) options for one group of customers, or none and why."""
    fitting = [p for p in plays if _fits(p, reason, segment, tier)]
    if not fitting:
        return [], f"no playbook fits: {_LABEL.get(reason, reason)}, {segment}, {tier} CLV"
    if tier == "high":
        fitting = [p for p in fitting if p.offer_type != "discount"] or []
        if not fitting:
            return [], "no playbook fits: high-CLV customers get no discount play"
    if discount_cap <= 0:
        fitting = [p for p in fitting if p.offer_type != "discount"]
        if not fitting:
            return [], "no playbook fits: the discount cap is 0 and only discount plays fit"
    opts: list[tuple[Play, str]] = []
    for p in fitting:
        order = list(p.channels)
        if tier == "high":  # personal first for the most valuable
            order.sort(key=lambda c: c != "personal_email")
        ch = next((c for c in order if c in DRAFTABLE and consent.get(CONSENT[c], False)), None)
        if ch is not None:
            opts.append((p, ch))
    if not opts:
        wanted = sorted({c for p in fitting for c in p.channels if c in DRAFTABLE})
        return [], (
            "no consent: the fitting plays go out by "
            + ", ".join(wanted or ["other channels"])
            + (" and the customer has not opted in" if wanted else "")
        )
    if tier == "high":
        personal = [(p, ch) for p, ch in opts if ch == "personal_email"]
        opts = personal or opts
    return opts, ""


Rows = list[tuple[np.ndarray, dict, dict]]
"""Candidate rows of groups of customers: (positions in the table, per-group values, per-customer
arrays)."""
GROUP_KEYS = ["churn_reason", "segment", "clv_tier", "accepts_email", "accepts_sms"]
"""Customers who share these are one group: the same plays fit them on the same channels."""


@dataclass(frozen=True)
class Terms:
    """What prices a play in one plan: the plays, the discount cap and the discount a discount
    play offers, the costs of channels and offers, the save rates learnt from this store's
    campaigns, and the channels the merchant confirmed consent for ({kind: words})."""

    plays: list[Play]
    cap: float
    discount: float
    channel_costs: Mapping[str, float]
    offer_costs: Mapping[str, float]
    save_rates: Mapping[str, float]
    confirmed: Mapping[str, str]


class Priced(NamedTuple):
    """One play on one channel for a group, per customer: the offer's value and expected
    redemption, and the expected value."""

    play: Play
    channel: str
    offer_percent: float
    offer_value: np.ndarray
    redemption: np.ndarray
    expected_value: np.ndarray
    save_rate: float


def score_groups(s: pd.DataFrame, terms: Terms) -> tuple[pd.DataFrame, pd.DataFrame, list[Skip]]:
    """The best play of every customer of the table `s` (one pass per group of GROUP_KEYS):
    (candidates whose consent allows it, candidates who would be contacted if their unknown
    consent were supplied, the customers no play fits with why, in group order). Rows are
    gathered as arrays per group and made into one frame at the end (not a frame per group)."""
    group = s.groupby(GROUP_KEYS, sort=False).ngroup().to_numpy()
    by_group = np.argsort(group, kind="stable")  # each group's rows in table order
    bounds = np.searchsorted(group[by_group], np.arange(group.max() + 2 if len(group) else 1))
    ids = s["customer_id"].to_numpy()
    key_cols = [s[k].to_numpy() for k in GROUP_KEYS]
    churn_all = s["churn_probability"].to_numpy(float)
    clv_all = s["predicted_clv"].to_numpy(float)
    aov_all = s["aov"].to_numpy(float)
    picked: Rows = []
    awaiting: Rows = []  # the same, for unknown consent
    skipped: list[Skip] = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        at = by_group[lo:hi]
        r, seg, tier, ae, asms = (col[at[0]] for col in key_cols)
        states = {"accepts_email": ae, "accepts_sms": asms}
        opts, waiting, why = group_options(terms, r, seg, tier, states)
        if not opts:
            skipped += [Skip(cid, why) for cid in ids[at]]
            continue
        parts = [
            price(terms, play, ch, r, churn_all[at], clv_all[at], aov_all[at]) for play, ch in opts
        ]
        rows = _best_rows(
            terms, at, parts, (r, seg, tier), states, waiting, churn_all[at], clv_all[at]
        )
        (awaiting if waiting else picked).extend(rows)
    return candidates(ids, picked), candidates(ids, awaiting), skipped


def group_options(
    terms: Terms, reason: str, segment: str, tier: str, states: Mapping[str, str]
) -> tuple[list[tuple[Play, str]], bool, str]:
    """(play, channel) options of one group, whether they wait for unknown consent to be
    supplied, and why there are none. `states`: consent column -> yes, no, unknown or
    UNREACHABLE; unknown counts on a channel the merchant confirmed."""
    conf = terms.confirmed
    usable = {
        col: st == "yes" or (st == "unknown" and kind in conf)
        for kind, col in C.KINDS.items()
        for st in [states[col]]
    }
    opts, why = _options(terms.plays, reason, segment, tier, usable, terms.cap)
    if opts or not why.startswith("no consent"):
        return opts, False, why
    unknown = {
        col: st not in ("no", UNREACHABLE) for col, st in states.items()
    }  # if unknown were supplied
    maybe, _ = _options(terms.plays, reason, segment, tier, unknown, terms.cap)
    if maybe:
        return maybe, True, why
    if UNREACHABLE in states.values() and "no" not in states.values():
        # nothing refused: what stops them is an address the store does not have
        gone = [k for k, col in C.KINDS.items() if states[col] == UNREACHABLE]
        why = (
            "no "
            + " or ".join("email address" if k == "email" else "phone number" for k in gone)
            + " to reach them on"
        )
    return [], False, why


def price(
    terms: Terms,
    play: Play,
    ch: str,
    reason: str,
    p_churn: np.ndarray,
    clv: np.ndarray,
    aov: np.ndarray,
) -> Priced:
    """One play on channel `ch` for a group's customers: the save rate (learnt for the play and
    churn reason, else for the play, else its prior), the offer's value and redemption, EV."""
    rates = terms.save_rates
    rate = float(rates.get(f"{play.id}|{reason}", rates.get(play.id, play.prior_uplift)))
    offer_pct = terms.discount if play.offer_type == "discount" else 0.0
    if play.offer_type == "discount":
        value = offer_pct * aov
    elif play.offer_type in SHARE_OF_ORDER:
        value = SHARE_OF_ORDER[play.offer_type] * aov
    else:
        value = np.full(len(aov), float(terms.offer_costs.get(play.offer_type, 0.0)))
    if play.offer_type in ON_PURCHASE:
        red = 1.0 - p_churn * (1.0 - rate)
    elif value.any():
        red = np.ones(len(aov))
    else:
        red = np.zeros(len(aov))
    ev = expected_value(
        churn_probability=p_churn,
        clv=clv,
        save_rate=rate,
        offer_value=value,
        redemption=red,
        channel_cost=terms.channel_costs.get(ch, 0.0),
    )
    return Priced(play, ch, offer_pct, value, red, ev, rate)


def _best_rows(
    terms: Terms,
    at: np.ndarray,
    parts: list[Priced],
    key: tuple[str, str, str],
    states: Mapping[str, str],
    waiting: bool,
    p_churn: np.ndarray,
    clv: np.ndarray,
) -> Rows:
    """Each customer of a group with the option of the highest EV: one row set per option."""
    r, seg, tier = key
    pick = np.vstack([p.expected_value for p in parts]).argmax(axis=0)
    out: Rows = []
    for i, (play, ch, offer_pct, value, red, ev, rate) in enumerate(parts):
        m = pick == i
        if not m.any():
            continue
        st = states[C.KINDS[C.CHANNEL_KIND[ch]]]
        basis = (
            "customer's data"
            if st == "yes"
            else (
                f"merchant's confirmation ({terms.confirmed[C.CHANNEL_KIND[ch]]})"
                if not waiting
                else "unknown"
            )
        )
        out.append(
            (
                at[m],
                {
                    "playbook_id": play.id,
                    "playbook_title": play.title,
                    "channel": ch,
                    "offer_type": play.offer_type,
                    "offer_percent": float(offer_pct),
                    "offer": _offer_text(play.offer_type, offer_pct),
                    "churn_reason": r,
                    "segment": seg,
                    "clv_tier": tier,
                    "save_rate": rate,
                    "channel_cost": float(terms.channel_costs.get(ch, 0.0)),
                    "consent_basis": basis,
                },
                {
                    "churn_probability": p_churn[m],
                    "clv": clv[m],
                    "value_at_stake": p_churn[m] * clv[m],
                    "offer_value": value[m],
                    "redemption": red[m],
                    "offer_cost": value[m] * red[m],
                    "expected_value": ev[m],
                },
            )
        )
    return out


def candidates(ids: np.ndarray, picked: Rows) -> pd.DataFrame:
    """One frame of every (customer, chosen play) row: per-group scalars repeated, per-customer
    arrays concatenated, in PLAN_COLUMNS order (less `reason`, written for the chosen only)."""
    if not picked:
        return pd.DataFrame(columns=PLAN_COLUMNS)
    sizes = [len(at) for at, _, _ in picked]
    cols: dict[str, np.ndarray] = {"customer_id": ids[np.concatenate([at for at, _, _ in picked])]}
    for name in PLAN_COLUMNS[1:-1]:
        if name in picked[0][2]:
            cols[name] = np.concatenate([arrays[name] for _, _, arrays in picked])
        else:
            values = np.empty(
                len(picked), dtype=object if isinstance(picked[0][1][name], str) else float
            )
            values[:] = [scalars[name] for _, scalars, _ in picked]
            cols[name] = np.repeat(values, sizes)
    return pd.DataFrame(cols)


def _offer_text(offer_type: str, pct: float) -> str:
    if offer_type == "discount":
        return f"{pct:.0%} off one order"
    return {
        "free_shipping": "free shipping on the next order",
        "gift": "a small thank-you gift",
        "service_recovery": "a goodwill gesture chosen by the team",
        "loyalty_points": "bonus loyalty points",
        "early_access": "early access",
    }.get(offer_type, "")
