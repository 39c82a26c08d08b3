"""Who to contact this week, with which play, and why.

For each at-risk customer and each playbook that fits their churn reason, RFM segment and CLV
tier, the expected value of running the play is

    EV = P(churn) · CLV · s  −  (offer value · r  +  channel cost)

where P(churn) is the scores' `churn_probability` (no purchase in the horizon), CLV the scores'
`predicted_clv` (expected revenue in the horizon, or contribution when the store was scored
with `--margin`), s the play's expected save rate (the share of would-be lapsers the play
keeps, against a no-contact holdout: the playbook's `prior_uplift`, or once this store's
campaigns have been measured the posterior mean of `agent.reports.learning`), and r the expected
redemption of the offer:

    r = 1 − P(churn) · (1 − s)   for offers paid only on a purchase (discount, free shipping,
                                  points, bundle, subscription, referral credit): the
                                  probability that a treated customer buys at all, since the
                                  offer is also paid to those who would have bought anyway;
    r = 1                         for offers given regardless (gift, service recovery);
    r = 0                         for no offer.

The offer value of a discount is its percentage times the customer's average order value
(`revenue_to_date / orders_to_date`); other offers and channels have the flat costs in
`OFFER_COSTS` and `CHANNEL_COSTS` (assumptions, overridable). The uplift framing follows
Ascarza (2018), "Retention futility", JMR 55(1): act on the expected incremental effect, not on
risk alone; the holdout design follows the `holdout-measurement` playbook.

Rules, in order: a churn reason to act on; the frequency cap (no contact within
`contact_cap_days` of the last one in the contact log); a playbook that fits; channel consent
(email and personal email need `accepts_email`, SMS needs `accepts_sms`; phone, direct mail and
onsite are not drafted); the discount cap; EV > 0. Consent is yes, no or unknown
(`agent.outreach.consent`): no is final; unknown (no customers table, no consent column, an empty cell)
counts only on a channel the merchant confirmed (`confirmed`). Customers who would be contacted
but for unknown consent are not dropped silently: the plan lists them (`awaiting_consent`, after
the same control draw and budget), says what the files carry (`consent`) and how to supply it
(`notes`). High-CLV customers never get a discount play
and get personal outreach when a personal play fits. Then a seeded random control group
(`control_share`, keyed on seed + campaign id + customer id, so it does not depend on row order)
is held out of the eligible pool BEFORE the weekly budget picks the highest-EV customers.
The plan's `settings` record the save rates used (`save_rates`) and, per treated and control
customer, the play, churn reason and segment (`arms`): what the campaign is graded by.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from agent.display import money
from agent.outreach import consent as C
from tools.models.features import REASON_LABEL

DRAFTABLE = ("personal_email", "email", "sms")
"""Channels a draft can be written for; phone, direct mail and onsite are left to the merchant."""
CONSENT = {"email": "accepts_email", "personal_email": "accepts_email", "sms": "accepts_sms"}
CONSENT_COLUMNS = ("accepts_email", "accepts_sms")
REACH = {"has_email": "accepts_email", "has_phone": "accepts_sms"}
"""The reachability flags (agent.outreach.consent.reach_flags) and the consent column they gate."""
UNREACHABLE = "no address"
"""The consent state of a channel the customer has no email or phone for."""
CHANNEL_COSTS = {
    "email": 0.01,
    "sms": 0.03,
    "personal_email": 2.0,
    "phone": 5.0,
    "direct_mail": 4.0,
    "onsite": 0.0,
}
"""Cost per contact (assumption): sending cost, or a few minutes of staff time for personal mail."""
OFFER_COSTS = {
    "free_shipping": 6.0,
    "gift": 10.0,
    "service_recovery": 10.0,
    "referral_credit": 10.0,
    "sample": 3.0,
}
"""Flat value of an offer when it is used (assumption), in store currency."""
SHARE_OF_ORDER = {"loyalty_points": 0.05, "bundle": 0.05, "subscription": 0.05}
"""Offers worth a share of the average order value (assumption)."""
ON_PURCHASE = {
    "discount",
    "free_shipping",
    "loyalty_points",
    "bundle",
    "subscription",
    "referral_credit",
}
DEFAULT_DISCOUNT = 0.10
"""The discount a discount play offers (the price-sensitive-save playbook: 10% or less),
clipped to the settings' cap."""
DEFAULT_ORDER_VALUE = 50.0
EVENT_TRIGGERED = frozenset(
    {
        "failed-payment-dunning",
        "subscription-cancellation-save",
        "cart-abandonment-recovery",
        "browse-abandonment",
        "proactive-delay-notice",
        "thank-you-page-offer",
        "review-request-timing",
        "post-purchase-follow-up",
        "new-customer-onboarding",
    }
)
"""Plays that answer an event the scores do not carry (a failed payment, a cancellation, an
abandoned cart, a late parcel, a just-placed order): left to the store's automated flows."""


@dataclass(frozen=True)
class Play:
    """The playbook metadata prioritisation needs (from a knowledge Playbook or a dict)."""

    id: str
    title: str
    prior_uplift: float
    channels: tuple[str, ...]
    offer_type: str = "none"
    churn_reasons: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    clv_tiers: tuple[str, ...] = ()
    cost_level: str = "low"

    @classmethod
    def of(cls, pb: Any) -> Play:
        meta = getattr(pb, "meta", pb)
        if not isinstance(meta, Mapping):
            meta = meta.model_dump() if hasattr(meta, "model_dump") else vars(meta)
        return cls(
            id=meta["id"],
            title=meta.get("title", meta["id"]),
            prior_uplift=float(meta.get("prior_uplift", 0.0)),
            channels=tuple(meta.get("channels", ())),
            offer_type=meta.get("offer_type", "none") or "none",
            churn_reasons=tuple(meta.get("churn_reasons", ())),
            segments=tuple(meta.get("segments", ())),
            clv_tiers=tuple(meta.get("clv_tiers", ())),
            cost_level=meta.get("cost_level", "low"),
        )


@dataclass(frozen=True)
class Skip:
    customer_id: str
    why: str


@dataclass
class Plan:
    """A campaign plan: chosen rows, skipped customers with why, and the control group."""

    campaign_id: str
    week_of: str
    created_at: str
    settings: dict
    chosen: list[dict]
    skipped: list[Skip]
    control_ids: list[str]
    """Held-out customers comparable to the treated ones (EV at least the lowest chosen EV):
    the campaign's measured control group."""
    held_out_ids: list[str]
    """Every eligible customer the random draw held out (none of them is contacted)."""
    budget_left: int
    notes: list[str] = field(default_factory=list)
    awaiting_consent: list[dict] = field(default_factory=list)
    """Who would be contacted this week (same play choice, control draw and budget) if their
    unknown consent were supplied: a customers file with consent, or the merchant's
    confirmation of the channel. Nobody here is contacted."""
    awaiting_total: int = 0
    """How many customers have a play worth running (EV > 0) but unknown consent."""
    consent: dict = field(default_factory=dict)
    """What the store's files say about consent (agent.outreach.consent.summary) and any confirmation."""

    @property
    def treated_ids(self) -> list[str]:
        return [r["customer_id"] for r in self.chosen]

    def chosen_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.chosen, columns=list(PLAN_COLUMNS))

    def skipped_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.skipped:
            key = s.why.split(":")[0]
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def to_dict(self, *, skipped_limit: int | None = None) -> dict:
        skipped = self.skipped if skipped_limit is None else self.skipped[:skipped_limit]
        return {
            "campaign_id": self.campaign_id,
            "week_of": self.week_of,
            "created_at": self.created_at,
            "settings": self.settings,
            "chosen": self.chosen,
            "skipped": [asdict(s) for s in skipped],
            "skipped_counts": self.skipped_counts(),
            "control_ids": self.control_ids,
            "held_out_ids": self.held_out_ids,
            "budget_left": self.budget_left,
            "notes": self.notes,
            "awaiting_consent": self.awaiting_consent,
            "awaiting_total": self.awaiting_total,
            "consent": self.consent,
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(**kw), indent=2)


PLAN_COLUMNS = (
    "customer_id",
    "playbook_id",
    "playbook_title",
    "channel",
    "offer_type",
    "offer_percent",
    "offer",
    "churn_reason",
    "segment",
    "clv_tier",
    "churn_probability",
    "clv",
    "save_rate",
    "value_at_stake",
    "offer_value",
    "redemption",
    "offer_cost",
    "channel_cost",
    "expected_value",
    "consent_basis",
    "reason",
)


def expected_value(
    *, churn_probability, clv, save_rate, offer_value=0.0, redemption=0.0, channel_cost=0.0
):
    """EV = P(churn) · CLV · save rate − (offer value · redemption + channel cost).
    Works on scalars and arrays alike."""
    return churn_probability * clv * save_rate - (offer_value * redemption + channel_cost)


def control_draw(customer_ids: Iterable[str], *, seed: int, campaign_id: str) -> np.ndarray:
    """A uniform number in [0, 1) per customer from sha256(seed:campaign:customer): the same
    customer in the same campaign always draws the same number, whatever the row order."""
    out = []
    for cid in customer_ids:
        h = hashlib.sha256(f"{seed}:{campaign_id}:{cid}".encode()).digest()
        out.append(int.from_bytes(h[:8], "big") / 2**64)
    return np.asarray(out, dtype=float)


def last_contacts(contact_log: pd.DataFrame | None) -> pd.Series:
    """Last contact date per customer from a log with customer_id and contacted_on."""
    if contact_log is None or len(contact_log) == 0:
        return pd.Series(dtype="datetime64[ns]")
    when = pd.to_datetime(contact_log["contacted_on"]).dt.normalize()
    return when.groupby(contact_log["customer_id"].astype(str)).max()


def _settings_snapshot(settings) -> dict:
    keys = (
        "discount_cap",
        "weekly_contact_budget",
        "contact_cap_days",
        "control_share",
        "seed",
        "margin",
        "horizon_days",
    )
    return {k: getattr(settings, k) for k in keys if hasattr(settings, k)}


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
        return [], f"no playbook fits: {REASON_LABEL.get(reason, reason)}, {segment}, {tier} CLV"
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


def prioritise(  # noqa: C901
    scores: pd.DataFrame,
    customers: pd.DataFrame | None,
    playbooks: list,
    *,
    settings,
    week_of: date | str,
    campaign_id: str,
    contact_log: pd.DataFrame | None = None,
    channel_costs: Mapping[str, float] | None = None,
    offer_costs: Mapping[str, float] | None = None,
    confirmed: C.Confirmed = None,
    currency: str | None = None,
    save_rates: Mapping[str, float] | None = None,
    held_out: Mapping[str, str] | None = None,
    uplift: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> Plan:
    """Choose who to contact this week with which play (see the module docstring).

    `scores`: the scores table; `customers`: customer_id, accepts_email, accepts_sms (True,
    False or <NA>; None, a missing column or an empty cell means consent is unknown);
    `playbooks`: knowledge Playbooks or their metadata dicts; `contact_log`: customer_id,
    contacted_on (e.g. `ApprovalQueue.contact_log()`); `confirmed`: the merchant's consent
    confirmations for this store ({kind: Confirmation} or the kinds, `agent.outreach.consent`), which
    make unknown consent on that channel count; `currency`: for the reasons' money;
    `save_rates`: the save rates learnt from this store's campaigns (`agent.reports.learning`), by
    play id or "play id|churn reason" (the more specific wins; a play not named keeps its
    playbook's prior); `held_out`: {customer id: why} of customers in the control group of a
    campaign still being measured, who are not contacted until its window closes; `uplift`:
    an uplift model (`agent.reports.learning.uplift_ranker`) that gives each candidate row (customer and
    chosen play) the predicted increase in their chance of buying, once the store has measured
    enough campaigns: the customers are then ranked by EV = uplift · CLV − costs, the expected
    incremental effect, not by risk · save rate.
    Nothing passed in is modified.
    """
    missing = [
        c for c in ("customer_id", "churn_probability", "predicted_clv") if c not in scores.columns
    ]
    if missing:
        raise ValueError(
            f"scores lack column(s) {', '.join(missing)}: pass the `retention score` table"
        )
    week = pd.Timestamp(week_of).normalize()
    ccost = {**CHANNEL_COSTS, **(channel_costs or {})}
    ocost = {**OFFER_COSTS, **(offer_costs or {})}
    plays = [Play.of(p) for p in playbooks]
    cap = float(settings.discount_cap)
    pct = min(DEFAULT_DISCOUNT, cap)
    s = scores.copy()
    s["customer_id"] = s["customer_id"].astype(str)
    s = s.drop_duplicates("customer_id")
    conf = C.confirmed_kinds(confirmed)
    consent_summary = C.summary(s["customer_id"], customers, confirmed)
    if customers is not None and len(customers):
        c = customers[
            [k for k in ("customer_id", *CONSENT_COLUMNS) if k in customers.columns]
        ].copy()
        c = c.assign(**C.reach_flags(customers))
        c["customer_id"] = c["customer_id"].astype(str)
        s = s.merge(c.drop_duplicates("customer_id"), on="customer_id", how="left")
    for col in CONSENT_COLUMNS:  # yes / no / unknown: a missing column or table says nothing
        s[col] = _state_words(s[col]) if col in s.columns else "unknown"
    for flag, col in REACH.items():  # no address for the channel: consent or not, unreachable
        if flag in s.columns:
            s.loc[~s[flag].fillna(False).astype(bool), col] = UNREACHABLE
    reason = s.get("churn_reason", pd.Series("none", index=s.index)).fillna("none").astype(str)
    s["churn_reason"] = reason
    s["segment"] = s.get("segment", pd.Series("", index=s.index)).fillna("").astype(str)
    s["clv_tier"] = s.get("clv_tier", pd.Series("low", index=s.index)).fillna("low").astype(str)
    orders = s.get("orders_to_date", pd.Series(0, index=s.index)).astype(float)
    revenue = s.get("revenue_to_date", pd.Series(0.0, index=s.index)).astype(float)
    s["aov"] = np.where(orders > 0, revenue / orders.where(orders > 0, 1), DEFAULT_ORDER_VALUE)
    s["aov"] = s["aov"].where(s["aov"] > 0, DEFAULT_ORDER_VALUE)

    skipped: list[Skip] = []
    no_reason = ~s["churn_reason"].isin(list(REASON_LABEL))
    skipped += [Skip(cid, "no churn reason to act on") for cid in s.loc[no_reason, "customer_id"]]
    s = s.loc[~no_reason]
    if held_out:
        hold = s["customer_id"].isin(list(held_out))
        skipped += [Skip(cid, held_out[cid]) for cid in s.loc[hold, "customer_id"]]
        s = s.loc[~hold]
    rates = dict(save_rates or {})
    last = last_contacts(contact_log)
    if len(last):
        prev = s["customer_id"].map(last)
        days = (week - prev).dt.days
        capped = prev.notna() & (days.abs() < settings.contact_cap_days)
        for cid, d in zip(s.loc[capped, "customer_id"], prev[capped]):
            skipped.append(
                Skip(
                    cid,
                    f"frequency cap: last contact {d.date()}, within "
                    f"{settings.contact_cap_days} days",
                )
            )
        s = s.loc[~capped]

    # one pass per group of customers who share reason, segment, tier and consent; the rows
    # are gathered as arrays and made into one frame at the end (not a frame per group)
    keys = ["churn_reason", "segment", "clv_tier", "accepts_email", "accepts_sms"]
    group = s.groupby(keys, sort=False).ngroup().to_numpy()
    by_group = np.argsort(group, kind="stable")  # each group's rows in table order
    bounds = np.searchsorted(group[by_group], np.arange(group.max() + 2 if len(group) else 1))
    ids = s["customer_id"].to_numpy()
    key_cols = [s[k].to_numpy() for k in keys]
    churn_all = s["churn_probability"].to_numpy(float)
    clv_all = s["predicted_clv"].to_numpy(float)
    aov_all = s["aov"].to_numpy(float)
    picked: list[tuple[np.ndarray, dict, dict]] = []  # (positions, scalars, arrays)
    awaiting: list[tuple[np.ndarray, dict, dict]] = []  # the same, for unknown consent
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        at = by_group[lo:hi]
        r, seg, tier, ae, asms = (col[at[0]] for col in key_cols)
        states = {"accepts_email": ae, "accepts_sms": asms}
        usable = {
            col: st == "yes" or (st == "unknown" and kind in conf)
            for kind, col in C.KINDS.items()
            for st in [states[col]]
        }
        opts, why = _options(plays, r, seg, tier, usable, cap)
        into = picked
        if not opts and why.startswith("no consent"):
            unknown = {
                col: st not in ("no", UNREACHABLE) for col, st in states.items()
            }  # if unknown were supplied
            maybe, _ = _options(plays, r, seg, tier, unknown, cap)
            if maybe:
                opts, into = maybe, awaiting
            elif UNREACHABLE in states.values() and "no" not in states.values():
                # nothing refused: what stops them is an address the store does not have
                gone = [k for k, col in C.KINDS.items() if states[col] == UNREACHABLE]
                why = (
                    "no "
                    + " or ".join("email address" if k == "email" else "phone number" for k in gone)
                    + " to reach them on"
                )
        if not opts:
            skipped += [Skip(cid, why) for cid in ids[at]]
            continue
        p_churn, clv, aov = churn_all[at], clv_all[at], aov_all[at]
        parts = []
        for play, ch in opts:
            rate = float(rates.get(f"{play.id}|{r}", rates.get(play.id, play.prior_uplift)))
            offer_pct = pct if play.offer_type == "discount" else 0.0
            if play.offer_type == "discount":
                value = offer_pct * aov
            elif play.offer_type in SHARE_OF_ORDER:
                value = SHARE_OF_ORDER[play.offer_type] * aov
            else:
                value = np.full(len(at), float(ocost.get(play.offer_type, 0.0)))
            if play.offer_type in ON_PURCHASE:
                red = 1.0 - p_churn * (1.0 - rate)
            elif value.any():
                red = np.ones(len(at))
            else:
                red = np.zeros(len(at))
            ev = expected_value(
                churn_probability=p_churn,
                clv=clv,
                save_rate=rate,
                offer_value=value,
                redemption=red,
                channel_cost=ccost.get(ch, 0.0),
            )
            parts.append((play, ch, offer_pct, value, red, ev, rate))
        pick = np.vstack([p[5] for p in parts]).argmax(axis=0)
        for i, (play, ch, offer_pct, value, red, ev, rate) in enumerate(parts):
            m = pick == i
            if not m.any():
                continue
            st = states[C.KINDS[C.CHANNEL_KIND[ch]]]
            basis = (
                "customer's data"
                if st == "yes"
                else (
                    f"merchant's confirmation ({conf[C.CHANNEL_KIND[ch]]})"
                    if into is picked
                    else "unknown"
                )
            )
            into.append(
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
                        "channel_cost": float(ccost.get(ch, 0.0)),
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
    cand = _candidates(ids, picked)
    if uplift is not None and len(cand):
        cand["uplift"] = np.clip(np.asarray(uplift(cand), float), -1.0, 1.0)
        cand["expected_value"] = cand["uplift"] * cand["clv"] - (
            cand["offer_cost"] + cand["channel_cost"]
        )
    cand = cand.sort_values(["expected_value", "customer_id"], ascending=[False, True])
    neg = cand["expected_value"] <= 0
    skipped += [
        Skip(cid, f"expected value not positive: {ev:.2f}")
        for cid, ev in zip(cand.loc[neg, "customer_id"], cand.loc[neg, "expected_value"])
    ]
    cand = cand.loc[~neg]

    # the control group is drawn from the eligible pool before the budget chooses anyone
    u = control_draw(cand["customer_id"], seed=settings.seed, campaign_id=campaign_id)
    held = cand.loc[u < settings.control_share]
    treat_pool = cand.loc[u >= settings.control_share]
    used = _contacts_in_week(contact_log, week)
    budget_left = max(0, int(settings.weekly_contact_budget) - used)
    chosen = treat_pool.iloc[:budget_left].copy()
    over = treat_pool.iloc[budget_left:]
    why = f"over the weekly contact budget: {settings.weekly_contact_budget} a week, {used} already used"
    skipped += [Skip(cid, why) for cid in over["customer_id"]]
    skipped += [
        Skip(cid, "control group: held out to measure the campaign") for cid in held["customer_id"]
    ]
    floor = chosen["expected_value"].min() if len(over) and len(chosen) else -np.inf
    control = held.loc[held["expected_value"] >= floor, "customer_id"].tolist()
    chosen["reason"] = [_reason_words(r, currency) for r in chosen.itertuples()]
    notes = [
        f"{len(chosen)} chosen of {len(cand)} eligible; {len(held)} held out as control "
        f"({settings.control_share:.0%}, seed {settings.seed} + campaign {campaign_id})"
    ]

    # unknown consent: who would be contacted (the same control draw and budget), never contacted
    wait = _candidates(ids, awaiting).sort_values(
        ["expected_value", "customer_id"], ascending=[False, True]
    )
    wneg = wait["expected_value"] <= 0
    skipped += [
        Skip(cid, f"expected value not positive: {ev:.2f}")
        for cid, ev in zip(wait.loc[wneg, "customer_id"], wait.loc[wneg, "expected_value"])
    ]
    wait = wait.loc[~wneg]
    for cid, ch in zip(wait["customer_id"], wait["channel"]):
        kind = C.CHANNEL_KIND[ch]
        skipped.append(
            Skip(
                cid,
                f"consent unknown: the store's files do not say whether this customer "
                f"accepts {kind}; supply it or confirm the channel",
            )
        )
    wu = control_draw(wait["customer_id"], seed=settings.seed, campaign_id=campaign_id)
    would = wait.loc[wu >= settings.control_share].iloc[: max(0, budget_left - len(chosen))].copy()
    would["reason"] = [_reason_words(r, currency) for r in would.itertuples()]
    statement = C.statement(consent_summary)
    if statement:
        notes.append(statement)
    if len(wait):
        kinds = sorted({C.CHANNEL_KIND[ch] for ch in wait["channel"]})
        notes.append(
            f"{len(wait):,} customers have a play worth running but unknown {' and '.join(kinds)} "
            f"consent, so none of them is contacted; {len(would):,} of them would be this week. "
            f"To supply consent: {C.how_to_supply(kinds)}"
        )
    arms = {
        r.customer_id: [r.playbook_id, r.churn_reason, r.segment]
        for part in (chosen, held.loc[held["customer_id"].isin(control)])
        for r in part.itertuples()
    }
    rates_used = {
        pid: float(v) for pid, v in chosen.groupby("playbook_id")["save_rate"].mean().items()
    }
    return Plan(
        campaign_id=campaign_id,
        week_of=str(week.date()),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        settings={**_settings_snapshot(settings), "save_rates": rates_used, "arms": arms},
        chosen=_records(chosen[list(PLAN_COLUMNS)]),
        skipped=skipped,
        control_ids=control,
        held_out_ids=held["customer_id"].tolist(),
        budget_left=budget_left - len(chosen),
        notes=notes,
        awaiting_consent=_records(would[list(PLAN_COLUMNS)]),
        awaiting_total=int(len(wait)),
        consent=consent_summary,
    )


def _candidates(ids: np.ndarray, picked: list[tuple[np.ndarray, dict, dict]]) -> pd.DataFrame:
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


def _state_words(values: pd.Series) -> np.ndarray:
    """ "yes", "no" or "unknown" per consent value (`agent.outreach.consent.state`); words, not None,
    so that the groups below keep the unknown ones."""
    st = C.state_column(values)
    return np.where(st == True, "yes", np.where(st == False, "no", "unknown"))  # noqa: E712


def _contacts_in_week(contact_log: pd.DataFrame | None, week: pd.Timestamp) -> int:
    """Contacts already logged in the Monday-to-Sunday week of `week`."""
    if contact_log is None or len(contact_log) == 0:
        return 0
    start = week - timedelta(days=week.weekday())
    when = pd.to_datetime(contact_log["contacted_on"]).dt.normalize()
    return int(((when >= start) & (when < start + timedelta(days=7))).sum())


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


def _reason_words(r, currency: str | None = None) -> str:
    why = REASON_LABEL.get(r.churn_reason, r.churn_reason)
    how = "personal outreach, no discount" if r.channel == "personal_email" else r.channel
    text = (
        f"{r.churn_probability:.0%} likely to lapse ({why}); CLV {money(r.clv, currency, decimals=0)} "
        f"({r.clv_tier} tier, {r.segment}); {r.playbook_title} by {how}; expected value "
        f"{money(r.expected_value, currency)} = {r.churn_probability:.2f} x {r.clv:,.0f} x "
        f"{r.save_rate:.2f} - ({r.offer_value:,.2f} x {r.redemption:.2f} + {r.channel_cost:.2f})"
    )
    tau = getattr(r, "uplift", None)
    if tau is not None and tau == tau:
        text = text.split("; expected value")[0] + (
            f"; expected value {money(r.expected_value, currency)} = uplift {tau:+.3f} (the uplift model) x "
            f"{r.clv:,.0f} - ({r.offer_value:,.2f} x {r.redemption:.2f} + {r.channel_cost:.2f})"
        )
    if str(getattr(r, "consent_basis", "")).startswith("merchant"):
        text += f"; consent: {r.consent_basis}"
    return text


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for rec in df.to_dict("records"):
        out.append(
            {
                k: (
                    float(v)
                    if isinstance(v, (np.floating, float))
                    else int(v)
                    if isinstance(v, np.integer)
                    else v
                )
                for k, v in rec.items()
            }
        )
    return out
