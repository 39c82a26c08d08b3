"""The ML model and the churn-driver model of a scoring run, trained on inner time splits.

`train_inner` trains the ML model (`tools.models.churn.train_ml`) at as-of minus the horizon
and compares it with the purchase model on customers the trees were not grown on;
`train_churn_drivers` stacks quarterly splits for the model that explains churn. Both take the
store as `tools.scoring.splits.Population` codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tools.models.churn import (
    DRIVER_HORIZON_DAYS,
    DRIVER_SPLITS,
    MAX_TRAIN_ROWS,
    NotEnoughHistory,
    train_drivers,
    train_ml,
)
from tools.scoring.metrics import auc, mae, spearman, top_decile_capture
from tools.scoring.splits import JUDGED_PREDICTIONS, SCORED_PREDICTIONS, training_set

MIN_HELD_OUT = 5_000  # unseen customers needed to judge the models on them alone


def _train_cutoffs(as_of: pd.Timestamp, horizon_days: int) -> list[pd.Timestamp]:
    """Where the training window starts: the latest window that ends at as-of; if too few
    customers are known by then, the same season a year earlier. (Training on last year's
    season first was tried on the demo store: its younger population overpredicted more.)"""
    latest = as_of - pd.Timedelta(days=horizon_days)
    same_season = as_of - pd.Timedelta(days=365)
    return [latest, same_season] if horizon_days < 365 else [latest]


def train_inner(orders, *, as_of, horizon_days, seed, events, tickets, products, pop):
    """Train at cutoff = as_of - horizon on a sample of customers known then; compare with
    the probabilistic model on sampled customers the trees were not grown on, over
    (cutoff, as_of]."""
    n = int(MAX_TRAIN_ROWS / 0.8)
    Xc, errors = None, []
    for cutoff in _train_cutoffs(as_of, horizon_days):
        try:
            Xc, y, prob_c = training_set(
                orders,
                events,
                tickets,
                products,
                pop=pop,
                cutoff=cutoff,
                horizon_days=horizon_days,
                n=n,
                seed=seed,
            )
            break
        except NotEnoughHistory as exc:
            errors.append(exc)
    if Xc is None:
        raise errors[0]  # the latest cutoff's (as-of - horizon): the one a merchant can move
    ml = train_ml(Xc, y, horizon_days=horizon_days, seed=seed, targets=SCORED_PREDICTIONS)
    # judged on customers the fit never saw: beyond the training and calibration rows (the
    # same permutation as train_ml's) when there are enough of them, else the calibration
    # rows (used for early stopping and calibration, not to grow the trees)
    perm = np.random.default_rng(seed).permutation(len(Xc))
    held, judged_on = perm[MAX_TRAIN_ROWS:], "customers not used by the ML model"
    if len(held) < MIN_HELD_OUT:
        held, judged_on = (
            perm[int(min(len(Xc), MAX_TRAIN_ROWS) * 0.8) :],
            "the ML model's calibration customers",
        )
    held = held[:50_000]
    Xh, yh = Xc.iloc[held], y.iloc[held]
    pred = ml.predict(Xh, targets=JUDGED_PREDICTIONS)
    bg_clv = prob_c.set_index("customer_id").loc[Xh.index, "predicted_clv"].to_numpy()
    value = {"ml": pred["expected_revenue"].to_numpy(), "bgnbd": bg_clv}
    value["blend"] = 0.5 * value["ml"] + 0.5 * value["bgnbd"]
    res: dict[str, Any] = {
        "cutoff": str(cutoff.date()),
        "held_out_customers": len(held),
        "held_out": judged_on,
        "value": {},
    }
    for name, v in value.items():
        res["value"][name] = {
            "mae_revenue": mae(v, yh["revenue"]),
            "spearman": spearman(v, yh["revenue"]),
            "top10_share": top_decile_capture(v, yh["revenue"]),
        }
    res["churn"] = {
        "ml": auc(pred["churn_probability"], yh["no_purchase"]),
        "bgnbd": auc(Xh["bgnbd_p_no_purchase"], yh["no_purchase"]),
    }
    table = pd.DataFrame(res["value"]).T
    ranks = pd.concat(
        [table["mae_revenue"].rank(), (-table["spearman"]).rank(), (-table["top10_share"]).rank()],
        axis=1,
    ).mean(axis=1)
    ml_auc, bg_auc = res["churn"]["ml"], res["churn"]["bgnbd"]
    # a model that cannot be judged (one class among the held-out customers) is not chosen
    ml_wins = np.isfinite(ml_auc) and not ml_auc < bg_auc
    res["choice"] = {
        "value": str(ranks.idxmin()) if ranks.notna().any() else "bgnbd",
        "churn": "ml" if ml_wins else "bgnbd",
    }
    ml.drivers, res["drivers"] = train_churn_drivers(
        orders, as_of=as_of, seed=seed, events=events, tickets=tickets, products=products, pop=pop
    )
    return ml, res


def train_churn_drivers(orders, *, as_of, seed, events, tickets, products, pop):
    """Stack DRIVER_SPLITS quarterly splits (features at as_of - 90k, labels in the next 90
    days) so the driver model sees causes that preceded a lapse."""
    Xs, ys, used = [], [], []
    for k in range(1, DRIVER_SPLITS + 1):
        cutoff = as_of - pd.Timedelta(days=DRIVER_HORIZON_DAYS * k)
        try:
            Xc, y, _ = training_set(
                orders,
                events,
                tickets,
                products,
                pop=pop,
                cutoff=cutoff,
                horizon_days=DRIVER_HORIZON_DAYS,
                n=25_000,
                seed=seed + k,
            )
        except NotEnoughHistory:
            break
        Xs.append(Xc)
        ys.append(y["no_purchase"])
        used.append(str(cutoff.date()))
    if not Xs:
        return None, {"splits": []}
    X = pd.concat(Xs, ignore_index=True)
    y = pd.concat(ys, ignore_index=True)
    if y.nunique() < 2:
        return None, {"splits": used}
    return train_drivers(X, y, seed=seed), {"splits": used, "rows": len(X)}
