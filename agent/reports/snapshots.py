"""Score snapshots in the workspace: one per as-of date, so weeks can be compared.

    <workspace>/scores/scores_<YYYY-MM-DD>.parquet   the scores table, with the fitted
                                                     parameters in its metadata: the snapshot
    <workspace>/scores/params_<YYYY-MM-DD>.json      the same parameters, to read
    <workspace>/scores/forecast_<YYYY-MM-DD>.parquet the snapshot's forecast for the weeks of
                                                     its horizon, kept to be graded later

A snapshot is written as a unit: the scores and their parameters are one Parquet file, written
to a temporary file and renamed, so a kill during a re-score leaves the old snapshot or the new
one, never new parameters next to old scores. The JSON copy is written after it; `load_scores`
reads the parameters from the Parquet file and puts a stale JSON copy (a kill between the two)
right. (A snapshot from an earlier version, without parameters inside, is read with its JSON.)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from agent.workspace import Workspace
from tools.files import atomic_write, atomic_write_text
from tools.models.choices import DEFAULT_MODEL

PARAMS_KEY = b"retention.params"
"""The Parquet metadata key of a snapshot's parameters (JSON)."""
FORECAST_KEY = b"retention.forecast"
"""The Parquet metadata key of a forecast's horizon and expected band (JSON)."""


def save_scores(ws: Workspace, result, *, as_of, orders: pd.DataFrame | None = None) -> Path:
    """The scores and their parameters as one file (temp file + rename), then the JSON copy
    of the parameters (temp file + rename): a kill leaves the old snapshot or the new one.
    With the store's `orders`, the snapshot's forecast is kept beside it (`save_forecast`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    day = pd.Timestamp(as_of).date().isoformat()
    for stale in ws.scores.glob("*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    params = json.dumps(result.params, indent=2, default=str)
    table = pa.Table.from_pandas(result.scores, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), PARAMS_KEY: params.encode()}
    )
    # the snapshot: scores and parameters at once
    path = atomic_write(
        ws.scores / f"scores_{day}.parquet",
        lambda tmp: pq.write_table(table, tmp, compression="snappy"),
    )
    atomic_write_text(ws.scores / f"params_{day}.json", params)
    if orders is not None:
        save_forecast(ws, result.scores, result.params, orders, as_of=as_of)
    return path


def save_forecast(
    ws: Workspace, scores: pd.DataFrame, params: dict, orders: pd.DataFrame, *, as_of
) -> Path:
    """`<workspace>/scores/forecast_<day>.parquet`: the snapshot's forecast for the weeks of
    its horizon (`tools.insights.forecast.forecast_table`), with the band its backtest leads one to
    expect in the file's metadata (horizon_days, backtest_rel_error, value_cv, curve)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tools.insights import forecast as F

    day = pd.Timestamp(as_of).date().isoformat()
    horizon = int(params.get("horizon_days") or 365)
    purchase = params.get("probabilistic") or {}
    o = orders.loc[orders["order_date"] < pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)]
    fc = F.forecast_table(
        scores,
        o,
        as_of=as_of,
        horizon_days=horizon,
        purchase=purchase,
        margin=float(params.get("margin") or 1.0),
    )
    meta = {
        "as_of": day,
        "horizon_days": horizon,
        "curve": fc.attrs.get("curve"),
        "backtest_rel_error": F.backtest_error(o, as_of=as_of, purchase=purchase),
        "value_cv": F.order_value_cv(o, as_of=as_of),
    }
    fc.attrs = {}
    table = pa.Table.from_pandas(fc, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), FORECAST_KEY: json.dumps(meta).encode()}
    )
    return atomic_write(
        ws.scores / f"forecast_{day}.parquet",
        lambda tmp: pq.write_table(table, tmp, compression="snappy"),
    )


def load_forecast(
    ws: Workspace, as_of, orders: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, dict] | None:
    """(forecast, meta) of the snapshot of `as_of`: the kept forecast, else (a snapshot written
    without one) made now from the snapshot and `orders` up to its day and kept; None when
    there is no snapshot of that day."""
    import pyarrow.parquet as pq

    day = pd.Timestamp(as_of).date().isoformat()
    path = ws.scores / f"forecast_{day}.parquet"
    if not path.exists():
        if orders is None or day not in list_snapshots(ws):
            return None
        scores, params = load_scores(ws, day)
        save_forecast(ws, scores, params, orders, as_of=day)
    data = path.read_bytes()
    meta = json.loads(
        (pq.ParquetFile(io.BytesIO(data)).schema_arrow.metadata or {}).get(FORECAST_KEY, b"{}")
    )
    return pd.read_parquet(io.BytesIO(data)), meta


def _embedded(source) -> str | None:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(source).schema_arrow.metadata or {}
    raw = meta.get(PARAMS_KEY)
    return raw.decode() if raw is not None else None


def list_snapshots(ws: Workspace) -> list[str]:
    """As-of dates with a complete snapshot (scores with their parameters)."""
    days = []
    for p in ws.scores.glob("scores_*.parquet"):
        day = p.stem.removeprefix("scores_")
        try:
            if (ws.scores / f"params_{day}.json").exists() or _embedded(p) is not None:
                days.append(day)
        except (OSError, ValueError):  # unreadable: not a snapshot
            continue
    return sorted(days)


def load_scores(ws: Workspace, as_of: str | None = None) -> tuple[pd.DataFrame, dict]:
    """(scores, params) of a snapshot (default: the latest), read from one file at once."""
    days = list_snapshots(ws)
    if not days:
        raise FileNotFoundError(ws.scores / "scores_<date>.parquet")
    day = as_of or days[-1]
    data = (
        ws.scores / f"scores_{day}.parquet"
    ).read_bytes()  # one version of the file, even mid-rescore
    scores = pd.read_parquet(io.BytesIO(data))
    embedded = _embedded(io.BytesIO(data))
    copy = ws.scores / f"params_{day}.json"
    if embedded is None:  # a snapshot written by an earlier version
        return scores, json.loads(copy.read_text())
    params = json.loads(embedded)
    try:
        if (
            not copy.exists() or json.loads(copy.read_text()) != params
        ):  # a kill between the two writes
            atomic_write_text(copy, embedded)
    except (OSError, ValueError):
        pass
    return scores, params


def scores_for(
    store,
    ws: Workspace,
    as_of,
    *,
    horizon_days: int,
    model: str = DEFAULT_MODEL,
    progress=lambda _: None,
) -> tuple[pd.DataFrame, dict]:
    """Scores of a loaded store (`tools.ingest.load.Store`) as of a date with `model`: the
    workspace snapshot when it was scored for this store, horizon and model (its params say
    so: `store`, `horizon_days`, `model_requested`), else scored now and saved as the
    snapshot of that day (what `agent.reports.brief` reads)."""
    as_of = pd.Timestamp(as_of).normalize()
    day = str(as_of.date())
    try:
        scores, params = load_scores(ws, day)
        if (
            params.get("store") == str(store.path)
            and params.get("horizon_days") == horizon_days
            and params.get("model_requested", DEFAULT_MODEL) == model
        ):
            return scores, params
    except (FileNotFoundError, KeyError, ValueError):
        pass
    from tools.scoring.score import score_store  # LightGBM and friends: imported only when needed

    progress(f"scoring customers as of {day}")
    o = store.orders.loc[store.orders["order_date"] < as_of + pd.Timedelta(days=1)]
    res = score_store(
        o,
        as_of=as_of,
        horizon_days=horizon_days,
        model=model,
        events=store.events,
        tickets=store.tickets,
        products=store.products,
    )
    res.params["store"] = str(store.path)
    save_scores(ws, res, as_of=as_of, orders=o)
    return res.scores, res.params
