"""`retention backtest`: the project's model against two baselines on a holdout window.

Calibration = everything up to `as_of`; holdout = (as_of, as_of + horizon]. Every model
sees only the calibration data and predicts, per customer known at `as_of`, purchase
occasions, revenue (CLV with margin 1, no discounting), the probability of no purchase and,
where it has one, a 90% interval for revenue. Baselines:

- `lifetimes`: vanilla BG/NBD + Gamma-Gamma from the lifetimes package, as a practitioner
  would run it (no penalizer, or where that fit does not converge lifetimes' own advice, a
  penalizer: `PEER_PENALIZERS`; no interval), churn read as its P(no purchase in the horizon)
  from the fitted parameters (`tools.models.clv_formulas.prob_no_purchase`: 1 - P(alive) alone calls every
  one-time buyer alive and ranks churn worse than chance). A non-finite prediction counts as 0
  and is reported.
- `naive`: each customer keeps their historical rate of purchase occasions per day of
  tenure; churn = P(0 purchases) under a Poisson with that rate; interval from Poisson
  quantiles times the customer's average order value.
- `pymc_marketing` (a second peer, when the optional extra is installed:
  `pip install '.[peers]'`): PyMC-Marketing's BetaGeoModel and GammaGammaModel fitted by MAP
  on the same RFM table, churn read as its P(no purchase in the horizon). Without it the
  table says how to install it (`table.attrs["peers"]`).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
from scipy.stats import poisson

from tools.models.clv_formulas import prob_no_purchase
from tools.models.features import labels, occasions
from tools.models.rfm import rfm_summary
from tools.scoring.metrics import all_metrics
from tools.scoring.score import score_store

METRIC_LABELS = {
    "total_orders_pred": "predicted total orders",
    "total_orders_actual": "actual total orders",
    "total_orders_error_pct": "total orders error (%)",
    "mae_orders": "MAE of orders per customer",
    "spearman_clv": "Spearman, CLV vs revenue",
    "top10_revenue_share": "revenue share of top 10% predicted",
    "auc_no_purchase": "AUC, no purchase in horizon",
    "coverage_90": "90% interval coverage",
    "median_rel_width_90": "90% interval median width / prediction",
}
# for "at least as good": +1 higher is better, -1 lower is better, 0 closeness to target
METRIC_DIRECTION = {
    "total_orders_error_pct": 0,
    "mae_orders": -1,
    "spearman_clv": 1,
    "top10_revenue_share": 1,
    "auc_no_purchase": 1,
    "coverage_90": 0.9,
}


def run_backtest(
    orders: pd.DataFrame,
    *,
    as_of,
    horizon_days: int,
    events=None,
    tickets=None,
    products=None,
    model: str = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """A table: one row per metric, one column per model (project, lifetimes, naive)."""
    as_of = pd.Timestamp(as_of).normalize()
    cal = orders.loc[orders["order_date"] < as_of + pd.Timedelta(days=1)]
    ctx = {k: _upto(v, as_of) for k, v in dict(events=events, tickets=tickets).items()}
    result = score_store(
        cal,
        as_of=as_of,
        horizon_days=horizon_days,
        model=model,
        products=products,
        seed=seed,
        **ctx,
    )
    s = result.scores.set_index("customer_id")
    actual = labels(orders, start=as_of, horizon_days=horizon_days, customers=s.index)
    cols = {
        "project": all_metrics(
            s["expected_orders"],
            s["predicted_clv"],
            s["churn_probability"],
            s["clv_low"],
            s["clv_high"],
            actual["orders"],
            actual["revenue"],
        )
    }
    van = vanilla_lifetimes(cal, as_of=as_of, horizon_days=horizon_days).reindex(s.index)
    cols["lifetimes"] = all_metrics(
        van["expected_orders"],
        van["predicted_clv"],
        van["churn_probability"],
        None,
        None,
        actual["orders"],
        actual["revenue"],
    )
    nai = naive_rate(cal, as_of=as_of, horizon_days=horizon_days).reindex(s.index)
    cols["naive"] = all_metrics(
        nai["expected_orders"],
        nai["predicted_clv"],
        nai["churn_probability"],
        nai["clv_low"],
        nai["clv_high"],
        actual["orders"],
        actual["revenue"],
    )
    peer = pymc_marketing_peer(cal, as_of=as_of, horizon_days=horizon_days)
    if isinstance(peer, pd.DataFrame):
        peer = peer.reindex(s.index)
        cols["pymc_marketing"] = all_metrics(
            peer["expected_orders"],
            peer["predicted_clv"],
            peer["churn_probability"],
            None,
            None,
            actual["orders"],
            actual["revenue"],
        )
    table = pd.DataFrame(cols)
    table.attrs["peers"] = {"pymc_marketing": "used" if isinstance(peer, pd.DataFrame) else peer}
    table.attrs["tracking"] = tracking_data(
        orders, as_of=as_of, horizon_days=horizon_days, fitted=result.params["probabilistic"]
    )
    table.attrs["conditional"] = conditional_expectation_data(s, actual)
    table.attrs["customers"] = len(s)
    table.attrs["model_choice"] = result.params.get("model_choice")
    table.attrs["vanilla_nonfinite"] = int(van.attrs.get("nonfinite", 0))
    table.attrs["vanilla_penalizer"] = van.attrs.get("penalizer")
    # what a merchant reading the scores would trip over: NaN, a zero lower bound for a
    # customer almost sure to buy, a churn probability shared by most customers (ties)
    sure = s["churn_probability"] < 0.05
    table.attrs["score_checks"] = {
        "nan_cells": int(s.isna().sum().sum()),
        "sure_buyers": int(sure.sum()),
        "sure_buyers_with_zero_low": int((sure & (s["clv_low"] <= 0)).sum()),
        "churn_most_common_share": float(
            s["churn_probability"].round(12).value_counts(normalize=True).iloc[0]
        )
        if len(s)
        else float("nan"),
        "model_counts": s["model"].value_counts().to_dict(),
    }
    return table


def _upto(df, as_of):
    if df is None:
        return None
    col = "timestamp" if "timestamp" in df else "opened_at"
    return df.loc[df[col] < as_of + pd.Timedelta(days=1)]


def _summary(cal: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The baselines' inputs for every customer seen by as_of (the project's population,
    `tools.models.rfm.rfm_summary`): frequency, recency, T, monetary_value (mean repeat occasion),
    n (purchase occasions) and aov (mean occasion value). A customer whose lines are all
    refunds has n 0, frequency 0, T from their first line (the baselines' own convention; the
    project's model counts it from the first day of the data) and aov 0."""
    rfm = rfm_summary(cal, as_of=as_of).set_index("customer_id")
    refunds_only = (rfm["orders_to_date"] == 0).to_numpy()
    if refunds_only.any():
        first = rfm["first_order"].to_numpy().astype("datetime64[D]")
        since = (np.datetime64(pd.Timestamp(as_of).date(), "D") - first).astype(float)
        rfm["T"] = np.where(refunds_only, since, rfm["T"].to_numpy())
    occ = occasions(cal, as_of=as_of)
    aov = occ.groupby("customer_id")["value"].mean().reindex(rfm.index).fillna(0.0)
    return pd.DataFrame(
        {
            "frequency": rfm["frequency"],
            "recency": rfm["recency"],
            "T": rfm["T"],
            "monetary_value": rfm["monetary_value"],
            "n": rfm["orders_to_date"],
            "aov": aov,
        }
    )


PEER_PENALIZERS = (0.0, 0.001, 0.01, 0.1)
"""The penalizers vanilla lifetimes is fitted with, in turn: none, as a practitioner runs it,
then, where lifetimes says the fit "did not converge. Try adding a larger penalizer", its own
advice (on Online Retail up to 2011-06-30 the unpenalised BG/NBD runs to a = 0 and fails). A
baseline with no number at all would flatter the project."""


def _fitted(make, fit):
    """The first model `make(penalizer)` that `fit` fits, trying PEER_PENALIZERS in turn, with
    the penalizer used; (None, None) when none converges."""
    for pen in PEER_PENALIZERS:
        model = make(pen)
        try:
            fit(model)
        except Exception:  # lifetimes' ConvergenceError, or a linear-algebra failure
            continue
        return model, pen
    return None, None


def vanilla_lifetimes(cal: pd.DataFrame, *, as_of, horizon_days: int) -> pd.DataFrame:
    """Vanilla lifetimes' BG/NBD + Gamma-Gamma on the calibration data: expected orders, CLV
    (margin 1) and P(no purchase) per customer; `attrs`: `nonfinite` (predictions that were not
    numbers, counted as 0) and `penalizer` (of each fit: PEER_PENALIZERS)."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    summ = _summary(cal, pd.Timestamp(as_of))
    out = pd.DataFrame(index=summ.index)
    exp = p0 = pd.Series(np.nan, index=summ.index)
    rep = summ[(summ["frequency"] > 0) & (summ["monetary_value"] > 0)]
    # lifetimes prints the optimiser's result when a fit fails: not for the merchant's terminal
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        bg, bg_pen = _fitted(
            lambda pen: BetaGeoFitter(penalizer_coef=pen),
            lambda m: m.fit(summ["frequency"], summ["recency"], summ["T"]),
        )
        # a failed textbook fit or prediction is a result of the baseline, not an error
        if bg is not None:
            with contextlib.suppress(Exception):
                exp, p0 = _bgnbd_predictions(bg, summ, horizon_days)
        gg, gg_pen = _fitted(
            lambda pen: GammaGammaFitter(penalizer_coef=pen),
            lambda m: m.fit(rep["frequency"], rep["monetary_value"]),
        )
        value = summ["aov"]
        if gg is not None:
            with contextlib.suppress(Exception):
                value = gg.conditional_expected_average_profit(
                    summ["frequency"], summ["monetary_value"]
                )
    exp, p0, value = (np.asarray(v, float) for v in (exp, p0, value))
    nonfinite = int((~np.isfinite(exp) | ~np.isfinite(p0) | ~np.isfinite(value)).sum())
    out["expected_orders"] = np.nan_to_num(exp, nan=0.0, posinf=0.0)
    out["predicted_clv"] = out["expected_orders"] * np.nan_to_num(value, nan=0.0, posinf=0.0)
    out["churn_probability"] = np.nan_to_num(p0, nan=1.0)
    out.attrs["nonfinite"] = nonfinite
    out.attrs["penalizer"] = {"bgnbd": bg_pen, "gamma_gamma": gg_pen}
    return out


def _bgnbd_predictions(bg, summ: pd.DataFrame, horizon_days: int) -> tuple[pd.Series, pd.Series]:
    """A fitted lifetimes BG/NBD's expected orders in the horizon and its P(no purchase) there
    (from its parameters: not 1 - P(alive))."""
    exp = bg.conditional_expected_number_of_purchases_up_to_time(
        horizon_days, summ["frequency"], summ["recency"], summ["T"]
    )
    p = bg.params_
    p0 = pd.Series(
        prob_no_purchase(
            "bgnbd",
            (p["r"], p["alpha"], p["a"], p["b"]),
            horizon_days,
            summ["frequency"].to_numpy(float),
            summ["recency"].to_numpy(float),
            summ["T"].to_numpy(float),
        ),
        index=summ.index,
    )
    return exp, p0


def peer_fit_notes(penalizer: dict | None, nonfinite: int) -> list[str]:
    """What a reader of the table is told of the lifetimes peer's fits (`vanilla_lifetimes`'s
    attrs): the fits that needed a penalizer, and the customers it gave no number for."""
    pens = {k: v for k, v in (penalizer or {}).items() if v != 0.0}
    notes = []
    if pens:
        fits = ", ".join(
            f"{k} {'no penalizer converged either' if v is None else f'penalizer {v}'}"
            for k, v in pens.items()
        )
        notes.append(f"lifetimes did not converge unpenalised; fitted as it advises: {fits}.")
    if nonfinite:
        notes.append(f"lifetimes gave no number for {nonfinite:,} customers (counted as 0).")
    return notes


PEERS_INSTALL = (
    "PyMC-Marketing is not installed; add it as a second peer with "
    "pip install '.[peers]' (in this project's folder)"
)


def pymc_marketing_peer(cal: pd.DataFrame, *, as_of, horizon_days: int):
    """PyMC-Marketing's BG/NBD + Gamma-Gamma (MAP fits) on the project's RFM table: a frame
    of expected_orders, predicted_clv, churn_probability per customer, or a string saying
    why there is none (not installed: how to install it; a failed fit: the error)."""
    try:
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
    except ImportError:
        return PEERS_INSTALL
    summ = _summary(cal, pd.Timestamp(as_of))
    data = pd.DataFrame(
        {
            "customer_id": np.arange(len(summ)),
            "frequency": summ["frequency"].to_numpy(float),
            "recency": summ["recency"].to_numpy(float),
            "T": summ["T"].to_numpy(float),
            "monetary_value": summ["monetary_value"].to_numpy(float),
        }
    )
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            bg = BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]])
            bg.fit(method="map", progressbar=False)
            exp = bg.expected_purchases(future_t=horizon_days).mean(("chain", "draw")).to_numpy()
            p0 = (
                bg.expected_probability_no_purchase(t=horizon_days)
                .mean(("chain", "draw"))
                .to_numpy()
            )
            rep = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
            gg = GammaGammaModel(data=rep[["customer_id", "frequency", "monetary_value"]])
            gg.fit(method="map", progressbar=False)
            spend = gg.expected_customer_spend(data).mean(("chain", "draw")).to_numpy()
    except Exception as exc:  # a failed peer is a result of the peer, not an error
        return f"PyMC-Marketing failed: {type(exc).__name__}: {str(exc)[:200]}"
    out = pd.DataFrame(index=summ.index)
    out["expected_orders"] = np.nan_to_num(exp, nan=0.0, posinf=0.0)
    out["predicted_clv"] = out["expected_orders"] * np.nan_to_num(spend, nan=0.0, posinf=0.0)
    out["churn_probability"] = np.nan_to_num(p0, nan=1.0)
    return out


def naive_rate(cal: pd.DataFrame, *, as_of, horizon_days: int) -> pd.DataFrame:
    summ = _summary(cal, pd.Timestamp(as_of))
    rate = summ["n"] / (summ["T"] + 1).clip(lower=30)  # 0 for a customer of refunds only
    expected = rate * horizon_days
    out = pd.DataFrame(index=summ.index)
    out["expected_orders"] = expected
    out["predicted_clv"] = expected * summ["aov"]
    out["churn_probability"] = np.exp(-expected)
    out["clv_low"] = poisson.ppf(0.05, expected) * summ["aov"]
    out["clv_high"] = poisson.ppf(0.95, expected) * summ["aov"]
    return out


def project_wins(table: pd.DataFrame) -> dict[str, bool]:
    """Per metric: is the project at least as good as the better baseline?"""
    wins = {}
    for metric, direction in METRIC_DIRECTION.items():
        p = table.loc[metric, "project"]
        base = table.loc[metric, ["lifetimes", "naive"]].dropna()  # the peer is reported only
        if base.empty or not np.isfinite(p):
            wins[metric] = bool(np.isfinite(p)) or base.empty
            continue
        tol = 1e-6 * max(1.0, abs(p))  # the same model through two code paths ties
        if direction == 1:
            wins[metric] = bool(p >= base.max() - tol)
        elif direction == -1:
            wins[metric] = bool(p <= base.min() + tol)
        else:
            target = float(direction)
            wins[metric] = bool(abs(p - target) <= (base - target).abs().min() + tol)
    return wins


def tracking_data(orders: pd.DataFrame, *, as_of, horizon_days: int, fitted: dict) -> pd.DataFrame:
    """Cumulative repeat purchase occasions per week, actual vs the fitted purchase model,
    across calibration and holdout, for the customers who first bought by `as_of`.
    Predicted: sum over customers of the model's unconditional E[X(t)] since their first
    purchase (the conditional expectation at x = t_x = T = 0; FHL 2005 eq. (9))."""
    from tools.models.clv_formulas import expected_purchases

    as_of = pd.Timestamp(as_of).normalize()
    end = as_of + pd.Timedelta(days=horizon_days)
    occ = occasions(orders, as_of=end)
    first = occ.groupby("customer_id")["day"].transform("min")
    cohort_first = occ.groupby("customer_id")["day"].min()
    t0 = np.datetime64(as_of.date(), "D").astype(np.int64)
    cohort = cohort_first[cohort_first <= t0]
    occ = occ[occ["customer_id"].isin(cohort.index)]
    start = int(cohort.min())
    repeat_day = occ.loc[occ["day"] > first.loc[occ.index], "day"].to_numpy() - start
    n_weeks = int((np.datetime64(end.date(), "D").astype(np.int64) - start) // 7) + 1
    week_end = (np.arange(n_weeks) + 1) * 7
    actual = np.array([(repeat_day < e).sum() for e in week_end], float)
    counts = (cohort - start).value_counts()
    days, n = counts.index.to_numpy(float), counts.to_numpy(float)
    model, par = fitted.get("model"), fitted.get("params", {})
    order = None
    if model is not None:
        order = {
            "bgnbd": ("r", "alpha", "a", "b"),
            "mbgnbd": ("r", "alpha", "a", "b"),
            "paretonbd": ("r", "alpha", "s", "beta"),
        }.get(model)
    predicted = []
    for e in week_end:
        t = np.clip(e - days, 0, None)
        if order:
            ex = expected_purchases(
                model, tuple(par[k] for k in order), t, np.zeros_like(t), 0.0, 0.0
            )
        else:  # pooled rate
            ex = float(fitted.get("pooled_rate") or 0.0) * t
        predicted.append(float(np.sum(np.nan_to_num(ex) * n)))
    weeks = pd.to_datetime(start, unit="D") + pd.to_timedelta(week_end, unit="D")
    return pd.DataFrame(
        {"week_end": weeks, "actual": actual, "predicted": predicted, "holdout": weeks > as_of}
    )


def conditional_expectation_data(
    scores: pd.DataFrame, actual: pd.DataFrame, *, cap: int = 7
) -> pd.DataFrame:
    """Holdout purchase occasions by calibration repeat frequency (0..cap+), actual vs the
    project's predicted, averaged per customer (the FHL 2005 Figure 5 check)."""
    freq = (scores["orders_to_date"] - 1).clip(lower=0, upper=cap)
    df = pd.DataFrame(
        {
            "frequency": freq,
            "actual": actual.loc[scores.index, "orders"],
            "predicted": scores["expected_orders"],
        }
    )
    out = (
        df.groupby("frequency")
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
        .reset_index()
    )
    out["frequency"] = (
        out["frequency"].astype(int).astype(str).where(out["frequency"] < cap, f"{cap}+")
    )
    return out
