"""Kills (issue 15, item 2): `retention approvals export` and `retention score` killed with
SIGKILL at many points, in real subprocesses, then run again.

An export killed at any moment leaves no export, or one recorded export that the rerun finishes:
exactly one export file, each approved draft in it once, the database agreeing (each draft
exported once, to that export, one `exported` audit row each). A re-score killed at any moment
leaves the old snapshot or the new one, never new parameters next to old scores.

The kill points are found from outside, without hooks in the code: the test watches the
database and the exports folder and kills the moment the export is recorded, the moment its
temporary file appears, the moment the file is there, and at random times besides.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.approvals.database import ExportRow
from agent.approvals.queue import open_queue
from agent.outreach.drafts import Draft
from agent.outreach.plan import Plan
from agent.reports.snapshots import list_snapshots, load_scores
from agent.workspace import Workspace

N_DRAFTS = 200
EXPORT = ["-m", "agent.cli.main", "approvals", "export", "--by", "Maria"]


@pytest.fixture(autouse=True)
def _local_database(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)


def _store(root: Path) -> Path:
    store = root / "store"
    store.mkdir()
    ids = [f"C{i:04d}" for i in range(N_DRAFTS)]
    pd.DataFrame(
        {
            "customer_id": ids,
            "order_id": [f"O{i}" for i in range(N_DRAFTS)],
            "order_date": "2026-01-05",
            "amount": 10.0,
        }
    ).to_csv(store / "orders.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ids,
            "first_name": [
                f'=HYPERLINK("http://evil.example","{i}")' if i == 7 else f"Name{i}"
                for i in range(N_DRAFTS)
            ],
            "email": [f"c{i}@example.com" for i in range(N_DRAFTS)],
            "accepts_email": True,
        }
    ).to_csv(store / "customers.csv", index=False)
    return store


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, Path]:
    """A store and a workspace whose queue holds N_DRAFTS approved drafts: (store, workspace)."""
    root = tmp_path_factory.mktemp("kill_template")
    store, ws = _store(root), root / "ws"
    q = open_queue(ws)
    ids = [f"C{i:04d}" for i in range(N_DRAFTS)]
    plan = Plan(
        campaign_id="week",
        week_of="2026-11-02",
        created_at="2026-11-02T00:00:00+00:00",
        settings={},
        chosen=[{"customer_id": c} for c in ids],
        skipped=[],
        control_ids=[],
        held_out_ids=[],
        budget_left=0,
    )
    q.add_campaign(
        plan,
        [
            Draft(
                "week",
                c,
                "email",
                "A note for {first_name}",
                "Hi {first_name},\n\nThanks.",
                "",
                0.0,
                "",
                "at risk",
                "win-back-lapsed",
            )
            for c in ids
        ],
        store_path=str(store),
    )
    q.approve(list(range(1, N_DRAFTS + 1)), actor="Maria", first_approver=True)
    q.engine.dispose()
    return store, ws


def _fresh(template, dest: Path) -> Path:
    _, ws = template
    shutil.copytree(ws, dest)
    return dest


def _db_rows(ws: Path, sql: str) -> list[tuple] | None:
    try:
        con = sqlite3.connect(f"file:{ws / 'approvals.sqlite'}?mode=ro", uri=True, timeout=0)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:  # locked while the export commits
        return None


def _watch(proc: subprocess.Popen, ws: Path, point: str, deadline: float = 60.0) -> bool:
    """Kill `proc` the moment `point` is seen (or when it ends on its own); True if killed."""
    exports = ws / "exports"
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < deadline:
        if point == "recorded":
            rows = _db_rows(ws, "SELECT count(*) FROM exports")
            hit = bool(rows and rows[0][0])
        elif point == "temporary":
            hit = exports.exists() and any(exports.glob(".export_*.tmp"))
        elif point == "file":
            hit = exports.exists() and any(exports.glob("export_*.csv"))
        else:
            raise AssertionError(point)
        if hit:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
    proc.wait()
    return False


def _state_after_kill(ws: Path) -> str:
    """The invariant right after a kill, and which of the export's states it was left in."""
    files = sorted((ws / "exports").glob("export_*.csv")) if (ws / "exports").exists() else []
    rows = _db_rows(ws, "SELECT id, path, completed_at, draft_ids FROM exports")
    assert rows is not None
    exported = _db_rows(
        ws, "SELECT count(*), count(DISTINCT export_id) FROM drafts WHERE exported_at IS NOT NULL"
    )
    assert len(files) <= 1 and len(rows) <= 1, (files, rows)
    if not rows:
        assert files == [], f"a file nobody recorded: {files}"  # the old code's double export
        assert exported == [(0, 0)]
        return "none"
    ((eid, path, completed, ids),) = rows
    assert exported == [(N_DRAFTS, 1)] and len(json.loads(ids)) == N_DRAFTS
    assert (
        not Path(path).is_absolute() and path == f"exports/{Path(path).name}"
    )  # stored inside the workspace
    assert all(f.name == Path(path).name for f in files)  # the only file is the recorded one
    if completed is not None:
        assert files, "a completed export without its file"
        return "complete"
    return "written" if files else "recorded"


def _assert_one_export(ws: Path, tag: str) -> None:
    files = sorted((ws / "exports").glob("export_*.csv"))
    assert len(files) == 1, (tag, files)
    table = pd.read_csv(files[0], keep_default_na=False)
    assert sorted(table["draft_id"]) == list(range(1, N_DRAFTS + 1)), (
        tag
    )  # each approved draft once
    assert (
        table.loc[table["customer_id"] == "C0007", "first_name"].iloc[0].startswith("'=")
    )  # inert
    assert not list((ws / "exports").glob(".*.tmp")), tag
    q = open_queue(ws)
    try:
        [exp] = q.exports()
        assert exp.completed_at is not None and sorted(exp.draft_ids) == list(
            range(1, N_DRAFTS + 1)
        )
        assert q.export_file(exp) == files[0].resolve()
        drafts = q.list_drafts()
        assert all(d.export_id == exp.id and d.status == "exported" for d in drafts), tag
        actions = [a.draft_id for a in q.audit() if a.action == "exported"]
        assert sorted(actions) == list(range(1, N_DRAFTS + 1)), tag  # the audit log: once each
    finally:
        q.engine.dispose()


def _run(ws: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *EXPORT, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_an_export_killed_at_any_moment_is_finished_once_by_the_rerun(template, tmp_path):
    # how long a whole export takes, to spread the random kills over it
    ws = _fresh(template, tmp_path / "calibrate")
    t0 = time.monotonic()
    res = _run(ws)
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    _assert_one_export(ws, "uninterrupted")

    rng = random.Random(15)
    plan = ["recorded", "temporary", "file"] * 2 + [
        rng.uniform(0.3 * took, 1.1 * took) for _ in range(3)
    ]
    seen = []
    for n, point in enumerate(plan):
        ws = _fresh(template, tmp_path / f"try{n}")
        proc = subprocess.Popen(
            [sys.executable, *EXPORT, "--workspace", str(ws)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if isinstance(point, float):
            try:
                proc.wait(timeout=point)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        else:
            _watch(proc, ws, point)
        state = _state_after_kill(ws)
        seen.append((point if isinstance(point, str) else f"{point:.2f}s", state))
        res = _run(ws)
        assert res.returncode == 0, (point, res.stderr)
        if state in ("recorded", "written"):
            assert "finished export 1, interrupted earlier" in res.stdout.replace("\n", " "), (
                res.stdout
            )
        _assert_one_export(ws, f"{point} -> {state}")
        res = _run(ws)  # and once more: nothing new, still one file
        assert res.returncode == 0 and "nothing to export" in res.stdout, res.stdout
        _assert_one_export(ws, f"{point} -> {state}, second rerun")
    print("kill point -> state:", seen)
    states = {s for _, s in seen}
    # the kills reached the export in the middle, not only before or after it
    assert states & {"recorded", "written"}, seen


# --- score snapshots ---------------------------------------------------------------------------


def _scored(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr


def _which(scores: pd.DataFrame, refs: dict[int, pd.DataFrame]) -> int:
    """The horizon whose reference run these scores are."""
    got = scores.sort_values("customer_id")["expected_orders"].to_numpy()
    hits = [
        h
        for h, ref in refs.items()
        if len(ref) == len(got)
        and np.allclose(
            ref.sort_values("customer_id")["expected_orders"].to_numpy(), got, rtol=1e-6
        )
    ]
    assert len(hits) == 1, hits
    return hits[0]


@pytest.mark.slow
def test_a_rescore_killed_at_any_moment_never_leaves_new_params_next_to_old_scores(tmp_path):
    from tools.demo.store import generate_store

    store = tmp_path / "store"
    generate_store(store, customers=1500, seed=4)
    base = [
        sys.executable,
        "-m",
        "agent.cli.main",
        "score",
        "--store",
        str(store),
        "--model",
        "bgnbd",
        "--as-of",
        "2026-06-30",
    ]
    refs, day = {}, "2026-06-30"
    for h in (365, 90):  # the two snapshots a kill may leave: the old one and the new one
        ref_ws = tmp_path / f"ref{h}"
        t0 = time.monotonic()
        _scored([*base, "--horizon-days", str(h), "--workspace", str(ref_ws)])
        took = time.monotonic() - t0
        refs[h] = load_scores(Workspace.at(ref_ws), day)[0]
    params_file = lambda ws: ws / "scores" / f"params_{day}.json"  # noqa: E731
    first = tmp_path / "first"
    _scored([*base, "--horizon-days", "365", "--workspace", str(first)])
    old_params = params_file(first).read_text()

    rng = random.Random(7)
    seen = []
    for n in range(6):
        ws = tmp_path / f"try{n}"
        shutil.copytree(first, ws)
        proc = subprocess.Popen(
            [*base, "--horizon-days", "90", "--workspace", str(ws)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        scores_dir = ws / "scores"
        if n % 2 == 0:  # the moment the re-score starts writing the snapshot
            while (
                proc.poll() is None
                and not any(scores_dir.glob("*.tmp"))
                and params_file(ws).read_text() == old_params
            ):
                pass
            delay = rng.choice([0.0, rng.uniform(0, 0.01)])
            time.sleep(delay)
        else:  # a random moment of the whole run
            delay = rng.uniform(0.5 * took, 1.05 * took)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # on disk, before anything reads it: parameters of the new run only with its scores
        on_disk = json.loads(params_file(ws).read_text())["horizon_days"]
        w = Workspace.at(ws)
        assert list_snapshots(w) == [day]
        scores, params = load_scores(w, day)
        h = _which(scores, refs)
        assert params["horizon_days"] == h, (n, h, params["horizon_days"])
        assert on_disk in (h, 365), (n, on_disk, h)  # never the new params next to the old scores
        assert (
            json.loads(params_file(ws).read_text())["horizon_days"] == h
        )  # and the copy is right again
        seen.append((n, f"{delay:.3f}s", on_disk, h))
    print("try, delay, params on disk, scores:", seen)
    res = subprocess.run(
        [*base, "--horizon-days", "90", "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    scores, params = load_scores(Workspace.at(ws), day)
    assert _which(scores, refs) == 90 and params["horizon_days"] == 90
    assert not list((ws / "scores").glob("*.tmp"))


def test_an_export_whose_file_cannot_be_written_is_undone(template, tmp_path, monkeypatch):
    """A failed write (disk full, a folder in the way) leaves no file and no export: the drafts
    wait for the next export, which writes them once."""
    import agent.approvals.export

    store, _ = template
    ws = _fresh(template, tmp_path / "ws")
    q = open_queue(ws)
    customers = pd.read_csv(store / "customers.csv", dtype=str)

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(agent.approvals.export, "atomic_csv", full)
    with pytest.raises(OSError, match="No space"):
        q.export(customers, exports_dir=ws / "exports", actor="Maria")
    assert q.exports() == [] and all(d.status == "approved" for d in q.list_drafts())
    monkeypatch.undo()
    res = q.export(customers, exports_dir=ws / "exports", actor="Maria")
    assert len(res.draft_ids) == N_DRAFTS and len(pd.read_csv(res.path)) == N_DRAFTS
    [exp] = q.exports()
    assert (
        isinstance(exp, ExportRow)
        and exp.completed_at is not None
        and res.path == q.export_file(exp)
    )
