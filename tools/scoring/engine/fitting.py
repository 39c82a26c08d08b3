"""What the driver fits from the small results an engine sends back (`tools.scoring.engine`).

- the purchase and spend models (`tools.models.clv.fit_clv`) from the compressed sufficient
  statistics: the unique (frequency, recency, T) rows with their weights and the unique
  (frequency, monetary_value) rows of repeat customers. `fit_clv` takes one row per customer;
  `clv_from_statistics` rebuilds a table with the same multisets of (x, t_x, T) and of
  (x, m) rows (which is all the fit reads), so the estimates are the embedded engine's;
- the ML model, the interval calibration and the model choice, on a sample of customers'
  orders (the embedded engine's own code, `tools.scoring`, run on the sample: identical when the
  sample is every customer, as it is up to SAMPLE_CUSTOMERS);
- the RFM quintile thresholds from value histograms (`QuintileThresholds`: the same scores
  as `tools.insights.segments.quintile_scores` on the whole population);
- the behavioural clusters (`tools.insights.segments.fit_clusters`) on the customers the
  embedded engine fits them on (up to `tools.insights.segments.CLUSTER_FIT_ROWS`, drawn by id);
  every customer then goes to the nearest cluster centre.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tools.models import clv
from tools.models.churn import MAX_TRAIN_ROWS, MLModel, NotEnoughHistory
from tools.models.clv_params import ClvParams

if TYPE_CHECKING:
    import lightgbm as lgb

log = logging.getLogger(__name__)

SAMPLE_CUSTOMERS = int(MAX_TRAIN_ROWS / 0.8)  # what tools.scoring.score trains on, at most


def clv_from_statistics(
    purchase: pd.DataFrame, spend: pd.DataFrame, *, positive_revenue: float, model: str = "auto"
) -> ClvParams:
    """`tools.models.clv.fit_clv` on compressed statistics (`rfm_from_statistics`)."""
    return clv.fit_clv(
        rfm_from_statistics(purchase, spend, positive_revenue=positive_revenue), model=model
    )


def rfm_from_statistics(
    purchase: pd.DataFrame, spend: pd.DataFrame, *, positive_revenue: float
) -> pd.DataFrame:
    """A table `tools.models.clv.fit_clv` fits exactly as it fits the customers' own, from compressed
    statistics.

    purchase: frequency, recency, T, weight (customers with a purchase occasion); spend:
    frequency, monetary_value, weight (repeat customers with monetary_value > 0);
    positive_revenue: the sum over customers of max(revenue_to_date, 0) (the store-average
    fallback of the spend model). The rows are expanded by their weights on the driver
    (a hook `fit_clv(..., weights=)` in tools.models.clv would avoid it: 8 bytes a customer a column).
    """
    p = purchase.sort_values(["frequency", "recency", "T"], kind="stable")
    w = p["weight"].to_numpy(np.int64)
    x = np.repeat(p["frequency"].to_numpy(np.int64), w)
    rfm = pd.DataFrame(
        {
            "customer_id": np.arange(len(x)),
            "frequency": x,
            "recency": np.repeat(p["recency"].to_numpy(float), w),
            "T": np.repeat(p["T"].to_numpy(float), w),
        }
    )
    m = np.zeros(len(x))
    s = spend.sort_values(["frequency", "monetary_value"], kind="stable")
    sx = np.repeat(s["frequency"].to_numpy(np.int64), s["weight"].to_numpy(np.int64))
    sm = np.repeat(s["monetary_value"].to_numpy(float), s["weight"].to_numpy(np.int64))
    # the repeat customers with frequency f take the spend rows of frequency f, in order
    # (there are at least as many: every spend row is a customer with a purchase)
    start = np.searchsorted(x, sx, side="left")
    rank = np.arange(len(sx)) - np.searchsorted(sx, sx, side="left")
    m[start + rank] = sm
    rfm["monetary_value"] = m
    rfm["orders_to_date"] = x + 1
    revenue = np.zeros(len(x))
    if len(x):
        revenue[0] = positive_revenue  # fit_clv reads only the sum of max(revenue, 0)
    rfm["revenue_to_date"] = revenue
    return rfm


@dataclass(frozen=True)
class QuintileThresholds:
    """`tools.insights.segments.quintile_scores` of a population, from its value histogram: a
    value's score is 1 + the number of thresholds it reaches (threshold k: the smallest value
    with at least k (n - 1) / 5 customers strictly worse). `constant`: everyone scores 3."""

    thresholds: tuple[float, ...]
    higher_is_better: bool = True
    constant: bool = False

    @classmethod
    def of(cls, values, counts, *, higher_is_better: bool = True) -> QuintileThresholds:
        v = np.asarray(values, float) * (1 if higher_is_better else -1)
        c = np.asarray(counts, np.int64)
        order = np.argsort(v, kind="stable")
        v, c = v[order], c[order]
        n = int(c.sum())
        if n == 0 or v[0] == v[-1]:
            return cls((), higher_is_better, constant=True)
        below = np.concatenate([[0], np.cumsum(c)[:-1]])  # customers strictly worse
        out = []
        for k in range(1, 5):
            j = np.flatnonzero(5 * below >= k * (n - 1))
            out.append(float(v[j[0]]) if len(j) else float("inf"))
        return cls(tuple(out), higher_is_better)

    def scores(self, values) -> np.ndarray:
        v = np.asarray(values, float) * (1 if self.higher_is_better else -1)
        if self.constant:
            return np.full(len(v), 3, np.int64)
        return 1 + (v[:, None] >= np.asarray(self.thresholds)[None, :]).sum(axis=1)


@dataclass
class SampleFit:
    """What the embedded engine fits on the order history besides the purchase model:
    the model choice per target (`rolling`: the rolling-origin backtests, with the own-rate
    churn calibrator when chosen), the ML model (None: not used), the churn-driver model,
    the interval calibration, and the notes for the merchant."""

    calibration: dict
    ml: MLModel | None
    choice: dict
    ml_info: dict
    notes: list[str]
    rolling: dict = field(default_factory=dict)
    drivers: lgb.Booster | None = None  # a LightGBM booster explaining churn without the ML model


def fit_on_sample(
    orders: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    horizon_days: int,
    model: str,
    seed: int,
    events=None,
    tickets=None,
    products=None,
) -> SampleFit:
    """The embedded engine's model choice, ML training, churn-driver model and interval
    calibration (`tools.scoring.score._score`, in its order), on the orders of a sample of
    customers.

    This calls the steps' helpers of tools.scoring (`tools.scoring.steps.ScoringRun` fits and
    applies in one go); a split there (fit on a history, apply to a table of customers) would
    replace this function and `tools.scoring.engine.apply.score_rows`."""
    from tools.scoring.choice import ALT_PURCHASE, rolling_choice
    from tools.scoring.interval import interval_calibration
    from tools.scoring.notes import history_warnings, interval_skipped
    from tools.scoring.splits import Population
    from tools.scoring.training import train_churn_drivers, train_inner

    pop = Population.of(orders, events, tickets)
    o = pop.orders
    ctx = dict(events=pop.events, tickets=pop.tickets, products=products, pop=pop)
    notes = history_warnings(o, as_of=as_of, horizon_days=horizon_days)
    choice = {"value": "bgnbd", "churn": "bgnbd"}
    ml_info: dict = {"used": False}
    ml = None
    rolling: dict = {}
    if model == "auto":
        try:
            rolling = rolling_choice(o, as_of=as_of, horizon_days=horizon_days, seed=seed, **ctx)
        except Exception as exc:  # as tools.scoring.score: BG/NBD stands
            log.warning("the rolling-origin model choice failed", exc_info=True)
            rolling = {"choice": dict(choice), "failed": f"{type(exc).__name__}: {exc}"}
    wants_ml = model == "ml" or any(
        v in ("ml", "blend") for v in rolling.get("choice", {}).values()
    )
    if model == "auto" and not wants_ml:
        ml_info = {
            "used": False,
            "reason": "not chosen by the rolling-origin backtests"
            + (f" ({rolling['failed']})" if "failed" in rolling else ""),
        }
    if wants_ml:
        try:
            ml, inner = train_inner(o, as_of=as_of, horizon_days=horizon_days, seed=seed, **ctx)
            ml_info = {"used": True, **ml.info, "inner_backtest": inner}
            choice = (
                {"value": "ml", "churn": "ml"}
                if model == "ml"
                else {k: rolling["choice"][k] for k in choice}
            )
        except NotEnoughHistory as exc:
            ml_info = {"used": False, "reason": str(exc)}
        except Exception as exc:  # as tools.scoring.score: the purchase model's scores stand
            log.warning("the ML model failed; scoring with the purchase model", exc_info=True)
            ml_info = {"used": False, "reason": f"it failed: {type(exc).__name__}: {exc}"}
    if model == "auto" and rolling.get("choice", {}).get("churn") == "rate":
        choice["churn"] = "rate"
    if model == "auto":  # the other purchase model, where chosen (fitted by the caller)
        choice.update({k: v for k, v in rolling.get("choice", {}).items() if v == ALT_PURCHASE})
    if ml is None and model in ("auto", "ml"):
        ml_info["fallback"] = "bgnbd: " + ml_info["reason"]
    calib = interval_calibration(
        o,
        as_of=as_of,
        horizon_days=horizon_days,
        seed=seed,
        rate_calibrator=rolling.get("rate_calibrator") if choice["churn"] == "rate" else None,
        purchase_models=choice,
    )
    notes += interval_skipped(calib)
    drivers = None
    if ml is None and model in ("auto", "ml"):
        try:
            drivers, ml_info["drivers"] = train_churn_drivers(o, as_of=as_of, seed=seed, **ctx)
        except Exception as exc:  # the rules explain instead
            log.warning("the churn-driver model failed", exc_info=True)
            ml_info["drivers"] = {"failed": f"{type(exc).__name__}: {exc}"}
    return SampleFit(calib, ml, choice, ml_info, notes, rolling, drivers)
