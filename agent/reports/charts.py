"""Charts for the brief and the app: functions that take data and return a matplotlib
figure (tested on data and labels, not pixels). Agg backend: no screen needed."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def horizon_words(days: int) -> str:
    """A prediction window as a person says it: 365 days is "12 months", 730 "24 months",
    90 days "90 days"."""
    days = int(days)
    if days % 365 == 0:
        return f"{days // 365 * 12} months"
    if days % 30 == 0 and days >= 60:
        return f"{days // 30} months"
    return f"{days} days"


def clv_distribution(scores: pd.DataFrame, *, horizon_days: int = 365, currency: str | None = None):
    fig, ax = plt.subplots(figsize=(6, 3.2))
    values = scores["predicted_clv"].clip(lower=0)
    ax.hist(values, bins=40, color="#4C72B0")
    ax.set_title(f"Predicted customer value (next {horizon_words(horizon_days)})")
    ax.set_xlabel(
        f"predicted value per customer ({currency})" if currency else "predicted value per customer"
    )
    ax.set_ylabel("customers")
    fig.tight_layout()
    return fig


def churn_by_segment(scores: pd.DataFrame, *, horizon_days: int = 365):
    by = scores.groupby("segment")["churn_probability"].mean().sort_values()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.barh(by.index, by.to_numpy() * 100, color="#DD8452")
    ax.set_title(f"Average churn risk by segment (next {horizon_words(horizon_days)})")
    ax.set_xlabel("chance of no purchase in that time (%)")
    ax.set_xlim(0, 100)
    fig.tight_layout()
    return fig


def segment_migration(summary: pd.DataFrame):
    """`summary`: tools.insights.segments.migration_summary output (segment, before, after, ...)."""
    s = summary.set_index("segment")[["before", "after"]]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    y = np.arange(len(s))
    ax.barh(y - 0.2, s["before"], height=0.4, label="last week", color="#8C8C8C")
    ax.barh(y + 0.2, s["after"], height=0.4, label="this week", color="#55A868")
    ax.set_yticks(y, s.index)
    ax.set_title("Customers per segment, last week and this week")
    ax.set_xlabel("customers")
    ax.legend()
    fig.tight_layout()
    return fig


def save(fig, path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)


def png_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (and closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a data: URI, for an <img> that needs no file next to it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tracking_plot(df: pd.DataFrame):
    """Cumulative repeat purchases per week, actual vs predicted; holdout shaded."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(df["week_end"], df["actual"], label="actual", color="#333333")
    ax.plot(df["week_end"], df["predicted"], label="model", color="#4C72B0", linestyle="--")
    hold = df.loc[df["holdout"], "week_end"]
    if len(hold):
        ax.axvspan(hold.iloc[0], hold.iloc[-1], color="#EEEEEE", label="holdout")
    ax.set_title("Tracking: cumulative repeat purchases")
    fig.autofmt_xdate()
    ax.set_ylabel("repeat purchases")
    ax.legend()
    fig.tight_layout()
    return fig


def conditional_expectation_plot(df: pd.DataFrame):
    """Holdout purchases per customer by calibration frequency, actual vs predicted."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(df["frequency"], df["actual"], marker="o", label="actual", color="#333333")
    ax.plot(
        df["frequency"], df["predicted"], marker="s", label="model", color="#4C72B0", linestyle="--"
    )
    ax.set_title("Conditional expectation: holdout purchases")
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel("holdout purchases per customer")
    ax.legend()
    fig.tight_layout()
    return fig
