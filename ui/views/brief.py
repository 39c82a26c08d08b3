"""The Weekly brief tab's KPI cards (HTML): each number with its week-over-week change."""

from __future__ import annotations

import html

import pandas as pd

from agent.display import money

KPI_LABELS = [
    ("customers", "Customers", "num"),
    ("active_customers", "Active customers", "num"),
    ("repeat_rate", "Repeat rate", "pct"),
    ("revenue_week", "Revenue this week", "money"),
    ("orders_week", "Orders this week", "num"),
    ("aov_week", "Average order value", "money"),
    ("churned_this_week", "Churned this week", "num"),
    ("at_risk", "At risk", "num"),
    ("avg_clv", "Average CLV", "money"),
    ("predicted_value", "Predicted value", "money"),
]


def _fmt(value, kind: str, currency: str | None = None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "money":
        return money(value, currency, decimals=0 if abs(value) >= 100 else 2)
    return f"{value:,.0f}"


def _change(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "no change data"
    if kind == "pct":
        return f"{value * 100:+.1f} pts w/w"
    return (f"{value:+,.0f}" if abs(value) >= 1 or value == 0 else f"{value:+.2f}") + " w/w"


def kpi_cards(kpi: dict, kpi_change: dict, currency: str | None = None) -> str:
    """KPI cards (HTML) with the week-over-week change under each value; money in `currency`."""
    cards = []
    for key, heading, kind in KPI_LABELS:
        if key not in kpi:
            continue
        ch = (kpi_change or {}).get(key)
        colour = "#666" if not ch else ("#2e7d32" if ch > 0 else "#c62828")
        if key in ("churned_this_week", "at_risk") and ch:
            colour = "#c62828" if ch > 0 else "#2e7d32"
        cards.append(
            f'<div class="kpi-card" style="border:1px solid #ddd;border-radius:8px;padding:8px 12px;'
            f'min-width:140px"><div style="font-size:12px;color:#555">{html.escape(heading)}</div>'
            f'<div style="font-size:22px;font-weight:600">{html.escape(_fmt(kpi[key], kind, currency))}</div>'
            f'<div style="font-size:12px;color:{colour}">{_change(ch, kind)}</div></div>'
        )
    return '<div style="display:flex;flex-wrap:wrap;gap:8px">' + "".join(cards) + "</div>"
