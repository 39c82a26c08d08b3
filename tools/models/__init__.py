"""The scoring models: what is fitted to a store's purchase history.

`clv` (purchase occasions, RFM, BG/NBD / Pareto/NBD + Gamma-Gamma) on the likelihoods and
per-customer formulas of `clv_fit`; `churn` (the LightGBM model and its calibration) on the
features of `features`; `uplift` (who a play moves). The names a caller may ask for
(`MODELS`, `DEFAULT_MODEL`) are defined in `choices` and are this package's front door; the
model modules are imported where they are used, so asking for a name costs nothing.
"""

from tools.models.choices import DEFAULT_MODEL, MODELS, check_model

__all__ = ["DEFAULT_MODEL", "MODELS", "check_model"]
