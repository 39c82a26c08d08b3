"""Issue 18, part 1: a snapshot's forecast for the weeks of its horizon, and its grading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.insights import forecast as F

# Fader, Hardie & Lee (2005) CDNOW BG/NBD parameters, in days (r, alpha, a, b)
CDNOW = {
    "model": "bgnbd",
    "unit_days": 1,
    "params": {"r": 0.243, "alpha": 30.895, "a": 0.793, "b": 2.426},
}


def _orders():
    return pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B", "B", "C"],
            "order_date": pd.to_datetime(
                ["2026-01-05", "2026-03-01", "2026-05-20", "2026-02-10", "2026-04-01", "2026-05-30"]
            ),
            "amount": [40.0, 35.0, 50.0, 20.0, 25.0, 60.0],
        }
    )


def _scores():
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "expected_orders": [3.0, 1.0, 0.5],
            "predicted_clv": [120.0, 25.0, 30.0],
            "clv_low": [60.0, 5.0, 0.0],
            "clv_high": [200.0, 60.0, 90.0],
            "churn_probability": [0.1, 0.5, 0.8],
            "expected_next_order_date": pd.to_datetime(["2026-07-10", "2026-06-01", "2026-06-15"]),
        }
    )


def test_the_curve_rises_to_the_horizon_and_agrees_with_the_scores():
    fc = F.forecast_table(
        _scores(), _orders(), as_of="2026-05-31", horizon_days=365, purchase=CDNOW
    )
    assert fc.attrs["curve"] == "purchase model"
    days = F.checkpoints(fc)
    assert days == [7, 14, 21, 28, 56, 91]
    orders = fc[[f"orders_{d}d" for d in days]].to_numpy()
    none = fc[[f"p_none_{d}d" for d in days]].to_numpy()
    assert (np.diff(orders, axis=1) > 0).all() and (
        orders[:, -1] < fc["expected_orders"].to_numpy()
    ).all()
    assert (np.diff(none, axis=1) < 0).all() and (
        none[:, -1] > fc["churn_probability"].to_numpy()
    ).all()
    # concave (dropout): the first week carries more than 7/365 of the year's orders
    assert (orders[:, 0] > fc["expected_orders"].to_numpy() * 7 / 365).all()
    assert fc["revenue_7d"].to_numpy() == pytest.approx(orders[:, 0] * [40, 25, 60])


def test_without_a_purchase_model_the_curve_is_a_straight_line():
    fc = F.forecast_table(_scores(), _orders(), as_of="2026-05-31", horizon_days=365, purchase=None)
    assert fc.attrs["curve"] == "straight line"
    assert fc["orders_28d"].to_numpy() == pytest.approx(fc["expected_orders"].to_numpy() * 28 / 365)
    assert fc["p_none_28d"].to_numpy() == pytest.approx(
        fc["churn_probability"].to_numpy() ** (28 / 365)
    )


def test_grading_counts_purchase_occasions_and_net_revenue():
    fc = F.forecast_table(_scores(), _orders(), as_of="2026-05-31", horizon_days=365, purchase=None)
    after = pd.DataFrame(
        {
            "customer_id": ["A", "A", "C", "B", "Z"],  # Z: a new customer, not in the forecast
            "order_date": pd.to_datetime(
                [
                    "2026-06-02 09:00",
                    "2026-06-02 17:00",
                    "2026-06-03 10:00",
                    "2026-06-05 10:00",
                    "2026-06-04 10:00",
                ]
            ),
            "amount": [30.0, 10.0, -60.0, 25.0, 99.0],
        }
    )
    g = F.grade_forecast(
        fc,
        pd.concat([_orders(), after]),
        as_of="2026-05-31",
        through="2026-06-07",
        horizon_days=365,
    )
    assert g["days"] == 7
    assert g["orders_actual"] == 2  # A's two lines on one day are one occasion; C's refund is none
    assert g["revenue_actual"] == pytest.approx(30 + 10 - 60 + 25)
    assert g["orders_forecast"] == pytest.approx(4.5 * 7 / 365)
    assert g["orders_ok"] == (g["orders_low"] <= 2 <= g["orders_high"])
    assert (g["at_risk"], g["at_risk_bought"]) == (1, 0)  # C (0.8) bought nothing, only returned
    assert g["safe"] == 1 and g["safe_lapsed"] == 0  # A is safe and bought


def test_the_band_widens_with_the_backtest_error():
    fc = F.forecast_table(_scores(), _orders(), as_of="2026-05-31", horizon_days=365, purchase=None)
    narrow = F.grade_forecast(
        fc, _orders(), as_of="2026-05-31", through="2026-08-29", horizon_days=365
    )
    wide = F.grade_forecast(
        fc,
        _orders(),
        as_of="2026-05-31",
        through="2026-08-29",
        horizon_days=365,
        backtest_rel_error=0.5,
    )
    assert wide["band_orders"] > narrow["band_orders"] >= F.Z90 / np.sqrt(narrow["orders_forecast"])


def test_calibration_over_matured_windows():
    fc = F.forecast_table(_scores(), _orders(), as_of="2026-05-31", horizon_days=365, purchase=None)
    later = pd.concat(
        [
            _orders(),
            pd.DataFrame(
                {"customer_id": ["A"], "order_date": [pd.Timestamp("2026-06-10")], "amount": [10.0]}
            ),
        ]
    )
    cal = F.calibration([(fc, pd.Timestamp("2026-05-31"))], later, days=28)
    assert cal["windows"] == 1 and cal["customers"] == 3
    (band,) = cal["bands"]  # all three predicted 0.8 or more: one band
    assert band["low"] == 0.8 and band["predicted"] == pytest.approx(fc["p_none_28d"].mean())
    assert band["observed"] == pytest.approx(2 / 3)  # A bought; B and C did not
    assert cal["mean_gap"] == pytest.approx(abs(band["predicted"] - 2 / 3))
    assert F.calibration([], later, days=28) is None
