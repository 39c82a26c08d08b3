"""Score snapshots in the workspace: one per as-of date, so weeks can be compared.

    <workspace>/scores/scores_<YYYY-MM-DD>.parquet   the scores table, with the fitted
                                                     parameters in its metadata: the snapshot
    <workspace>/scores/params_<YYYY-MM-DD>.json      the same parameters, to read

A snapshot is written as a unit: the scores and their parameters are one Parquet file, written
to a temporary file and renamed, so a kill during a re-score leaves the old snapshot or the new
one, never new parameters next to old scores. The JSON copy is written after it; `load_scores`
reads the parameters from the Parquet file and puts a stale JSON copy (a kill between the two)
right. (A snapshot from an earlier version, without parameters inside, is read with its JSON.)
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd

from agent.workspace import Workspace
from tools.models import DEFAULT_MODEL

PARAMS_KEY = b"retention.params"
"""The Parquet metadata key of a snapshot's parameters (JSON)."""


def save_scores(ws: Workspace, result, *, as_of) -> Path:
    """The scores and their parameters as one file (temp file + rename), then the JSON copy
    of the parameters (temp file + rename): a kill leaves the old snapshot or the new one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    day = pd.Timestamp(as_of).date().isoformat()
    for stale in ws.scores.glob("*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    params = json.dumps(result.params, indent=2, default=str)
    table = pa.Table.from_pandas(result.scores, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), PARAMS_KEY: params.encode()})
    path = ws.scores / f"scores_{day}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="snappy")
    os.replace(tmp, path)  # the snapshot: scores and parameters at once
    _write_params_copy(ws.scores / f"params_{day}.json", params)
    return path


def _write_params_copy(path: Path, params: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(params)
    os.replace(tmp, path)


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
    data = (ws.scores / f"scores_{day}.parquet").read_bytes()  # one version of the file, even mid-rescore
    scores = pd.read_parquet(io.BytesIO(data))
    embedded = _embedded(io.BytesIO(data))
    copy = ws.scores / f"params_{day}.json"
    if embedded is None:  # a snapshot written by an earlier version
        return scores, json.loads(copy.read_text())
    params = json.loads(embedded)
    try:
        if not copy.exists() or json.loads(copy.read_text()) != params:  # a kill between the two writes
            _write_params_copy(copy, embedded)
    except (OSError, ValueError):
        pass
    return scores, params


def scores_for(store, ws: Workspace, as_of, *, horizon_days: int, model: str = DEFAULT_MODEL,
               progress=lambda _: None) -> tuple[pd.DataFrame, dict]:
    """Scores of a loaded store (`tools.load.Store`) as of a date with `model`: the
    workspace snapshot when it was scored for this store, horizon and model (its params say
    so: `store`, `horizon_days`, `model_requested`), else scored now and saved as the
    snapshot of that day (what `agent.brief` reads)."""
    as_of = pd.Timestamp(as_of).normalize()
    day = str(as_of.date())
    try:
        scores, params = load_scores(ws, day)
        if (params.get("store") == str(store.path) and params.get("horizon_days") == horizon_days
                and params.get("model_requested", DEFAULT_MODEL) == model):
            return scores, params
    except (FileNotFoundError, KeyError, ValueError):
        pass
    from tools.score import score_store  # LightGBM and friends: imported only when needed

    progress(f"scoring customers as of {day}")
    o = store.orders.loc[store.orders["order_date"] < as_of + pd.Timedelta(days=1)]
    res = score_store(o, as_of=as_of, horizon_days=horizon_days, model=model, events=store.events,
                      tickets=store.tickets, products=store.products)
    res.params["store"] = str(store.path)
    save_scores(ws, res, as_of=as_of)
    return res.scores, res.params
