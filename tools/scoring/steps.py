"""The steps of one scoring run of `tools.scoring.score.score_store`, on one state.

`ScoringRun.start` fits the purchase model and builds the features; its methods then, in the
order `tools.scoring.score._score` calls them, choose the models by rolling-origin backtests,
switch to ALT_PURCHASE where chosen, train and apply the ML model, take the customer's own
rate for churn where chosen, note a model asked for but not used, calibrate the value
interval, explain churn and apply the margin. Each step that can fail falls back to the
purchase model's scores, with the reason in the run's `ml_info` or `notes`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tools.models import clv
from tools.models.churn import MLModel, NotEnoughHistory, explain_reasons
from tools.models.reasons import rule_reasons
from tools.scoring import notes as N
from tools.scoring.choice import ALT_PURCHASE, rolling_choice
from tools.scoring.combine import (
    apply_ml,
    base_models,
    churn_by_own_rate,
    customer_margins,
    discount_factor,
    fallback_text,
    finite_or_fallback,
    ml_targets,
    switch_purchase_model,
)
from tools.scoring.interval import interval_calibration, interval_with_churn
from tools.scoring.splits import Population, probabilistic, rate_no_purchase, score_features
from tools.scoring.training import train_churn_drivers, train_inner

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass(eq=False)
class ScoringRun:
    """One scoring run: what it was asked, and what its steps (`tools.scoring.score._score`)
    build up. The value is revenue (margin 1) until `finish_models` applies the margin, the
    store's unit costs or the flat --margin, per customer
    (`tools.scoring.combine.customer_margins`)."""

    pop: Population
    as_of: pd.Timestamp
    horizon_days: int
    model: str
    discount_rate: float
    seed: int
    progress: Progress
    ctx: dict  # events, tickets, products, pop: what the inner splits read
    X: pd.DataFrame  # features of every customer with a line by as-of
    out: pd.DataFrame  # the scores being built, one row per customer (in another order than X)
    buyer: np.ndarray  # rows of `out` with a purchase occasion
    by: dict[str, np.ndarray]  # per row of `out`, the model of its value and churn columns
    prob: pd.DataFrame  # the purchase model's scores
    prob_params: dict
    fit: tuple  # (rfm, ClvParams) of the purchase model, for a re-prediction
    notes: list[str]
    choice: dict = field(default_factory=lambda: {"value": "bgnbd", "churn": "bgnbd"})
    ml_info: dict = field(default_factory=lambda: {"used": False})
    ml: MLModel | None = None
    rolling: dict = field(default_factory=dict)
    calib: dict = field(default_factory=dict)

    @classmethod
    def start(
        cls, pop, *, as_of, horizon_days, model, discount_rate, products, seed, progress
    ) -> ScoringRun:
        """The purchase model's scores (their interval a placeholder of 10 draws, drawn again
        once the churn model is chosen and the interval calibrated: `calibrate_interval`) and
        the features."""
        orders = pop.orders
        ctx = dict(events=pop.events, tickets=pop.tickets, products=products)
        prob, prob_params, fit = probabilistic(
            orders,
            as_of=as_of,
            horizon_days=horizon_days,
            margin=1.0,
            discount_rate=discount_rate,
            seed=seed,
            keep_fit=True,
            n_draws=10,
        )
        progress("building features")
        X = score_features(orders, as_of=as_of, prob=prob, **ctx)
        out = prob.copy()  # every customer with a line by as-of, as X (in another order)
        # the ML model and the customer's own rate learn from, and score, customers with a
        # purchase occasion; a customer whose lines are all refunds keeps the purchase model's
        # scores (a customer with no repeat purchase), named in their `model` column
        buyer = X["n_occasions"].reindex(out["customer_id"]).to_numpy() > 0
        notes = N.history_warnings(orders, as_of=as_of, horizon_days=horizon_days)
        return cls(
            pop,
            as_of,
            horizon_days,
            model,
            discount_rate,
            seed,
            progress,
            {**ctx, "pop": pop},
            X,
            out,
            buyer,
            base_models(prob),
            prob,
            prob_params,
            fit,
            notes,
        )

    @property
    def orders(self) -> pd.DataFrame:
        return self.pop.orders

    @property
    def wants_ml(self) -> bool:
        """The ML model was asked for, or chosen by the backtests for a target."""
        return self.model == "ml" or any(
            v in ("ml", "blend") for v in self.rolling.get("choice", {}).values()
        )

    def choose_by_rolling_origin(self) -> None:
        self.progress("choosing the models by rolling-origin backtests on the store")
        try:
            self.rolling = rolling_choice(
                self.orders,
                as_of=self.as_of,
                horizon_days=self.horizon_days,
                seed=self.seed,
                **self.ctx,
            )
        except Exception as exc:  # the choice is a refinement: BG/NBD stands
            log.warning("the rolling-origin model choice failed", exc_info=True)
            self.rolling = {"choice": dict(self.choice), "failed": f"{type(exc).__name__}: {exc}"}
        if not self.wants_ml:
            self.ml_info = {"used": False, "reason": N.ml_not_chosen(self.rolling)}

    def switch_to_alt_purchase(self) -> None:
        """ALT_PURCHASE's numbers for the targets the backtests gave it, where it fits the
        orders up to as-of; else BG/NBD stands, with a warning."""
        alt = [k for k, v in self.rolling.get("choice", {}).items() if v == ALT_PURCHASE]
        if not alt:
            return
        self.progress(f"fitting {N.PURCHASE_MODEL_NAMES[ALT_PURCHASE]}, chosen by the backtests")
        alt_fit = clv.with_purchase_model(self.fit[0], self.fit[1], ALT_PURCHASE)
        if alt_fit is None:
            self.rolling["choice"].update({k: "bgnbd" for k in alt})
            self.rolling["refused"] = (
                f"{N.PURCHASE_MODEL_NAMES[ALT_PURCHASE]} was chosen for {' and '.join(alt)} "
                "but did not converge on the orders up to as-of: BG/NBD stands"
            )
            self.notes.append(
                f"The model choice picked {N.PURCHASE_MODEL_NAMES[ALT_PURCHASE]}, which then "
                f"did not fit this store's orders up to {self.as_of.date()}: customers are "
                f"scored by {N.prob_name(self.prob_params)}."
            )
            return
        self.out, self.by, self.prob, self.prob_params, self.fit = switch_purchase_model(
            (self.out, self.by, self.prob, self.prob_params, self.fit),
            alt,
            alt_fit,
            as_of=self.as_of,
            horizon_days=self.horizon_days,
            discount_rate=self.discount_rate,
            seed=self.seed,
        )
        self.choice.update({k: ALT_PURCHASE for k in alt})

    def train_ml(self) -> None:
        """The ML model, trained on an inner time split; a store too short for it, or a
        failure of it, leaves the purchase model's scores (the reason in `ml_info`)."""
        self.progress("training the ML model on an inner time split")
        try:
            self.ml, inner = train_inner(
                self.orders,
                as_of=self.as_of,
                horizon_days=self.horizon_days,
                seed=self.seed,
                **self.ctx,
            )
            self.ml_info = {"used": True, **self.ml.info, "inner_backtest": inner}
            self.choice = (
                {"value": "ml", "churn": "ml"}
                if self.model == "ml"
                else {k: self.rolling["choice"][k] for k in self.choice}
            )
        except NotEnoughHistory as exc:
            self.ml_info = {"used": False, "reason": str(exc)}
        except Exception as exc:  # a model failure is not the merchant's error: fall back
            log.warning("the ML model failed; scoring with the purchase model", exc_info=True)
            self.ml_info = {"used": False, "reason": f"it failed: {type(exc).__name__}: {exc}"}

    def predict_ml(self) -> None:
        """The ML model's predictions where the choice takes them (`apply_ml`); if it fails to
        predict, the purchase model's scores stand."""
        assert self.ml is not None  # the caller's condition
        self.progress("predicting with the ML model")
        base = self.out.copy(), {k: v.copy() for k, v in self.by.items()}
        try:
            apply_ml(
                self.out,
                self.ml.predict(
                    self.X.loc[self.out["customer_id"].to_numpy()[self.buyer]],
                    targets=ml_targets(self.choice),
                ),
                self.buyer,
                self.by,
                self.choice,
                discount_factor(horizon_days=self.horizon_days, discount_rate=self.discount_rate),
            )
        except Exception as exc:  # as above: the purchase model's scores stand
            log.warning(
                "the ML model failed to predict; scoring with the purchase model", exc_info=True
            )
            self.out, self.by = base
            self.ml = None
            self.choice = {k: v if v == ALT_PURCHASE else "bgnbd" for k, v in self.choice.items()}
            self.ml_info = {
                **self.ml_info,
                "used": False,
                "reason": f"it failed to predict: {type(exc).__name__}: {exc}",
            }

    def churn_by_own_rate(self) -> None:
        """Churn by each buyer's own purchase rate, where the backtests chose it."""
        self.choice["churn"] = "rate"
        rate = rate_no_purchase(self.X, horizon_days=self.horizon_days)
        churn_by_own_rate(
            self.out,
            self.by,
            rate.reindex(self.out["customer_id"]).to_numpy(),
            self.buyer,
            rolling=self.rolling,
        )

    def note_ml_not_used(self) -> None:
        """Where the ML model was asked for (auto or ml) but not used: the fallback in
        `ml_info`, and a warning unless the backtests judged it out (a choice by evidence is
        not a warning: it is in params["model_selection"])."""
        if self.ml is not None or self.model not in ("auto", "ml"):
            return
        self.ml_info["fallback"] = "bgnbd: " + self.ml_info["reason"]
        judged_out = (
            self.model == "auto"
            and not self.wants_ml
            and not ({"too_short", "ml_too_short", "failed"} & set(self.rolling))
        )
        if not judged_out:
            self.notes.append(
                N.ml_not_used(
                    self.ml_info["reason"],
                    requested=self.model == "ml",
                    prob_params=self.prob_params,
                    churn=self.choice["churn"],
                )
            )

    def calibrate_interval(self) -> None:
        """The value interval calibrated on the store's past, drawn again consistent with the
        chosen churn probability."""
        self.progress("calibrating the value interval on the store's own past")
        self.calib = interval_calibration(
            self.orders,
            as_of=self.as_of,
            horizon_days=self.horizon_days,
            seed=self.seed,
            rate_calibrator=(
                self.rolling.get("rate_calibrator") if self.choice["churn"] == "rate" else None
            ),
            purchase_models=self.choice,
        )
        self.notes += N.interval_skipped(self.calib)
        interval_with_churn(
            self.out,
            self.by,
            self.fit,
            prob=self.prob,
            as_of=self.as_of,
            horizon_days=self.horizon_days,
            margin=1.0,
            discount_rate=self.discount_rate,
            seed=self.seed,
            interval=self.calib.get("level", 0.9),
            interval_scale=self.calib.get("scale", 1.0),
        )

    def explain_churn(self) -> None:
        """churn_reason and churn_drivers: from the ML model, or, where its probabilities were
        not chosen, the churn-driver model (causes that preceded a lapse, stacked quarterly
        splits), else the rules."""
        self.progress("explaining churn drivers")
        out, X, buyer, ml = self.out, self.X, self.buyer, self.ml
        ids = out["customer_id"].to_numpy()
        drivers = None
        if ml is None and self.model in ("auto", "ml"):
            try:
                drivers, self.ml_info["drivers"] = train_churn_drivers(
                    self.orders, as_of=self.as_of, seed=self.seed, **self.ctx
                )
            except Exception as exc:  # the rules explain instead
                log.warning("the churn-driver model failed", exc_info=True)
                self.ml_info["drivers"] = {"failed": f"{type(exc).__name__}: {exc}"}
        if (ml is not None or drivers is not None) and buyer.any():
            p_buy = out["churn_probability"].to_numpy()[buyer]
            if ml is not None:
                reasons = ml.reasons(X.loc[ids[buyer]], churn_probability=p_buy)
            else:
                assert drivers is not None  # the condition above: the ML model or the drivers
                reasons = explain_reasons(
                    drivers, drivers.feature_name(), X.loc[ids[buyer]], churn_probability=p_buy
                )
            reasons = pd.concat([reasons, rule_reasons(X.loc[ids[~buyer]])])
        else:
            reasons = rule_reasons(X)
        reasons = reasons.reindex(ids)
        out["churn_reason"] = reasons["churn_reason"].to_numpy()
        out["churn_drivers"] = reasons["churn_drivers"].to_numpy()

    def finish_models(self, *, margin, products) -> dict:
        """The warnings, the `model` and `fallback` columns and the margin applied to the value
        columns (`products`: None unless the unit costs are used); what the margin came from."""
        out, prob, by, buyer = self.out, self.prob, self.by, self.buyer
        self.notes += N.no_purchase_note(buyer, by, as_of=self.as_of, prob_params=self.prob_params)
        self.notes += finite_or_fallback(out, prob, by, prob_params=self.prob_params)
        self.notes += N.fallback_note(prob, self.prob_params)
        out["fallback"] = fallback_text(prob, buyer)
        out["model"] = "value:" + pd.Series(by["value"]) + ",churn:" + pd.Series(by["churn"])
        out["interval_calibrated"] = "skipped" not in self.calib
        share, source, margin_info = customer_margins(
            self.orders,
            products,
            as_of=self.as_of,
            margin=margin,
            customers=out["customer_id"].to_numpy(),
        )
        for col in ("predicted_clv", "clv_low", "clv_high"):
            out[col] = out[col].to_numpy(float) * share
        out["value_margin"], out["margin_source"] = share, source
        return margin_info
