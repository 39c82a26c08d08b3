"""The shared approval queue on a real PostgreSQL server (issue 15): the README promises
`DATABASE_URL=postgresql://...`; here it is tested against a throwaway cluster that the tests
start themselves (Debian's `postgresql`, initdb + pg_ctl on a free port, as an unprivileged
user when run as root), installed by .ci/run when missing. Skipped when no server binaries or
no driver (psycopg) are there.

Two approvers racing on the same drafts, an export racing the approvals, and an export killed
in the middle: each draft approved and exported exactly once, and the audit log complete.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tests.builders import free_port

pytest.importorskip("psycopg")

from sqlalchemy import create_engine, text  # noqa: E402

from agent.approvals.errors import ApprovalError  # noqa: E402
from agent.approvals.queue import open_queue  # noqa: E402
from agent.outreach.drafts import Draft  # noqa: E402
from agent.outreach.plan import Plan  # noqa: E402

N = 60


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def server():
    """A throwaway PostgreSQL cluster on a free port: its base URL (trust auth on 127.0.0.1)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (Debian's postgresql) are not installed")
    root = Path(tempfile.mkdtemp(prefix="retention-pg-", dir="/tmp"))
    data, port = root / "data", free_port()
    as_user = {}
    if os.geteuid() == 0:  # the server refuses to run as root: run it as nobody
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid}
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    run = lambda *cmd: subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,  # noqa: E731
        cwd=root,
        **as_user,
    )
    r = run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {r.stderr.strip()[-300:]}")
    r = run(
        pg_ctl,
        "-D",
        str(data),
        "-l",
        str(root / "log"),
        "-w",
        "-t",
        "60",
        "start",
        "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
    )
    if r.returncode != 0:
        log = (root / "log").read_text(errors="replace")[-500:] if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {r.stderr.strip()} {log}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(server, monkeypatch):
    """A new database on the server for one test; DATABASE_URL points at it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        f"{server}/postgres".replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{server}/{name}"
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _store(root: Path) -> Path:
    store = root / "store"
    store.mkdir()
    ids = [f"C{i:03d}" for i in range(N)]
    pd.DataFrame(
        {"customer_id": ids, "order_id": ids, "order_date": "2026-01-05", "amount": 10.0}
    ).to_csv(store / "orders.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ids,
            "first_name": "Ann",
            "email": [f"{c}@example.com" for c in ids],
            "accepts_email": True,
        }
    ).to_csv(store / "customers.csv", index=False)
    return store


def _campaign(q, store: Path) -> list[int]:
    ids = [f"C{i:03d}" for i in range(N)]
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
    return q.add_campaign(
        plan,
        [
            Draft(
                "week",
                c,
                "email",
                "Hi {first_name}",
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


def _race(*jobs):
    barrier, errors = threading.Barrier(len(jobs)), []

    def run(job):
        barrier.wait()
        try:
            job()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_the_queue_runs_on_postgresql_with_the_append_only_audit_log(db_url, tmp_path):
    q = open_queue(tmp_path / "ws", url=db_url)
    assert q.engine.dialect.name == "postgresql"
    ids = _campaign(q, _store(tmp_path))
    q.add_person("Maria")
    q.approve(ids[:2], actor="Maria")
    with pytest.raises(Exception, match="append-only"), q.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'x'"))
    with pytest.raises(ApprovalError, match="only a person"):
        q.approve(ids[2:3], actor="gpt-4o-mini")
    # a second process on the same database: the schema is there
    open_queue(tmp_path / "ws", url=db_url)


def test_two_approvers_racing_on_the_same_drafts_approve_each_once(db_url, tmp_path):
    q = open_queue(tmp_path / "ws", url=db_url)
    ids = _campaign(q, _store(tmp_path))
    q.add_person("Maria")
    q.add_person("Bo", by="Maria")
    a, b = (
        open_queue(tmp_path / "ws", url=db_url),
        open_queue(tmp_path / "ws", url=db_url),
    )  # two sessions, two engines
    done = {"Maria": [], "Bo": []}

    def approver(queue, who, order):
        def job():
            for i in order:
                try:
                    done[who] += [t.draft_id for t in queue.approve([i], actor=who) if t.changed]
                except ApprovalError as exc:  # the other one's transaction won: nothing to do
                    assert "changed meanwhile" in str(exc)

        return job

    errors = _race(approver(a, "Maria", ids), approver(b, "Bo", ids[::-1]))
    assert not errors, errors
    assert sorted(done["Maria"] + done["Bo"]) == ids  # each draft approved once, by one of them
    approved = [r.draft_id for r in q.audit() if r.action == "approved"]
    assert sorted(approved) == ids
    assert all(q.get(i).decided_by in ("Maria", "Bo") and q.get(i).state == "approved" for i in ids)


def test_an_export_racing_the_approvals_exports_each_draft_once(db_url, tmp_path):
    from agent.reports.campaigns import export_approved

    ws = tmp_path / "ws"
    q = open_queue(ws, url=db_url)
    ids = _campaign(q, _store(tmp_path))
    q.add_person("Maria")
    approving, exporting = open_queue(ws, url=db_url), open_queue(ws, url=db_url)
    results, stop = [], threading.Event()

    def approve():
        try:
            for i in ids:
                approving.approve([i], actor="Maria")
        finally:
            stop.set()

    def export():
        while not stop.is_set():
            results.append(export_approved(ws, exporting, actor="Maria"))

    errors = _race(approve, export, export)
    assert not errors, errors
    results.append(export_approved(ws, q, actor="Maria"))  # whatever was approved last
    files = [r.path for r in results if r.draft_ids]
    assert len(set(files)) == len(files)  # no file written twice
    in_files = sorted(i for f in files for i in pd.read_csv(f)["draft_id"])
    assert in_files == ids  # each approved draft in exactly one file
    assert sorted(r.draft_id for r in q.audit() if r.action == "exported") == ids
    assert sorted(r.draft_id for r in q.audit() if r.action == "approved") == ids
    assert all(e.completed_at is not None for e in q.exports())


def test_an_export_killed_in_the_middle_is_finished_once(db_url, tmp_path):
    ws = tmp_path / "ws"
    q = open_queue(ws, url=db_url)
    ids = _campaign(q, _store(tmp_path))
    q.add_person("Maria")
    q.approve(ids, actor="Maria")
    probe = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    cmd = [
        sys.executable,
        "-m",
        "agent.cli.main",
        "approvals",
        "export",
        "--by",
        "Maria",
        "--workspace",
        str(ws),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while (
        proc.poll() is None and time.monotonic() - t0 < 120
    ):  # kill it the moment the export is recorded
        with probe.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM exports")).scalar():
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait()
    probe.dispose()
    [exp] = q.exports()
    killed_early = exp.completed_at is None
    print("killed before the export was complete:", killed_early)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    if killed_early:
        assert "finished export" in res.stdout.replace("\n", " ")
    files = sorted((ws / "exports").glob("export_*.csv"))
    assert len(files) == 1 and sorted(pd.read_csv(files[0])["draft_id"]) == ids
    [exp] = q.exports()
    assert exp.completed_at is not None and q.export_file(exp) == files[0].resolve()
    assert sorted(r.draft_id for r in q.audit() if r.action == "exported") == ids
    assert all(q.get(i).export_id == exp.id for i in ids)
