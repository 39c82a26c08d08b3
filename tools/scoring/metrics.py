"""Backtest metrics: how a model's predictions for a holdout window compare with what
actually happened. Each takes aligned arrays (one entry per customer)."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score


def total_orders_error(pred_orders, actual_orders) -> float:
    """(predicted total - actual total) / actual total, in percent."""
    actual = float(np.sum(actual_orders))
    return float((np.sum(pred_orders) - actual) / actual * 100.0) if actual else float("nan")


def mae(pred, actual) -> float:
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(actual, float))))


def spearman(pred, actual) -> float:
    if np.std(pred) == 0 or np.std(actual) == 0:
        return 0.0
    return float(spearmanr(pred, actual).statistic)


def top_decile_capture(pred, actual_revenue) -> float:
    """Share of actual revenue earned by the 10% of customers predicted most valuable."""
    actual = np.asarray(actual_revenue, float)
    total = actual.clip(min=0).sum()
    if total <= 0:
        return float("nan")
    n = max(1, int(round(len(actual) * 0.10)))
    order = np.lexsort((np.arange(len(actual)), -np.asarray(pred, float)))[:n]
    return float(actual[order].clip(min=0).sum() / total)


def auc(prob_no_purchase, no_purchase) -> float:
    y = np.asarray(no_purchase, int)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(prob_no_purchase, float)))


def coverage(low, high, actual) -> float:
    """Share of customers whose actual value fell inside [low, high]."""
    a = np.asarray(actual, float)
    return float(np.mean((a >= np.asarray(low) - 1e-9) & (a <= np.asarray(high) + 1e-9)))


def median_relative_width(low, high, pred) -> float:
    """Median over customers with a positive prediction of (high - low) / prediction: how wide
    the interval is, in units of the point estimate."""
    pred = np.asarray(pred, float)
    ok = pred > 0
    if not ok.any():
        return float("nan")
    width = np.asarray(high, float)[ok] - np.asarray(low, float)[ok]
    return float(np.median(width / pred[ok]))


def all_metrics(
    pred_orders, pred_clv, churn_prob, clv_low, clv_high, actual_orders, actual_revenue
) -> dict:
    actual_orders = np.asarray(actual_orders, float)
    return {
        "total_orders_pred": float(np.sum(pred_orders)),
        "total_orders_actual": float(actual_orders.sum()),
        "total_orders_error_pct": total_orders_error(pred_orders, actual_orders),
        "mae_orders": mae(pred_orders, actual_orders),
        "spearman_clv": spearman(pred_clv, actual_revenue),
        "top10_revenue_share": top_decile_capture(pred_clv, actual_revenue),
        "auc_no_purchase": auc(churn_prob, actual_orders == 0),
        "coverage_90": (
            coverage(clv_low, clv_high, actual_revenue) if clv_low is not None else float("nan")
        ),
        "median_rel_width_90": (
            median_relative_width(clv_low, clv_high, pred_clv)
            if clv_low is not None
            else float("nan")
        ),
    }
