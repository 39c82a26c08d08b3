"""The one settings object.

Lookup order (first wins): explicit arguments (CLI options, UI settings tab) > environment
variables with the `RETENTION_` prefix (e.g. `RETENTION_WORKSPACE`, `RETENTION_MODEL`) >
a `.env` file in the working directory > the defaults below. `OPENAI_API_KEY` and
`OPENAI_BASE_URL` are read under their usual names. Nothing is read at import time: call
`Settings()` when you need it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETENTION_", env_file=".env", extra="ignore")

    workspace: Path = Field(Path(".retention"), description="Folder the app writes to.")
    model: str | None = Field(None, description="Chat model name; none means offline mode.")
    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    demo_customers: int = Field(5_000, ge=10, description="Size of the generated demo store.")
    horizon_days: int = Field(365, ge=7, le=3650, description="Default prediction window.")
    margin: float = Field(1.0, ge=0.0, le=1.0, description="Contribution margin for CLV.")
    discount_cap: float = Field(0.15, ge=0.0, le=0.5, description="Largest discount a draft may offer.")
    weekly_contact_budget: int = Field(100, ge=0, description="Most customers contacted per week.")
    contact_cap_days: int = Field(14, ge=0, description="Least days between two contacts of one customer.")
    control_share: float = Field(0.10, ge=0.0, le=0.5, description="Share held out as control.")
    seed: int = Field(7, description="Seed for the demo store and control groups.")
    currency: str | None = Field(None, description="Currency of a store whose files do not say "
                                 "(a three-letter code, e.g. GBP); the file's currency column wins.")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, value):
        from agent.display import currency_code

        return currency_code(value)
