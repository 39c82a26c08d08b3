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
The plan's types and the assumed costs are in agent.outreach.plan; the plays that fit each
group of customers, and their expected value, in agent.outreach.value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from agent.display import money
from agent.outreach import consent as C
from agent.outreach.plan import (
    CHANNEL_COSTS,
    CONSENT_COLUMNS,
    DEFAULT_DISCOUNT,
    DEFAULT_ORDER_VALUE,
    OFFER_COSTS,
    PLAN_COLUMNS,
    REACH,
    UNREACHABLE,
    Plan,
    Play,
    Skip,
)
from agent.outreach.value import Terms, score_groups
from tools.schema import REASON_LABEL


def prioritise(
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
    _check_columns(scores)
    week = pd.Timestamp(week_of).normalize()
    plays = [Play.of(p) for p in playbooks]
    cap = float(settings.discount_cap)
    s = scores.copy()
    s["customer_id"] = s["customer_id"].astype(str)
    s = s.drop_duplicates("customer_id")
    terms = Terms(
        plays=plays,
        cap=cap,
        discount=min(DEFAULT_DISCOUNT, cap),
        channel_costs={**CHANNEL_COSTS, **(channel_costs or {})},
        offer_costs={**OFFER_COSTS, **(offer_costs or {})},
        save_rates=dict(save_rates or {}),
        confirmed=C.confirmed_kinds(confirmed),
    )
    consent_summary = C.summary(s["customer_id"], customers, confirmed)
    s = _with_consent(s, customers)
    skipped: list[Skip] = []
    s = _not_to_contact(
        s, skipped, held_out=held_out, contact_log=contact_log, week=week, settings=settings
    )
    cand, wait, no_play = score_groups(s, terms)
    skipped += no_play
    if uplift is not None and len(cand):
        cand["uplift"] = np.clip(np.asarray(uplift(cand), float), -1.0, 1.0)
        cand["expected_value"] = cand["uplift"] * cand["clv"] - (
            cand["offer_cost"] + cand["channel_cost"]
        )
    cand = _worth_running(cand, skipped)

    # the control group is drawn from the eligible pool before the budget chooses anyone
    chosen, held, control, budget_left = _choose(
        cand,
        skipped,
        settings=settings,
        campaign_id=campaign_id,
        contact_log=contact_log,
        week=week,
    )
    chosen["reason"] = [_reason_words(r, currency) for r in chosen.itertuples()]
    notes = [
        f"{len(chosen)} chosen of {len(cand)} eligible; {len(held)} held out as control "
        f"({settings.control_share:.0%}, seed {settings.seed} + campaign {campaign_id})"
    ]

    # unknown consent: who would be contacted (the same control draw and budget), never contacted
    wait = _worth_running(wait, skipped)
    would = _awaiting(
        wait, skipped, settings=settings, campaign_id=campaign_id, room=budget_left - len(chosen)
    )
    would["reason"] = [_reason_words(r, currency) for r in would.itertuples()]
    notes += _consent_notes(consent_summary, wait, would)
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


def _check_columns(scores: pd.DataFrame) -> None:
    """A ValueError naming the columns the scores table lacks."""
    missing = [
        c for c in ("customer_id", "churn_probability", "predicted_clv") if c not in scores.columns
    ]
    if missing:
        raise ValueError(
            f"scores lack column(s) {', '.join(missing)}: pass the `retention score` table"
        )


def _with_consent(s: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """The scores with the customers' consent as words (yes, no, unknown, or UNREACHABLE for a
    channel the customer has no address for), the churn reason, segment and tier filled in,
    and the average order value (`aov`)."""
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
    return s


def _not_to_contact(
    s: pd.DataFrame,
    skipped: list[Skip],
    *,
    held_out: Mapping[str, str] | None,
    contact_log: pd.DataFrame | None,
    week: pd.Timestamp,
    settings,
) -> pd.DataFrame:
    """The customers left after the first rules, in order: a churn reason to act on, not in
    the control group of a campaign still being measured, and the frequency cap. The others
    are added to `skipped` with why."""
    no_reason = ~s["churn_reason"].isin(list(REASON_LABEL))
    skipped += [Skip(cid, "no churn reason to act on") for cid in s.loc[no_reason, "customer_id"]]
    s = s.loc[~no_reason]
    if held_out:
        hold = s["customer_id"].isin(list(held_out))
        skipped += [Skip(cid, held_out[cid]) for cid in s.loc[hold, "customer_id"]]
        s = s.loc[~hold]
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
    return s


def _worth_running(cand: pd.DataFrame, skipped: list[Skip]) -> pd.DataFrame:
    """The candidates by EV, highest first, those whose EV is not positive added to `skipped`."""
    cand = cand.sort_values(["expected_value", "customer_id"], ascending=[False, True])
    neg = cand["expected_value"] <= 0
    skipped += [
        Skip(cid, f"expected value not positive: {ev:.2f}")
        for cid, ev in zip(cand.loc[neg, "customer_id"], cand.loc[neg, "expected_value"])
    ]
    return cand.loc[~neg]


def _choose(
    cand: pd.DataFrame,
    skipped: list[Skip],
    *,
    settings,
    campaign_id: str,
    contact_log: pd.DataFrame | None,
    week: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], int]:
    """(chosen, held out, control ids, budget left before the chosen): the seeded control group
    is drawn from the eligible pool, then the weekly budget takes the highest-EV of the rest.
    The control group counts the held-out customers comparable to the chosen (EV at least the
    lowest chosen EV when the budget left some out)."""
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
    return chosen, held, control, budget_left


def _awaiting(
    wait: pd.DataFrame, skipped: list[Skip], *, settings, campaign_id: str, room: int
) -> pd.DataFrame:
    """Who would be contacted this week if their unknown consent were supplied (the same
    control draw, then the budget left, `room`); every one of `wait` is added to `skipped`."""
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
    return wait.loc[wu >= settings.control_share].iloc[: max(0, room)].copy()


def _consent_notes(consent_summary: dict, wait: pd.DataFrame, would: pd.DataFrame) -> list[str]:
    """What the store's files say about consent, and how many customers wait for it."""
    notes = []
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
    return notes


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
