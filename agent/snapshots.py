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


def save_scores(ws: Workspace, result, *, as_of) -> Path:
    day = pd.Timestamp(as_of).date().isoformat()
    path = ws.scores / f"scores_{day}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    result.scores.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    ptmp = ws.scores / f"params_{day}.json.tmp"
    ptmp.write_text(json.dumps(result.params, indent=2, default=str))
    os.replace(ptmp, ws.scores / f"params_{day}.json")
    return path


def list_snapshots(ws: Workspace) -> list[str]:
    return sorted(p.stem.removeprefix("scores_") for p in ws.scores.glob("scores_*.parquet"))


def load_scores(ws: Workspace, as_of: str | None = None) -> tuple[pd.DataFrame, dict]:
    days = list_snapshots(ws)
    if not days:
        raise FileNotFoundError(ws.scores / "scores_<date>.parquet")
    day = as_of or days[-1]
    scores = pd.read_parquet(ws.scores / f"scores_{day}.parquet")
    params = json.loads((ws.scores / f"params_{day}.json").read_text())
    return scores, params
