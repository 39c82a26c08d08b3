"""The playbook vocabulary and the front-matter schema (validated with pydantic).

The vocabulary is written down once, here. Segments are the RFM segment names, churn reasons
are the ones the scoring tools emit, channels are the ones a draft can go out on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Segment = Literal[
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
]
ChurnReason = Literal[
    "price_sensitivity",
    "service_problems",
    "quality_returns",
    "fading_engagement",
    "cycle_overdue",
    "one_time_buyer",
]
ClvTier = Literal["high", "medium", "low"]
Channel = Literal["email", "sms", "phone", "personal_email", "onsite", "direct_mail"]
CostLevel = Literal["low", "medium", "high"]
SEGMENTS: tuple[Segment, ...] = get_args(Segment)
CHURN_REASONS: tuple[ChurnReason, ...] = get_args(ChurnReason)
CLV_TIERS: tuple[ClvTier, ...] = get_args(ClvTier)
CHANNELS: tuple[Channel, ...] = get_args(Channel)
COST_LEVELS: tuple[CostLevel, ...] = get_args(CostLevel)
OFFER_TYPES: tuple[str, ...] = (
    "none",
    "discount",
    "free_shipping",
    "gift",
    "loyalty_points",
    "service_recovery",
    "bundle",
    "subscription",
    "early_access",
    "referral_credit",
    "sample",
)
SECTIONS: tuple[str, ...] = (
    "When to use",
    "The play",
    "Channel and timing",
    "Offer",
    "Expected effect",
    "How to measure",
    "Guardrails",
    "Message skeleton",
)
"""The sections every built-in playbook has, in this order (merchant playbooks may omit some)."""

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class PlaybookMeta(BaseModel):
    """A playbook's YAML front matter. Unknown keys are rejected so a typo is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="kebab-case, equal to the file stem")
    title: str = Field(min_length=3)
    summary: str = Field(default="", description="One or two sentences: what the play is for.")
    segments: tuple[Segment, ...] = Field(default=(), description="RFM segments it fits")
    churn_reasons: tuple[ChurnReason, ...] = Field(default=())
    clv_tiers: tuple[ClvTier, ...] = Field(default=())
    channels: tuple[Channel, ...] = Field(default=())
    cost_level: CostLevel = "low"
    offer_type: str = Field(default="none", pattern=r"^[a-z_]+$")
    prior_uplift: float = Field(ge=0.0, le=1.0, description="Prior save rate / uplift, 0.12 = 12%")
    sources: tuple[str, ...] = Field(min_length=1, description="Published sources or 'assumption'")
    questions: tuple[str, ...] = Field(
        default=(),
        max_length=20,
        description="Questions the playbook answers, worded as merchants ask them; each is "
        "embedded on its own so a merchant's question meets its closest sibling",
    )

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(" ".join(q.split()) for q in value)
        if any(len(q) < 8 for q in cleaned):
            raise ValueError("every question needs at least 8 characters")
        if len(set(q.lower() for q in cleaned)) != len(cleaned):
            raise ValueError("a question is listed twice")
        return cleaned

    @field_validator("id")
    @classmethod
    def _kebab(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError(f"id {value!r} is not kebab-case (e.g. service-recovery)")
        return value


@dataclass(frozen=True)
class Section:
    heading: str
    text: str
    line: int
    """1-based line of the heading in the file (0 for the untitled overview)."""


@dataclass(frozen=True)
class Playbook:
    """A parsed playbook: validated metadata plus its sections in file order."""

    meta: PlaybookMeta
    sections: tuple[Section, ...]
    path: Path
    intro: str = ""

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def title(self) -> str:
        return self.meta.title

    def section(self, heading: str) -> str | None:
        """The text of a section by heading (case-insensitive), or None."""
        want = heading.strip().lower()
        for s in self.sections:
            if s.heading.lower() == want:
                return s.text
        return None

    @property
    def message_skeleton(self) -> str | None:
        return self.section("Message skeleton")

    def to_dict(self) -> dict:
        return {
            **self.meta.model_dump(mode="json"),
            "path": str(self.path),
            "sections": {s.heading: s.text for s in self.sections},
        }


def slug(value: str) -> str:
    """A metadata-key-safe slug: "Can't lose them" -> "cant_lose_them"."""
    return re.sub(r"[^a-z0-9]+", "_", value.lower().replace("'", "")).strip("_")
