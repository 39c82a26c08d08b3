"""The scoring's models in words, and the warnings a merchant reads in `params["warnings"]`.

`PURCHASE_MODEL_NAMES`, `SPEND_MODEL_NAMES` and `CHOICE_WORDS` name the models and the
rolling-origin choice; `prob_name` names the purchase model as fitted; the `*_note` functions
and `history_warnings` write what a merchant should know before trusting the numbers.
"""

from __future__ import annotations

import pandas as pd

PURCHASE_MODEL_NAMES = {
    "bgnbd": "BG/NBD",
    "mbgnbd": "MBG/NBD",
    "paretonbd": "Pareto/NBD",
    "pooled": "a pooled purchase rate",
}
SPEND_MODEL_NAMES = {
    "gamma_gamma": "Gamma-Gamma",
    "store_average": "the store's average order value",
}
CHOICE_WORDS = {  # the rolling-origin choice per target (params["model_choice"]), in words
    "value": {
        "bgnbd": "the fitted purchase model",
        "paretonbd": "Pareto/NBD",
        "ml": "the ML model",
        "blend": "the average of the ML and purchase models",
    },
    "churn": {
        "bgnbd": "the fitted purchase model",
        "paretonbd": "Pareto/NBD",
        "ml": "the ML model",
        "rate": "each customer's own purchase rate",
        "blend": "the ML and purchase models' risk ranks averaged",
    },
}


def prob_name(prob_params: dict) -> str:
    """The probabilistic model as fitted, in words: "BG/NBD + Gamma-Gamma"."""
    model, spend = prob_params.get("model"), prob_params.get("spend_model")
    model_name = None if model is None else PURCHASE_MODEL_NAMES.get(model, model)
    spend_name = None if spend is None else SPEND_MODEL_NAMES.get(spend, spend)
    return f"{model_name} + {spend_name}"


def fallback_note(prob, prob_params) -> list[str]:
    """A warning naming the purchase model's fallbacks, when any customer got one."""
    flagged = prob["clv_fallback"].to_numpy(bool)
    if not flagged.any():
        return []
    kinds = pd.Series(prob.loc[flagged, "clv_fallback_reason"].str.split("; ").explode())
    counts = kinds[kinds != ""].value_counts()
    what = ", ".join(f"{k} ({v:,})" for k, v in counts.items())
    return [
        f"{int(flagged.sum()):,} customers got no finite prediction from "
        f"{prob_name(prob_params)} for some numbers and were given a fallback: {what}. "
        "Their `fallback` and `model` columns say which."
    ]


def no_purchase_note(buyer, by, *, as_of, prob_params) -> list[str]:
    """A warning about the customers whose lines up to as-of are all refunds."""
    n = int((~buyer).sum())
    if not n:
        return []
    learnt = {m for k in by for m in by[k][buyer]}
    others = [
        w
        for m, w in (("ml", "the ML model"), ("rate", "the own-rate churn model"))
        if any(x.startswith(m) for x in learnt)
    ]
    one = len(others) == 1
    who = (
        (
            f"{' and '.join(others)}, which learn{'s' * one} from buyers, do{'es' * one} not "
            "score them; "
        )
        if others
        else ""
    )
    return [
        f"{n:,} customer{'s' if n > 1 else ''} had only returns (refunds) up to {as_of.date()}, "
        f"no purchase in the data: {who}the purchase model ({prob_name(prob_params)}) "
        "scores them as customers without a repeat purchase (their `model` column says so). "
        "Their revenue to date is net of the refunds."
    ]


def history_warnings(orders, *, as_of, horizon_days) -> list[str]:
    """What a merchant should know before trusting the numbers."""
    first = orders["order_date"].min()
    days = int((as_of - first.normalize()).days) + 1
    if days < horizon_days:
        return [
            f"The order history covers {days} days ({first.date()} to {as_of.date()}), less "
            f"than the {horizon_days}-day horizon: the predictions extrapolate beyond what the "
            "data shows. Treat them as rough, or score with a shorter prediction window "
            "(--horizon-days)."
        ]
    return []


def ml_not_chosen(rolling: dict) -> str:
    """Why `model="auto"` did not take the ML model, from the rolling-origin choice's result."""
    if "too_short" in rolling:
        return (
            "the store is too short to choose a model by rolling-origin backtests: "
            f"{rolling['too_short']}"
        )
    if "ml_too_short" in rolling:
        return (
            "the store is too short to judge it by rolling-origin backtests: "
            f"{rolling['ml_too_short']}"
        )
    if "failed" in rolling:
        return f"the model choice failed: {rolling['failed']}"
    return (
        "the rolling-origin backtests did not show it ahead of the purchase model by more "
        "than its spread across cutoffs"
    )


def ml_not_used(reason: str, *, requested: bool, prob_params: dict, churn: str) -> str:
    """The warning for an ML model asked for (`requested`: by --model ml) but not used."""
    rate = ", churn by each customer's own purchase rate" if churn == "rate" else ""
    return (
        f"The machine-learned model was {'requested but ' if requested else ''}"
        f"not used ({reason}): customers are scored by the purchase "
        f"model ({prob_name(prob_params)}){rate}."
    )


def interval_skipped(calib: dict) -> list[str]:
    """The warning for a value interval not calibrated on the store (`calib["skipped"]`)."""
    if "skipped" not in calib:
        return []
    return [
        f"The value interval (clv_low, clv_high) is not calibrated on this store: "
        f"{calib['skipped']}."
    ]
