"""Nothing lost under faults: a process killed in the middle of scoring leaves the
workspace consistent (old snapshot or new, never half of one), and a rerun completes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pandas as pd

from agent.reports.snapshots import list_snapshots, load_scores
from agent.workspace import Workspace
from tools.demo.store import generate_store


def test_killed_scoring_leaves_a_consistent_workspace(tmp_path):
    store = tmp_path / "store"
    generate_store(store, customers=2000, seed=9)
    ws = tmp_path / "ws"
    cmd = [
        sys.executable,
        "-m",
        "agent.cli.main",
        "score",
        "--store",
        str(store),
        "--workspace",
        str(ws),
    ]
    for delay in (0.5, 1.5, 3.0):  # kill at different points of the run
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        w = Workspace.at(ws)
        for day in list_snapshots(w):  # whatever is listed is whole and readable
            scores, params = load_scores(w, day)
            assert len(scores) > 0 and params["as_of"] == day
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    w = Workspace.at(ws)
    scores, _ = load_scores(w)
    assert (
        len(scores)
        == pd.read_csv(store / "orders.csv", usecols=["customer_id"])["customer_id"].nunique()
    )
    assert not list(w.scores.glob("*.tmp"))
