"""A snapshot's forecast kept, and graded as weeks pass.

`forecast_table` turns a scores table (one row per customer: `expected_orders`,
`predicted_clv` with `clv_low`/`clv_high`, `churn_probability`, all over the scoring horizon)
into the forecast for the weeks inside that horizon. The scores give the horizon's totals;
the shape of the curve inside it comes from the snapshot's fitted purchase model on each
customer's history as of the snapshot:

    orders_d   = expected_orders · E[X(d)] / E[X(H)]           (FHL 2005a eq. 10: BG/NBD's
                                                                conditional expectation)
    revenue_d  = expected revenue · E[X(d)] / E[X(H)]
    p_none_d   = P_H ^ (log P_bg(d) / log P_bg(H))             P_H the scores' churn
                                                                probability, P_bg the model's
                                                                P(no purchase in d)

so each checkpoint's numbers agree with the scores at the horizon and follow the purchase
model's concave curve in between (a pooled-rate model gives the straight line d / H).

The band a forecast is graded against is the one a backtest of the same curve leads one to
expect: `backtest_error` applies the snapshot's purchase model to the history as of four
weeks earlier and measures the relative error of its aggregate orders over those four weeks.
The band's relative half-width is sqrt((1.645 / sqrt(F))² + e²) for orders (F forecast
orders: Poisson noise, plus the backtest's error e), and for revenue
sqrt(band_orders² + cv² / F) with cv the coefficient of variation of order values.

`grade_forecast` compares a forecast with the orders that followed: purchase occasions
(one customer, one day, amount > 0) and net revenue of the snapshot's customers; who was
called at risk and bought anyway; who was called safe and lapsed (no purchase since, and more
than `grace_days` past their expected next order); `calibration` compares the predicted
no-purchase probabilities with what happened over windows that have matured.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

CHECKPOINTS_DAYS = (7, 14, 21, 28, 56, 91)
Z90 = 1.6448536269514722
AT_RISK = 0.7
"""Churn probability at or above which a customer is "called at risk"."""
SAFE = 0.3
"""Churn probability below which a customer is "called safe"."""
FORECAST_COLUMNS = (
    "customer_id",
    "expected_orders",
    "expected_revenue",
    "revenue_low",
    "revenue_high",
    "churn_probability",
    "expected_next_order_date",
)


def _curve(
    purchase: dict | None, rfm: pd.DataFrame, days: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(E[X(t)], P(no purchase in t)) per customer (rows) and t in `days` (columns), from the
    fitted purchase model (`params["probabilistic"]`), or None when it is not a BTYD model."""
    from tools.models import clv_formulas as F

    model = (purchase or {}).get("model")
    if purchase is None or model is None:
        return None
    names = F.PARAM_NAMES.get(model)
    if not names or not all(k in purchase.get("params", {}) for k in names):
        return None
    unit = float(purchase.get("unit_days") or 1.0)
    p = tuple(float(purchase["params"][k]) for k in names)
    x = rfm["frequency"].to_numpy(float)
    tx = rfm["recency"].to_numpy(float) / unit
    T = rfm["T"].to_numpy(float) / unit
    e = np.empty((len(rfm), len(days)))
    none = np.empty_like(e)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for j, d in enumerate(days):
            e[:, j] = F.expected_purchases(model, p, d / unit, x, tx, T)
            none[:, j] = F.prob_no_purchase(model, p, d / unit, x, tx, T)
    if not (np.isfinite(e).all() and np.isfinite(none).all()):
        return None
    return e, none


def forecast_table(
    scores: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    as_of,
    horizon_days: int,
    purchase: dict | None = None,
    margin: float = 1.0,
) -> pd.DataFrame:
    """One row per scored customer: the horizon's forecast (FORECAST_COLUMNS) and, for each
    checkpoint d in CHECKPOINTS_DAYS inside the horizon, `orders_{d}d`, `revenue_{d}d` and
    `p_none_{d}d` (module docstring). `orders`: the store's orders (only lines on or before
    `as_of` are read); `purchase`: the snapshot's fitted purchase model; `margin`: what
    `predicted_clv` was multiplied by (revenue is divided by it back). Nothing passed in is
    modified."""
    from tools.models.rfm import rfm_summary

    as_of = pd.Timestamp(as_of).normalize()
    margin = float(margin) if margin and margin > 0 else 1.0
    s = scores.drop_duplicates("customer_id")
    out = pd.DataFrame(
        {
            "customer_id": s["customer_id"].astype(str).to_numpy(),
            "expected_orders": s["expected_orders"].to_numpy(float),
            "expected_revenue": s["predicted_clv"].to_numpy(float) / margin,
            "revenue_low": s.get("clv_low", s["predicted_clv"]).to_numpy(float) / margin,
            "revenue_high": s.get("clv_high", s["predicted_clv"]).to_numpy(float) / margin,
            "churn_probability": s["churn_probability"].to_numpy(float),
        }
    )
    out["expected_next_order_date"] = (
        pd.to_datetime(s["expected_next_order_date"]).to_numpy()
        if "expected_next_order_date" in s
        else pd.NaT
    )
    days = np.array([d for d in CHECKPOINTS_DAYS if d < horizon_days] + [horizon_days], float)
    curve = None
    try:
        rfm = rfm_summary(orders, as_of=as_of)
        rfm = rfm.assign(customer_id=rfm["customer_id"].astype(str)).set_index("customer_id")
        rfm = rfm.reindex(out["customer_id"])
        if rfm["frequency"].notna().all():
            curve = _curve(purchase, rfm, days)
    except Exception:  # no history to read: the straight line below
        curve = None
    if curve is None:
        share = np.tile(days / horizon_days, (len(out), 1))
        expo = share
    else:
        e, none = curve
        with np.errstate(all="ignore"):
            share = np.where(e[:, -1:] > 0, e / e[:, -1:], days / horizon_days)
            log_h = np.log(np.clip(none[:, -1:], 1e-12, 1.0))
            expo = np.where(
                log_h < -1e-9, np.log(np.clip(none, 1e-12, 1.0)) / log_h, days / horizon_days
            )
        share, expo = np.clip(share, 0, 1), np.clip(expo, 0, 1)
    p_h = np.clip(out["churn_probability"].to_numpy(float), 1e-6, 1.0)
    for j, d in enumerate(days[:-1].astype(int)):
        out[f"orders_{d}d"] = out["expected_orders"].to_numpy() * share[:, j]
        out[f"revenue_{d}d"] = out["expected_revenue"].to_numpy() * share[:, j]
        out[f"p_none_{d}d"] = p_h ** expo[:, j]
    out.attrs["curve"] = "purchase model" if curve is not None else "straight line"
    return out


def checkpoints(forecast: pd.DataFrame) -> list[int]:
    """The checkpoint days a forecast table carries, ascending."""
    return sorted(
        int(c[len("orders_") : -1])
        for c in forecast.columns
        if c.startswith("orders_") and c.endswith("d")
    )


def _cumulative(forecast: pd.DataFrame, what: str, days: float, horizon_days: int) -> float:
    """The base's forecast total of `what` (orders or revenue) over the first `days` days,
    read off the checkpoints (linear between them, 0 at 0, the horizon's total at H)."""
    cps = checkpoints(forecast)
    total = forecast["expected_orders" if what == "orders" else "expected_revenue"].sum()
    xs = [0.0, *cps, float(horizon_days)]
    ys = [0.0, *(forecast[f"{what}_{d}d"].sum() for d in cps), total]
    return float(np.interp(days, xs, ys))


def occasions(orders: pd.DataFrame, start, end) -> pd.DataFrame:
    """customer_id, bought (purchase occasions: distinct days with an amount > 0), revenue
    (net) of the orders dated in (start, end], one row per customer with a line there."""
    one = pd.Timedelta(days=1)
    o = orders.loc[
        (orders["order_date"] >= pd.Timestamp(start).normalize() + one)
        & (orders["order_date"] < pd.Timestamp(end).normalize() + one)
    ]
    cid = o["customer_id"].astype(str)
    day = o["order_date"].dt.normalize()
    pos = o["amount"] > 0
    n = pd.DataFrame({"c": cid[pos], "d": day[pos]}).drop_duplicates().groupby("c").size()
    rev = o["amount"].groupby(cid).sum()
    out = pd.DataFrame({"revenue": rev}).join(n.rename("bought"), how="outer").fillna(0.0)
    return out.rename_axis("customer_id")


def backtest_error(
    orders: pd.DataFrame, *, as_of, purchase: dict | None, days: int = 28
) -> float | None:
    """|relative error| of the purchase model's aggregate orders over the `days` before
    `as_of`, applied to the history as of `as_of − days` (a backtest of the forecast curve;
    the parameters are the snapshot's). None without a purchase model or enough history."""
    from tools.models.rfm import rfm_summary

    as_of = pd.Timestamp(as_of).normalize()
    start = as_of - pd.Timedelta(days=days)
    try:
        rfm = rfm_summary(orders, as_of=start)
    except Exception:
        return None
    curve = _curve(purchase, rfm, np.array([float(days)]))
    if curve is None:
        return None
    predicted = float(curve[0][:, 0].sum())
    known = set(rfm["customer_id"].astype(str))
    occ = occasions(orders, start, as_of)
    actual = float(occ.loc[occ.index.isin(known), "bought"].sum())
    if predicted <= 0:
        return None
    return abs(actual / predicted - 1.0)


def order_value_cv(orders: pd.DataFrame, *, as_of, days: int = 180) -> float:
    """Coefficient of variation of the values of purchase occasions in the `days` before `as_of`."""
    as_of = pd.Timestamp(as_of).normalize()
    o = orders.loc[
        (orders["order_date"] >= as_of - pd.Timedelta(days=days))
        & (orders["order_date"] < as_of + pd.Timedelta(days=1))
        & (orders["amount"] > 0)
    ]
    v = o["amount"].groupby([o["customer_id"].astype(str), o["order_date"].dt.normalize()]).sum()
    return float(v.std(ddof=1) / v.mean()) if len(v) > 2 and v.mean() > 0 else 1.0


def grade_forecast(
    forecast: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    as_of,
    through,
    horizon_days: int,
    backtest_rel_error: float | None = None,
    value_cv: float = 1.0,
    grace_days: int = 30,
) -> dict:
    """The forecast made as of `as_of` against what happened in (as_of, through]: orders and
    revenue (forecast, 90% band, actual, whether inside the band), the customers called at
    risk who bought anyway and those called safe who lapsed (module docstring)."""
    as_of, through = pd.Timestamp(as_of).normalize(), pd.Timestamp(through).normalize()
    days = int((through - as_of).days)
    f_orders = _cumulative(forecast, "orders", days, horizon_days)
    f_rev = _cumulative(forecast, "revenue", days, horizon_days)
    occ = occasions(orders, as_of, through).reindex(forecast["customer_id"].astype(str)).fillna(0.0)
    a_orders, a_rev = float(occ["bought"].sum()), float(occ["revenue"].sum())
    e = float(backtest_rel_error or 0.0)
    rel_o = math.sqrt((Z90 / math.sqrt(f_orders)) ** 2 + e**2) if f_orders > 0 else 1.0
    rel_r = math.sqrt(rel_o**2 + value_cv**2 / f_orders) if f_orders > 0 else 1.0
    bought = occ["bought"].to_numpy() > 0
    p = forecast["churn_probability"].to_numpy(float)
    risky = p >= AT_RISK
    near = [d for d in checkpoints(forecast) if d <= max(days, 1)]
    if near:
        p_buy = 1.0 - forecast[f"p_none_{near[-1]}d"].to_numpy(float)
    else:
        p_buy = 1.0 - np.clip(p, 1e-6, 1) ** (max(days, 1) / horizon_days)
    nxt = pd.to_datetime(forecast["expected_next_order_date"])
    safe = p < SAFE
    lapsed = safe & ~bought & (nxt + pd.Timedelta(days=grace_days) < through).to_numpy()
    out = {
        "as_of": str(as_of.date()),
        "through": str(through.date()),
        "days": days,
        "orders_forecast": f_orders,
        "orders_low": max(0.0, f_orders * (1 - rel_o)),
        "orders_high": f_orders * (1 + rel_o),
        "orders_actual": a_orders,
        "revenue_forecast": f_rev,
        "revenue_low": max(0.0, f_rev * (1 - rel_r)),
        "revenue_high": f_rev * (1 + rel_r),
        "revenue_actual": a_rev,
        "band_orders": rel_o,
        "band_revenue": rel_r,
        "backtest_rel_error": e,
        "at_risk": int(risky.sum()),
        "at_risk_bought": int((risky & bought).sum()),
        "at_risk_expected_buyers": float(p_buy[risky].sum()),
        "safe": int(safe.sum()),
        "safe_lapsed": int(lapsed.sum()),
        "safe_lapsed_ids": forecast.loc[lapsed, "customer_id"].astype(str).head(5).tolist(),
        "at_risk_bought_ids": forecast.loc[risky & bought, "customer_id"]
        .astype(str)
        .head(5)
        .tolist(),
    }
    out["orders_ok"] = bool(out["orders_low"] <= a_orders <= out["orders_high"])
    out["revenue_ok"] = bool(out["revenue_low"] <= a_rev <= out["revenue_high"])
    out["orders_error"] = a_orders / f_orders - 1 if f_orders > 0 else 0.0
    out["revenue_error"] = a_rev / f_rev - 1 if f_rev > 0 else 0.0
    return out


CALIBRATION_BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def calibration(
    pairs: list[tuple[pd.DataFrame, pd.Timestamp]], orders: pd.DataFrame, *, days: int
) -> dict | None:
    """Predicted against observed no-purchase over `days`-day windows that have matured:
    `pairs` are (forecast, as_of) of snapshots whose window ended by the last order date.
    Returns the bands (customers, mean predicted, observed share), the weighted mean
    |predicted − observed| and the number of windows, or None when no window matured."""
    col = f"p_none_{days}d"
    rows = []
    for fc, as_of in pairs:
        if col not in fc:
            continue
        occ = occasions(orders, as_of, pd.Timestamp(as_of) + pd.Timedelta(days=days))
        bought = fc["customer_id"].astype(str).map(occ["bought"]).fillna(0).to_numpy() > 0
        rows.append(pd.DataFrame({"p": fc[col].to_numpy(float), "none": ~bought}))
    if not rows:
        return None
    d = pd.concat(rows, ignore_index=True)
    band = np.clip(np.digitize(d["p"], CALIBRATION_BANDS[1:-1]), 0, len(CALIBRATION_BANDS) - 2)
    g = d.groupby(band).agg(
        customers=("p", "size"), predicted=("p", "mean"), observed=("none", "mean")
    )
    bands = [
        {
            "low": CALIBRATION_BANDS[i],
            "high": CALIBRATION_BANDS[i + 1],
            "customers": int(r.customers),
            "predicted": float(r.predicted),
            "observed": float(r.observed),
        }
        for i, r in g.iterrows()
    ]
    gap = float(
        (g["customers"] * (g["predicted"] - g["observed"]).abs()).sum() / g["customers"].sum()
    )
    return {
        "days": days,
        "windows": len(rows),
        "customers": int(len(d)),
        "bands": bands,
        "mean_gap": gap,
    }
