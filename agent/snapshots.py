"""Score snapshots in the workspace: one per as-of date, so weeks can be compared.

    <workspace>/scores/scores_<YYYY-MM-DD>.parquet   the scores table
    <workspace>/scores/params_<YYYY-MM-DD>.json      the fitted parameters and model choice

Writes are atomic (temp file + rename): a crash never leaves half a snapshot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from agent.workspace import Workspace
from tools.models import DEFAULT_MODEL


def save_scores(ws: Workspace, result, *, as_of) -> Path:
    """Params first, then the scores file: a scores file on disk means a complete snapshot
    (each written to a temp file and renamed, so a kill leaves the old one or the new one)."""
    day = pd.Timestamp(as_of).date().isoformat()
    for stale in ws.scores.glob("*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    ptmp = ws.scores / f"params_{day}.json.tmp"
    ptmp.write_text(json.dumps(result.params, indent=2, default=str))
    os.replace(ptmp, ws.scores / f"params_{day}.json")
    path = ws.scores / f"scores_{day}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    result.scores.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def list_snapshots(ws: Workspace) -> list[str]:
    """As-of dates with a complete snapshot (scores and params)."""
    days = (p.stem.removeprefix("scores_") for p in ws.scores.glob("scores_*.parquet"))
    return sorted(d for d in days if (ws.scores / f"params_{d}.json").exists())


def load_scores(ws: Workspace, as_of: str | None = None) -> tuple[pd.DataFrame, dict]:
    days = list_snapshots(ws)
    if not days:
        raise FileNotFoundError(ws.scores / "scores_<date>.parquet")
    day = as_of or days[-1]
    scores = pd.read_parquet(ws.scores / f"scores_{day}.parquet")
    params = json.loads((ws.scores / f"params_{day}.json").read_text())
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
