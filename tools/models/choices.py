"""The scoring models a caller can ask for: one definition for `tools.scoring.score.score_store`
and every command that scores (`retention score`, `backtest`, `chat`, `brief`).

Kept apart from `tools.scoring.score` so that a command line can list and check the choices
without importing the models (LightGBM and friends take a second or two to import).
"""

from __future__ import annotations

MODELS = ("auto", "bgnbd", "ml")
DEFAULT_MODEL = "auto"
MODEL_HELP = (
    "Scoring model: auto (an inner backtest picks per customer target), bgnbd "
    "(BG/NBD + Gamma-Gamma) or ml (LightGBM); a model that cannot be used falls "
    "back to the one that can, with a warning."
)


def check_model(model: str) -> str:
    """`model` if it is one of MODELS, else ValueError naming the choices."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    return model
