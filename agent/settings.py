"""The one settings object.

Lookup order (first wins): explicit arguments (CLI options, UI settings tab) > environment
variables with the `RETENTION_` prefix (e.g. `RETENTION_WORKSPACE`, `RETENTION_MODEL`) >
a `.env` file in the working directory > the store settings saved in the workspace
(`with_workspace`: what the merchant saved in the app's Settings tab, `store_settings.json`) >
the defaults below. `OPENAI_API_KEY` and `OPENAI_BASE_URL` are read under their usual names.
Nothing is read at import time: call `Settings()` when you need it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.files import atomic_write_text
from tools.schema import currency_code


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETENTION_", env_file=".env", extra="ignore")

    workspace: Path = Field(Path(".retention"), description="Folder the app writes to.")
    model: str | None = Field(None, description="Chat model name; none means offline mode.")
    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    database_url: str | None = Field(
        None,
        validation_alias="DATABASE_URL",
        description="The approval queue's database (postgresql://...); none: SQLite in the workspace.",
    )
    ui_password: str | None = Field(
        None, description="The app's password (RETENTION_UI_PASSWORD); none: a launch key."
    )
    demo_customers: int = Field(5_000, ge=10, description="Size of the generated demo store.")
    horizon_days: int = Field(365, ge=7, le=3650, description="Default prediction window.")
    margin: float = Field(1.0, ge=0.0, le=1.0, description="Contribution margin for CLV.")
    discount_cap: float = Field(
        0.15, ge=0.0, le=0.5, description="Largest discount a draft may offer."
    )
    weekly_contact_budget: int = Field(100, ge=0, description="Most customers contacted per week.")
    contact_cap_days: int = Field(
        14, ge=0, description="Least days between two contacts of one customer."
    )
    control_share: float = Field(0.10, ge=0.0, le=0.5, description="Share held out as control.")
    turn_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds the model has to "
        "answer one chat turn (RETENTION_TURN_TIMEOUT); then the turn ends "
        "saying the model did not answer in time.",
    )
    seed: int = Field(7, description="Seed for the demo store and control groups.")
    currency: str | None = Field(
        None,
        description="Currency of a store whose files do not say "
        "(a three-letter code, e.g. GBP); the file's currency column wins.",
    )
    store_name: str | None = Field(
        None,
        max_length=80,
        description='The store\'s name, as drafts and the app write it (none: "our store").',
    )
    sender_name: str | None = Field(
        None, max_length=80, description="Who signs the drafts (e.g. Maria)."
    )
    sign_off: str | None = Field(
        None,
        max_length=120,
        description="The drafts' closing line "
        '(e.g. "Warm wishes"); none: the store\'s name alone.',
    )

    @field_validator("store_name", "sender_name", "sign_off", mode="before")
    @classmethod
    def _one_line(cls, value):
        if value is None:
            return None
        text = " ".join(str(value).split())
        return text or None

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, value):
        return currency_code(value)


STORE_SETTINGS_FILE = "store_settings.json"
STORE_FIELDS = (
    "store_name",
    "currency",
    "sender_name",
    "sign_off",
    "discount_cap",
    "weekly_contact_budget",
    "control_share",
    "margin",
)
"""The settings the merchant keeps in the workspace (never the model endpoint or its key)."""


def saved_store_settings(workspace: str | Path) -> dict:
    """The store settings saved in the workspace ({} when none were saved, or the file is unreadable)."""
    path = Path(workspace) / STORE_SETTINGS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: data[k] for k in STORE_FIELDS if isinstance(data, dict) and k in data}


def with_workspace(settings: Settings, workspace: str | Path) -> Settings:
    """`settings` with the workspace's saved store settings for every field that was not set
    explicitly (an argument or the environment wins); values that fail validation are skipped."""
    saved = {
        k: v
        for k, v in saved_store_settings(workspace).items()
        if k not in settings.model_fields_set
    }
    good = {}
    for key, value in saved.items():
        try:  # one field at a time (model_validate reads no environment)
            good[key] = getattr(Settings.model_validate({key: value}), key)
        except ValueError:
            continue
    return settings.model_copy(update=good) if good else settings


def save_store_settings(workspace: str | Path, settings: Settings) -> Path:
    """Write the store settings of `settings` into the workspace (atomically)."""
    data = {k: getattr(settings, k) for k in STORE_FIELDS}
    return atomic_write_text(Path(workspace) / STORE_SETTINGS_FILE, json.dumps(data, indent=2))
