"""What every view shares: the "(all)" filter value, an empty table with its headings, the
money heading with its currency, percentages for a column, and merchant text escaped for Markdown."""

from __future__ import annotations

import re

import pandas as pd

from agent.display import percent

ALL = "(all)"


def empty(headings: list[str]) -> pd.DataFrame:
    """A table with its headings and no rows (not Gradio's "1 2 3")."""
    return pd.DataFrame(columns=headings)


def pct_col(s: pd.Series, decimals: int = 0) -> pd.Series:
    """A column of shares (0.153) as the percentages a table shows ("15%")."""
    return s.map(lambda v: percent(v, decimals=decimals))


def money_head(name: str, currency: str | None) -> str:
    """A money column's heading with its currency: "Predicted value (GBP)"."""
    return f"{name} ({currency})" if currency else name


def md_escape(text: str) -> str:
    """Merchant text shown in Markdown as typed (no markup of its own)."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~-])", r"\\\1", str(text))
