"""The value interval (clv_low, clv_high): calibrated on the store's own past, and drawn
consistent with the churn probability the scores give.

`interval_calibration` is split-conformal in time (`tools.models.clv.fit_interval_calibration`
on an inner cutoff); `interval_with_churn` draws the calibrated interval as the mixture of
"nothing" with the scores' churn probability and the purchase and spend models' revenue given
a purchase (`tools.models.clv_predict.predict_clv`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tools.errors import DataError
from tools.models import clv
from tools.models.churn import PROB_FLOOR
from tools.models.clv_predict import predict_clv
from tools.models.features import build_features, labels
from tools.models.rfm import rfm_summary
from tools.scoring.choice import ALT_PURCHASE
from tools.scoring.splits import MIN_INNER_HISTORY_DAYS, rate_no_purchase

MIN_CALIBRATION_CUSTOMERS = 50  # customers known at the inner cutoff to calibrate on
MIN_CALIBRATED_LEVEL = 0.9
"""The calibration widens the model's 90% interval, never narrows it: the inner window comes
before the horizon, and customers may buy more in the next one than in the last (Online
Retail's autumn: a level of 0.8 that covered 91% in the summer covered 83% by Christmas)."""


def interval_calibration(
    orders, *, as_of, horizon_days, seed, rate_calibrator=None, purchase_models=None
) -> dict:
    """Calibrate the 90% value interval on the store itself (split-conformal in time): the
    purchase and spend models are fitted on the orders up to an inner cutoff, their
    predictive intervals for the window after it are compared with what each customer
    then spent, and the narrowest interval of one nested family that covers 90% is kept
    (`tools.models.clv.fit_interval_calibration`). The window is the horizon where the store has
    MIN_INNER_HISTORY_DAYS of orders before as-of minus the horizon, else the longest one
    that leaves that much (at least 30 days); a store shorter than that keeps the model's
    nominal interval, with `skipped` saying why. With `rate_calibrator` (churn by the own
    rate): P(no purchase) of a buyer is their own rate's (rate_no_purchase, calibrated), as
    it will be in the scores, so what is calibrated is the mixture the scores draw
    (`interval_with_churn`). `purchase_models` (the model choice, {"value": ..., "churn": ...}):
    where a target is ALT_PURCHASE, the inner fit is that model for it, as in the scores."""
    days = int((as_of - orders["order_date"].min().normalize()).days) + 1
    window = min(horizon_days, days - MIN_INNER_HISTORY_DAYS)
    if window < 30:
        return {
            "skipped": f"{days} days of orders: too short to calibrate the interval on the "
            f"store's past (needs {MIN_INNER_HISTORY_DAYS + 30}); the model's "
            "nominal 90% interval is used"
        }
    cutoff = as_of - pd.Timedelta(days=window)
    known = orders.loc[orders["order_date"] < cutoff + pd.Timedelta(days=1)]
    try:
        rfm = rfm_summary(known, as_of=cutoff)
        if len(rfm) < MIN_CALIBRATION_CUSTOMERS:
            return {
                "skipped": f"only {len(rfm):,} customers by {cutoff.date()}, the inner "
                f"cutoff; the model's nominal 90% interval is used"
            }
        fitted = clv.fit_clv(rfm)
        alt = (
            clv.with_purchase_model(rfm, fitted, ALT_PURCHASE)
            if ALT_PURCHASE in (purchase_models or {}).values()
            else None
        )
        churn_fit = alt if alt is not None and purchase_models["churn"] == ALT_PURCHASE else fitted
        if alt is not None and purchase_models["value"] == ALT_PURCHASE:
            fitted = alt
        p0 = _model_p0(rfm, churn_fit, window)
        if rate_calibrator is not None:
            Xk = build_features(known, as_of=cutoff)
            rate = rate_no_purchase(Xk, horizon_days=window).reindex(rfm["customer_id"])
            buyer = (rfm["orders_to_date"] > 0).to_numpy()
            p_rate = np.clip(
                rate_calibrator.predict(rate.to_numpy(float)), PROB_FLOOR, 1 - PROB_FLOOR
            )
            p0 = np.where(buyer & rate.notna().to_numpy(), p_rate, np.nan)
            p0 = np.where(np.isfinite(p0), p0, _model_p0(rfm, churn_fit, window))
        lo, hi = clv.interval_quantiles(
            rfm, fitted, horizon_days=window, levels=clv.CALIBRATION_LEVELS, seed=seed, p0=p0
        )
    except DataError as exc:
        return {
            "skipped": f"the inner fit failed ({exc}); the model's nominal 90% interval is used"
        }
    actual = labels(
        orders, start=cutoff, horizon_days=window, customers=pd.Index(rfm["customer_id"])
    )["revenue"].to_numpy()
    fit = clv.fit_interval_calibration(lo, hi, actual, min_level=MIN_CALIBRATED_LEVEL)
    j = clv.CALIBRATION_LEVELS.index(0.9)
    nominal = float(np.mean((actual >= lo[:, j] - 1e-9) & (actual <= hi[:, j] + 1e-9)))
    return {
        "cutoff": str(cutoff.date()),
        "window_days": int(window),
        "customers": fit["n"],
        "purchase_model": fitted.model,
        "nominal_coverage": nominal,
        "level": fit["level"],
        "scale": fit["scale"],
        "coverage": fit["coverage"],
        "capped": bool(fit.get("capped", False)),
    }


def interval_with_churn(
    out,
    by,
    fit,
    *,
    as_of,
    horizon_days,
    margin,
    discount_rate,
    seed,
    interval,
    interval_scale,
    prob=None,
) -> None:
    """The value interval (clv_low, clv_high of `out`, and of `prob` when given), drawn at the
    calibrated level and scale. Where the churn probability is not the purchase model's (ML, own rate),
    it is consistent with it: "nothing" with that probability, else the purchase and spend
    models' revenue given a purchase (`tools.models.clv_predict.predict_clv`, churn_probability)."""
    # the mixture is drawn for every customer, the purchase model's own churn included: its
    # P(no purchase) is then exact (not a Monte Carlo share of zero draws), so the lower
    # bound is positive exactly where that probability is under (1 - level) / 2
    rfm, fitted = fit
    p0 = (
        out.set_index("customer_id")["churn_probability"]
        .reindex(rfm["customer_id"])
        .to_numpy(float)
    )
    with np.errstate(all="ignore"):
        again, _ = predict_clv(
            rfm,
            fitted,
            horizon_days=horizon_days,
            as_of=as_of,
            margin=margin,
            discount_rate=discount_rate,
            seed=seed,
            interval=interval,
            interval_scale=interval_scale,
            churn_probability=p0,
        )
    again = again.set_index("customer_id")
    for frame in (out,) if prob is None else (out, prob):
        new = again.reindex(frame["customer_id"])
        for col in ("clv_low", "clv_high"):
            v = new[col].to_numpy(float)
            frame[col] = np.where(np.isfinite(v), v, frame[col].to_numpy(float))


def _model_p0(rfm, fitted, window) -> np.ndarray:
    """The purchase model's P(no purchase in `window` days) for every row of `rfm`."""
    scores, _ = predict_clv(rfm, fitted, horizon_days=window, as_of="2000-01-01", n_draws=2)
    return scores["prob_no_purchase"].to_numpy(float)
