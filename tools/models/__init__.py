"""The scoring models: what is fitted to a store's purchase history.

`clv` (model choice and fitting of BG/NBD / MBG/NBD / Pareto/NBD + Gamma-Gamma, interval
calibration) on the RFM table of `rfm`, the parameters-as-data of `clv_params`, the
likelihoods and fits of `clv_fit`, the per-customer formulas of `clv_formulas`, the spend
model of `gamma_gamma`, the predictive draws of `clv_intervals` and the scores of
`clv_predict`; `churn` (the LightGBM model and its calibration) on the
features of `features`; `uplift` (who a play moves). The names a caller may ask for
(`MODELS`, `DEFAULT_MODEL`) are defined in `choices` and are this package's front door; the
model modules are imported where they are used, so asking for a name costs nothing.
"""

from tools.models.choices import DEFAULT_MODEL, MODELS, check_model

__all__ = ["DEFAULT_MODEL", "MODELS", "check_model"]
