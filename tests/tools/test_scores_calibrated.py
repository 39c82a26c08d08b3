"""Issue 14: scores that hold on real stores. Formulas against independent computations,
calibration against simulated truth, and the scoring pipeline on a small real store
(`../shared/data/shopify/`): P(alive) at recency = T, the conformal interval calibration,
the mixture interval behind a churn model's probability, Platt vs isotonic calibration,
customers of returns only, and the rolling-origin model choice recorded in params."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from tests.builders import SHARED_DATA
from tools.models import clv as C
from tools.models import clv_formulas as F
from tools.models.churn import ISOTONIC_MIN_CUSTOMERS, Calibrator

# Pareto/NBD on CDNOW (Fader, Hardie & Lee 2005a, table 1), alpha and beta in days
PARETO = (0.553, 10.578 * 7, 0.606, 11.669 * 7)
SHOPIFY = SHARED_DATA / "shopify"


def test_pareto_p_alive_is_one_at_recency_equal_T_and_finite_everywhere():
    x = np.array([0.0, 1.0, 4.0, 10.0, 0.0])
    tx = np.array([0.0, 100.0, 272.0, 272.0, 0.0])
    T = np.array([0.0, 100.0, 272.0, 272.0, 30.0])
    for p in (PARETO, (0.5, 1e-3, 0.6, 80.0), (0.5, 80.0, 0.6, 1e-3)):
        pa = F.p_alive("paretonbd", p, x, tx, T)
        assert np.isfinite(pa).all() and (pa[:4] == 1.0).all() and 0 < pa[4] < 1
        e = F.expected_purchases("paretonbd", p, 90.0, x, tx, T)
        p0 = F.prob_no_purchase("paretonbd", p, 90.0, x, tx, T)
        assert np.isfinite(e).all() and np.isfinite(p0).all()


def test_pareto_tail_integral_matches_quadrature():
    r, alpha, s, beta = PARETO
    x, tx, T = np.array([2.0, 7.0]), np.array([100.0, 250.0]), np.array([272.0, 251.0])
    got = F._pareto_log_tail(r, alpha, s, beta, x, tx, T)
    for i in range(2):
        want, _ = quad(
            lambda y: (alpha + y) ** -(r + x[i]) * (beta + y) ** -(s + 1),  # noqa: B023 (used at once)
            tx[i],
            T[i],
            epsabs=0,
            epsrel=1e-12,
        )
        assert got[i] == pytest.approx(np.log(want), rel=1e-9)


def test_mixture_interval_lower_bound_positive_where_no_purchase_is_unlikely():
    rfm = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "frequency": [5, 5, 0, 20],
            "recency": [200.0, 200.0, 0.0, 270.0],
            "T": [210.0, 210.0, 100.0, 272.0],
            "monetary_value": [30.0, 30.0, 0.0, 50.0],
        }
    )
    params = C.fit_clv(C.rfm_summary(_toy_orders(), as_of="2024-12-31"))
    p0 = np.array([0.01, 0.5, 0.2, 1e-7])
    s, _ = C.predict_clv(rfm, params, horizon_days=180, as_of="2024-12-31", churn_probability=p0)
    low = s["clv_low"].to_numpy()
    assert low[0] > 0 and low[3] > 0  # P(nothing) < 5%: the 5% quantile is a purchase
    assert low[1] == 0 and low[2] == 0
    assert (s["clv_high"] >= s["predicted_clv"]).all()


def _toy_orders(n=400, seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        k = int(rng.integers(1, 8))
        days = np.sort(rng.integers(0, 700, k))
        rows += [
            (
                f"c{c}",
                f"o{c}-{j}",
                pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(d)),
                float(rng.gamma(4, 10)),
            )
            for j, d in enumerate(days)
        ]
    return pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])


def test_interval_calibration_widens_narrow_and_narrows_wide_intervals():
    rng = np.random.default_rng(0)
    y = rng.lognormal(3, 1, 4000)
    levels = np.array(C.CALIBRATION_LEVELS)
    z = {0.5: 0.674, 0.6: 0.842, 0.7: 1.036, 0.75: 1.150, 0.8: 1.282, 0.85: 1.440, 0.9: 1.645}
    # intervals of a model whose spread is half the truth's: too narrow
    narrow_lo = np.exp(3 - 0.5 * np.array([z[v] for v in levels]))[None, :].repeat(len(y), 0)
    narrow_hi = np.exp(3 + 0.5 * np.array([z[v] for v in levels]))[None, :].repeat(len(y), 0)
    fit = C.fit_interval_calibration(narrow_lo, narrow_hi, y)
    assert fit["level"] == 0.9 and fit["scale"] > 1 and fit["coverage"] >= 0.9
    # twice the truth's spread: too wide, a lower level suffices
    wide_lo = np.exp(3 - 2 * np.array([z[v] for v in levels]))[None, :].repeat(len(y), 0)
    wide_hi = np.exp(3 + 2 * np.array([z[v] for v in levels]))[None, :].repeat(len(y), 0)
    fit = C.fit_interval_calibration(wide_lo, wide_hi, y)
    assert fit["level"] < 0.9 and fit["scale"] == 1.0 and fit["coverage"] >= 0.9


def test_platt_calibration_keeps_resolution_on_a_small_store():
    rng = np.random.default_rng(1)
    raw = rng.uniform(0.05, 0.95, 300)
    y = (rng.uniform(size=300) < raw**2).astype(int)
    cal = Calibrator.fit(raw, y)
    assert cal.method == "sigmoid"
    p = cal.predict(raw)
    assert len(np.unique(np.round(p, 12))) == len(np.unique(raw))  # no ties made
    assert np.all(np.diff(p[np.argsort(raw)]) >= 0)  # the ranking is kept
    assert abs(p.mean() - y.mean()) < 0.03
    raw_big = rng.uniform(0.05, 0.95, ISOTONIC_MIN_CUSTOMERS)
    y_big = (rng.uniform(size=len(raw_big)) < raw_big).astype(int)
    assert Calibrator.fit(raw_big, y_big).method == "isotonic"


def test_returns_only_customer_counts_exposure_from_the_start_of_the_data():
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "order_id": ["1", "2", "3"],
            "order_date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-06-01"]),
            "amount": [10.0, 20.0, -15.0],
        }
    )
    rfm = C.rfm_summary(orders, as_of="2024-06-30").set_index("customer_id")
    assert rfm.loc["b", "orders_to_date"] == 0 and rfm.loc["b", "frequency"] == 0
    assert rfm.loc["b", "T"] == (pd.Timestamp("2024-06-30") - pd.Timestamp("2024-01-01")).days
    assert rfm.loc["b", "first_order"] == pd.Timestamp("2024-06-01")


@pytest.mark.skipif(not (SHOPIFY / "apparel_usd").exists(), reason="shared data not here")
def test_small_real_store_records_its_model_choice_and_interval_calibration():
    from tools.ingest.load import load_store
    from tools.scoring.score import score_store

    orders = load_store(SHOPIFY / "apparel_usd").orders
    res = score_store(orders, as_of=orders["order_date"].max(), horizon_days=180)
    s, p = res.scores, res.params
    assert not s.isna().any().any()
    sel = p["model_selection"]
    assert sel["method"] == "rolling origin" and "cutoffs" in sel
    if "too_short" in sel:  # BG/NBD, with a warning
        assert p["model_choice"] == {"value": "bgnbd", "churn": "bgnbd"}
        assert any(w.startswith("Model choice:") for w in p["warnings"])
    assert "interval_calibration" in p and "interval_calibration" not in p["probabilistic"]
    assert s["interval_calibrated"].nunique() == 1
    assert {"fallback", "interval_calibrated"} <= set(s.columns)
    json.dumps(p)  # params stay JSON


def test_margin_from_unit_costs_with_a_flat_fallback():
    from tools.scoring.combine import customer_margins as _customer_margins

    orders = pd.DataFrame(
        {
            "customer_id": [0, 0, 1, 2],
            "order_id": ["1", "2", "3", "4"],
            "order_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-03-02"]),
            "amount": [100.0, 50.0, 40.0, 30.0],
            "quantity": [2, 1, 1, 3],
            "product_id": ["p", "q", "r", "p"],
        }
    )
    products = pd.DataFrame({"product_id": ["p", "q", "r"], "unit_cost": [20.0, 10.0, np.nan]})
    share, source, info = _customer_margins(
        orders, products, as_of="2024-12-31", margin=0.3, customers=np.array([0, 1, 2])
    )
    # customer 0: cost 2*20 + 10 = 50 of 150; 2: 3*20 = 60 of 30 -> clipped to 0; 1: no cost
    np.testing.assert_allclose(share[[0, 2]], [1 - 50 / 150, 0.0])
    store = 1 - (40 + 10 + 60) / (100 + 50 + 30)
    assert share[1] == pytest.approx(store) and list(source) == [
        "unit_cost",
        "store_unit_cost",
        "unit_cost",
    ]
    assert info["source"] == "unit_cost"
    flat, src, info = _customer_margins(
        orders, None, as_of="2024-12-31", margin=0.3, customers=np.array([0, 1, 2])
    )
    assert (
        (flat == 0.3).all() and set(src) == {"flat"} and info == {"source": "flat", "margin": 0.3}
    )
