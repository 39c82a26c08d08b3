"""A fitted CLV engine as data: `ClvParams`, saved as JSON next to a fit, never pickled.

It holds the chosen purchase model and its parameters (with the covariance of their logs,
for the intervals), the spend model, the pooled fallback rate, every candidate fit and the
fallbacks a scoring run used; `from_json` checks the schema id and the model's parameter
names (`PARAMS_SCHEMA`, `MODELS`) before it builds one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from tools.errors import DataError
from tools.models.clv_formulas import PARAM_NAMES

PARAMS_SCHEMA = "retention.clv.params/1"
MODELS = ("bgnbd", "mbgnbd", "paretonbd", "pooled")


@dataclass(frozen=True)
class ClvParams:
    """A fitted CLV engine, as data. `params` are in `time_unit` (alpha, beta in days when
    unit_days is 1); `cov_log` is the covariance of the log-parameters (None: no parameter
    uncertainty available); `spend_model` is "gamma_gamma" (spend_params p, q, v) or
    "store_average"; `mean_order_value` is what customers the spend model cannot score get;
    `pooled_rate` is repeat occasions per time unit over the population (the fallback rate),
    `pooled_exposure` the total T behind it."""

    model: str
    params: dict[str, float]
    time_unit: str
    unit_days: float
    log_likelihood: float
    converged: bool
    degenerate: bool
    penalizer: float
    reason: str
    n_customers: int
    n_unique_rows: int
    pooled_rate: float
    pooled_exposure: float
    spend_model: str
    spend_params: dict[str, float]
    mean_order_value: float
    candidates: tuple[dict, ...] = ()
    cov_log: tuple[tuple[float, ...], ...] | None = None
    fallbacks: dict[str, int] = field(default_factory=dict)
    schema: str = PARAMS_SCHEMA

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClvParams:
        d = json.loads(text)
        if d.get("schema") != PARAMS_SCHEMA:
            raise DataError(
                f"not CLV parameters of schema {PARAMS_SCHEMA}", example=repr(d.get("schema"))
            )
        if d.get("model") not in MODELS:
            raise DataError("unknown CLV model id", column="model", example=repr(d.get("model")))
        expected = set(PARAM_NAMES.get(d["model"], ("rate",)))
        if set(d.get("params", {})) != expected:
            raise DataError(
                f"parameters do not match model {d['model']}",
                column="params",
                example=repr(sorted(d.get("params", {}))),
            )
        d["candidates"] = tuple(d.get("candidates", ()))
        if d.get("cov_log") is not None:
            d["cov_log"] = tuple(tuple(r) for r in d["cov_log"])
        names = {f.name for f in dataclasses.fields(cls)}
        if set(d) - names:
            raise DataError(
                "unknown fields in CLV parameters", example=repr(sorted(set(d) - names))
            )
        try:
            return cls(**d)
        except TypeError as err:  # a required field is missing
            raise DataError(f"incomplete CLV parameters: {err}") from None

    def theta(self) -> tuple[float, ...]:
        return tuple(self.params[k] for k in PARAM_NAMES.get(self.model, ("rate",)))
