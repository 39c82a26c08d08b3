"""A campaign plan and the words it is made of: plays, channels, costs, skipped customers.

`Play` is the playbook metadata prioritisation needs; `Plan` is what `prioritise` returns: the
chosen rows (PLAN_COLUMNS), the skipped customers with why (`Skip`), the control group, the
customers awaiting consent and the settings the campaign is graded by. The constants are the
channels a draft can be written for, the consent column each needs, and the assumed costs of
channels and offers (agent.outreach.prioritise explains how they enter the expected value).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

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
