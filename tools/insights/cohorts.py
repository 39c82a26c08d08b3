"""Cohort retention: of the customers whose first purchase fell in a quarter, the share who
bought again k months later (what the app's cohort chart draws)."""

from __future__ import annotations

import pandas as pd


def cohort_retention_table(orders: pd.DataFrame, *, max_months: int = 12) -> pd.DataFrame:
    """Share of each first-purchase quarter's customers who bought again in month k after their
    first purchase (k = 1..max_months). Rows: cohort, columns: month offset. Month k of a
    customer counts only once it has happened (their first month + k is not after the data's
    last month, which is taken as complete): the share is of the cohort's customers whose month
    k has happened, and NaN (not 0%) where it has happened for none of them yet."""
    o = orders.loc[orders["amount"] >= 0, ["customer_id", "order_date"]].copy()
    o["month"] = pd.to_datetime(o["order_date"]).dt.to_period("M")
    first = o.groupby("customer_id")["month"].min().rename("first")
    o = o.join(first, on="customer_id")
    o["k"] = (o["month"] - o["first"]).apply(lambda x: x.n)
    o["cohort"] = o["first"].dt.asfreq("Q").astype(str)
    size = o.groupby("cohort")["customer_id"].nunique()
    months = range(1, max_months + 1)
    if not len(o):
        return pd.DataFrame(index=size.index, columns=list(months), dtype=float)
    last = pd.to_datetime(orders["order_date"]).max().to_period("M")  # refunds are data too
    people = first.to_frame().assign(
        cohort=first.dt.asfreq("Q").astype(str), seen=(last - first).apply(lambda x: x.n)
    )  # months that happened
    observed = pd.DataFrame(
        {k: (people["seen"] >= k).groupby(people["cohort"]).sum() for k in months}
    )
    active = (
        o.loc[(o["k"] >= 1) & (o["k"] <= max_months)]
        .groupby(["cohort", "k"])["customer_id"]
        .nunique()
    )
    bought = active.unstack("k").reindex(index=size.index, columns=months).fillna(0.0)
    observed = observed.reindex(index=size.index, columns=months).fillna(0)
    return bought.div(observed.where(observed > 0)).loc[size.index]
