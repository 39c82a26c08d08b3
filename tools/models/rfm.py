"""Purchase occasions and the RFM table: what the CLV models are fitted on.

`purchase_occasions` turns order lines into day-level occasions (one customer + one calendar
day = one occasion, the BG/NBD convention; only purchase lines make occasions, a refund nets
against revenue only), `rfm_summary` condenses them into one row per customer (columns in
`RFM_COLUMNS`, meanings in its docstring) and `validate_rfm` is the one check of a table the
models are given (lifetimes' `_check_inputs`, extended). `as_of_day` is the day an as-of date
stands for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.ingest.keys import day_keys, factorize_sorted
from tools.schema import purchase_mask

RFM_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "first_order",
    "last_order",
    "orders_to_date",
    "revenue_to_date",
    "avg_days_between_orders",
    "avg_gap_imputed",
)


def _check_orders(orders: pd.DataFrame) -> None:
    for col in ("customer_id", "order_date", "amount"):
        if col not in orders.columns:
            raise DataError(
                "the orders table has no such column",
                column=col,
                hint="load orders with tools.ingest.load.load_orders",
            )
    if not pd.api.types.is_datetime64_any_dtype(orders["order_date"]):
        raise DataError(
            "dates must be datetime64",
            column="order_date",
            example=repr(orders["order_date"].iloc[0]) if len(orders) else None,
        )


def as_of_day(as_of) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize()


def _lines(orders: pd.DataFrame, as_of):
    """Order lines up to as_of (inclusive) as integer arrays: customer codes (into the sorted
    unique ids), day numbers, amounts; plus the ids and the as_of day number."""
    _check_orders(orders)
    day = as_of_day(as_of)
    keep = (orders["order_date"] < day + pd.Timedelta(days=1)).to_numpy()
    codes, ids = factorize_sorted(orders["customer_id"].to_numpy()[keep])
    days = orders["order_date"].to_numpy()[keep].astype("datetime64[D]").astype(np.int64)
    amount = orders["amount"].to_numpy(float)[keep]
    buy = purchase_mask(orders)[keep]
    return codes, ids, days, amount, int(np.datetime64(day.date(), "D").astype(np.int64)), buy


def _occasions(codes, days, amount, buy):
    """Unique (customer code, day) pairs of the purchase lines (`buy`: non-negative, not of an
    order returned in full), sorted, with their value."""
    ok = buy
    key, span, lo = day_keys(codes[ok], days[ok])
    ukey, inv = np.unique(key, return_inverse=True)
    return ukey // span, ukey % span + lo, np.bincount(inv.ravel(), weights=amount[ok])


def _dates(day_numbers) -> np.ndarray:
    return np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")


def purchase_occasions(orders: pd.DataFrame, *, as_of) -> pd.DataFrame:
    """Day-level purchase occasions up to `as_of` (inclusive).

    Returns columns customer_id, occasion_date (midnight), value (sum of the day's
    non-negative amounts), sorted by customer and date. Days with only refund lines are not
    occasions.
    """
    codes, ids, days, amount, _, buy = _lines(orders, as_of)
    cust, occ_day, value = _occasions(codes, days, amount, buy)
    return pd.DataFrame(
        {"customer_id": ids[cust], "occasion_date": _dates(occ_day), "value": value}
    )


def rfm_summary(orders: pd.DataFrame, *, as_of, unit_days: float = 1) -> pd.DataFrame:
    """One row per customer seen up to `as_of` (see module docstring for the columns).

    recency and T are in units of `unit_days` days. revenue_to_date is net of refunds.
    monetary_value is the mean value of the repeat occasions (first purchase excluded, same-day
    lines summed): the definition that reproduces Fader, Hardie & Lee (2005b) on CDNOW.
    A customer whose lines up to `as_of` are all refunds is kept with orders_to_date 0,
    frequency 0 and T counted from the first day of the data: a return means a purchase
    before the data, and what the data shows is no purchase in all of it (first_order and
    last_order are their first line's day). avg_days_between_orders is
    (last - first) / (occasions - 1) in days; for customers with fewer than two occasions it
    is imputed with the median over repeat customers (the whole observed span in days if
    nobody repeats) and `avg_gap_imputed` is True, so the column has no NaN.
    """
    codes, ids, days, amount, end, buy = _lines(orders, as_of)
    if len(codes) == 0:
        raise DataError(
            "no orders on or before the as-of date",
            column="order_date",
            hint=f"as_of is {as_of_day(as_of).date()}",
        )
    n_cust = len(ids)
    cust, occ_day, value = _occasions(codes, days, amount, buy)
    n = np.bincount(cust, minlength=n_cust)
    has = n > 0
    start = np.concatenate([[0], np.cumsum(n)[:-1]])  # occasions are sorted by customer, day
    first_line = np.zeros(n_cust, np.int64)  # only read for customers with refunds only
    if not has.all():
        refunds_only = ~has[codes]
        first_line = (
            pd.Series(days[refunds_only])
            .groupby(codes[refunds_only])
            .min()
            .reindex(range(n_cust), fill_value=0)
            .to_numpy()
        )
    i_first = np.where(has, start, len(occ_day))  # customers without occasions -> padding
    i_last = np.where(has, start + n - 1, len(occ_day))
    occ_day, value = np.append(occ_day, 0), np.append(value, 0.0)
    first = np.where(has, occ_day[i_first], first_line)
    last = np.where(has, occ_day[i_last], first_line)
    first_value = value[i_first]
    rep_value = np.bincount(cust, weights=value[:-1], minlength=n_cust) - first_value
    freq = np.maximum(n - 1, 0)
    span = (last - first).astype(float)
    with np.errstate(all="ignore"):
        gap = np.where(freq > 0, span / freq, np.nan)
    fill = float(np.nanmedian(gap)) if (freq > 0).any() else float(max(end - first.min(), 1))
    return pd.DataFrame(
        {
            "customer_id": ids,
            "frequency": freq.astype(np.int64),
            "recency": span / unit_days,
            "T": (end - np.where(has, first, days.min())).astype(float) / unit_days,
            "monetary_value": np.where(freq > 0, rep_value / np.maximum(freq, 1), 0.0),
            "first_order": _dates(first),
            "last_order": _dates(last),
            "orders_to_date": n.astype(np.int64),
            "revenue_to_date": np.bincount(codes, weights=amount, minlength=n_cust),
            "avg_days_between_orders": np.where(freq > 0, gap, fill),
            "avg_gap_imputed": freq == 0,
        }
    ).loc[:, list(RFM_COLUMNS)]


def validate_rfm(rfm: pd.DataFrame, *, file: str | None = None) -> None:
    """The one check of model inputs (lifetimes' `_check_inputs`, extended). Raises DataError
    naming the column, the count of bad rows and an example: missing or duplicated columns,
    duplicated customers, empty table, non-finite or negative values, non-integer frequency,
    recency > T, recency > 0 with frequency 0."""
    need = ("customer_id", "frequency", "recency", "T", "monetary_value")
    for col in need:
        if col not in rfm.columns:
            raise DataError("missing column", file=file, column=col)
    dup_cols = rfm.columns[rfm.columns.duplicated()]
    if len(dup_cols):
        raise DataError("duplicated column", file=file, column=str(dup_cols[0]))
    if len(rfm) == 0:
        raise DataError("no customers to score", file=file)

    def fail(mask, column, problem):
        mask = np.asarray(mask)
        if mask.any():
            ex = rfm.loc[mask, list(need)].iloc[0].to_dict()
            raise DataError(
                problem, file=file, column=column, bad_rows=int(mask.sum()), example=repr(ex)
            )

    fail(rfm["customer_id"].duplicated().to_numpy(), "customer_id", "duplicated customer")
    for col in ("frequency", "recency", "T", "monetary_value"):
        v = pd.to_numeric(rfm[col], errors="coerce").to_numpy(float)
        fail(~np.isfinite(v), col, "missing or non-numeric value")
        fail(v < 0, col, "negative value")
    f = rfm["frequency"].to_numpy(float)
    fail(f != np.round(f), "frequency", "frequency must be a whole number of repeat occasions")
    rec, T = rfm["recency"].to_numpy(float), rfm["T"].to_numpy(float)
    fail(rec > T + 1e-9, "recency", "recency is larger than T (last purchase after as-of)")
    fail((f == 0) & (rec > 0), "recency", "recency > 0 for a customer with no repeat purchase")
