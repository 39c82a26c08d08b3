"""Charts for the brief and the app: functions that take data and return a matplotlib
figure (tested on data and labels, not pixels). Agg backend: no screen needed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def clv_distribution(scores: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(6, 3.2))
    values = scores["predicted_clv"].clip(lower=0)
    ax.hist(values, bins=40, color="#4C72B0")
    ax.set_title("Predicted customer value (next 12 months)")
    ax.set_xlabel("predicted CLV")
    ax.set_ylabel("customers")
    fig.tight_layout()
    return fig


def churn_by_segment(scores: pd.DataFrame):
    by = scores.groupby("segment")["churn_probability"].mean().sort_values()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.barh(by.index, by.to_numpy(), color="#DD8452")
    ax.set_title("Average churn probability by segment")
    ax.set_xlabel("churn probability")
    ax.set_xlim(0, 1)
    fig.tight_layout()
    return fig


def segment_migration(summary: pd.DataFrame):
    """`summary`: tools.segments.migration_summary output (segment, before, after, ...)."""
    s = summary.set_index("segment")[["before", "after"]]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    y = np.arange(len(s))
    ax.barh(y - 0.2, s["before"], height=0.4, label="last week", color="#8C8C8C")
    ax.barh(y + 0.2, s["after"], height=0.4, label="this week", color="#55A868")
    ax.set_yticks(y, s.index)
    ax.set_title("Customers per segment")
    ax.legend()
    fig.tight_layout()
    return fig


def save(fig, path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    ax.plot(df["frequency"], df["predicted"], marker="s", label="model", color="#4C72B0", linestyle="--")
    ax.set_title("Conditional expectation: holdout purchases")
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel("holdout purchases per customer")
    ax.legend()
    fig.tight_layout()
    return fig
