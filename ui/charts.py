"""Charts only the app draws: functions that take data and return a matplotlib figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tools.insights.cohorts import cohort_retention_table  # noqa: E402


def cohort_retention(orders: pd.DataFrame, *, max_months: int = 12, max_cohorts: int = 6):
    """Cohort retention curves: one line per first-purchase quarter (the latest few)."""
    table = cohort_retention_table(orders, max_months=max_months).tail(max_cohorts)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for cohort, row in table.iterrows():  # months not yet happened are NaN: no point, no line
        ax.plot(row.index, row.to_numpy(dtype=float) * 100, marker="o", ms=3, label=cohort)
    ax.set_title(
        "Cohort retention\nshare buying again, by months since first purchase", fontsize=10
    )
    ax.set_xlabel("months since first purchase")
    ax.set_ylabel("% of cohort buying")
    if len(table):
        ax.legend(fontsize=7, title="first purchase", title_fontsize=7)
    fig.tight_layout()
    return fig
