"""The command line: every DESIGN.md command is listed and has --help; errors are one line
on stderr with a non-zero exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli.main import main

COMMANDS = [
    "demo-data",
    "score",
    "backtest",
    "kb",
    "chat",
    "brief",
    "approvals",
    "campaigns",
    "ui",
    "eval",
]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_every_command():
    res = run("--help")
    assert res.returncode == 0
    for cmd in COMMANDS:
        assert cmd in res.stdout


@pytest.mark.parametrize("cmd", COMMANDS + ["summary", "approvals list", "campaigns results"])
def test_each_command_has_help(cmd, capsys):
    assert main([*cmd.split(), "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_bad_store_is_one_line_on_stderr(tmp_path):
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_text("customer_id,order_id,amount\nc1,o1,5\n")
    res = run("summary", "--store", str(shop), "--workspace", str(tmp_path / "ws"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "orders.csv" in lines[0] and "'order_date'" in lines[0]
    assert "Traceback" not in res.stderr


def test_usage_errors_exit_non_zero(tmp_path):
    res = run("summary", "--workspace", str(tmp_path))
    assert res.returncode == 2 and "--store" in res.stderr
    res = run("no-such-command")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = run("summary", "--no-such-option")
    assert (
        res.returncode == 2 and "Traceback" not in res.stderr and "--no-such-option" in res.stderr
    )


def test_global_workspace_option(tmp_path, online_retail_csv):
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_bytes(online_retail_csv.read_bytes())
    res = run("--workspace", str(tmp_path / "ws"), "summary", "--store", str(shop))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ws" / "rejects" / "orders.csv.rejects.csv").exists()


def test_summary_prints_load_report(online_retail_csv, tmp_path):
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_bytes(online_retail_csv.read_bytes())
    res = run("summary", "--store", str(shop), "--workspace", str(tmp_path / "ws"))
    assert res.returncode == 0, res.stderr
    # the lines without a CustomerID are rejected (identical line items are kept: 2 items)
    assert "10,000" in res.stdout and "7,709" in res.stdout and "2,291" in res.stdout
    assert (tmp_path / "ws" / "rejects" / "orders.csv.rejects.csv").exists()


def test_score_says_when_the_history_is_shorter_than_the_horizon(online_retail_csv, tmp_path):
    """The Online Retail sample covers 5 days: a 365-day score must say it extrapolates."""
    out, params = tmp_path / "scores.csv", tmp_path / "params.json"
    res = run(
        "score",
        "--orders",
        str(online_retail_csv),
        "--out",
        str(out),
        "--params-out",
        str(params),
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "Note: The order history covers 5 days" in text and "365-day horizon" in text
    import json

    import pandas as pd

    # and the ML model says why it was not used; the 20 customers of returns only, how scored
    warnings = json.loads(params.read_text())["warnings"]
    short, no_ml, returns = (
        next(w for w in warnings if cue in w)
        for cue in ("covers 5 days", "machine-learned model was not used", "only returns")
    )
    assert "365-day horizon" in short and "rolling-origin" in no_ml
    assert "20 customers had only returns" in returns
    # and the interval says it could not be calibrated on five days (no silent nominal interval)
    assert any("not calibrated on this store" in w for w in warnings)
    assert len(pd.read_csv(out)) == 323  # one row per customer with an accepted order


def test_a_bug_is_one_line_for_the_merchant_and_a_log_for_us(tmp_path, monkeypatch, capsys):
    """An internal error (here: the loader raising something unexpected) never reaches the
    merchant as a traceback: one line saying their files are unchanged, and where the
    details for a bug report were written."""
    import tools.ingest.load

    def broken(*a, **k):
        raise RuntimeError("read 811 != accepted 745 + rejected 67")

    monkeypatch.setattr(tools.ingest.load, "load_store", broken)
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_text("customer_id,order_id,order_date,amount\nc1,o1,2025-01-01,5\n")
    ws = tmp_path / "ws"
    assert main(["summary", "--store", str(shop), "--workspace", str(ws)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "811" not in out.err
    assert "store files are unchanged" in out.err
    (log,) = (ws / "logs").glob("error-*.log")
    assert "RuntimeError: read 811" in log.read_text()


@pytest.mark.parametrize("cmd", ["score", "backtest", "chat", "brief"])
def test_every_scoring_command_takes_the_same_model_option(cmd, tmp_path, capsys):
    """--model auto|bgnbd|ml on every command that scores (one definition, tools.models.choices),
    checked before the store is read: one line on stderr."""
    from tools.models.choices import MODELS

    assert main([cmd, "--help"]) == 0
    assert "--model" in capsys.readouterr().out
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_text("customer_id,order_id,order_date,amount\nc1,o1,2025-01-01,5\n")
    assert (
        main([cmd, "--store", str(shop), "--model", "nope", "--workspace", str(tmp_path / "ws")])
        == 2
    )
    err = " ".join(capsys.readouterr().err.split())
    assert f"--model must be one of {', '.join(MODELS)}, got 'nope'" in err


def test_chat_and_brief_score_with_the_model_asked_for(tmp_path, monkeypatch):
    """chat threads --model into its StoreSession; brief's two snapshots are scored with it
    (and a snapshot of another model is not reused)."""
    import json

    import agent.cli.chat
    from agent.assistant.session import StoreSession
    from evals.quality.cdnow import write_store

    store = write_store(tmp_path / "cdnow").parent
    ws = tmp_path / "ws"
    seen = {}

    class Quiet:
        def ask(self, message):
            return type("Answer", (), {"text": "ok", "trace": []})()

    def assistant(path, ws_, settings, *, model):
        seen["model"] = model
        return Quiet()

    monkeypatch.setattr(agent.cli.chat, "_assistant", assistant)
    assert (
        main(["chat", "--store", str(store), "--model", "bgnbd", "hi", "--workspace", str(ws)]) == 0
    )
    assert seen["model"] == "bgnbd"
    session = StoreSession(store, ws, model="bgnbd")
    assert session.params["model_requested"] == "bgnbd"
    assert session.scores["model"].str.startswith("value:bgnbd").all()

    assert main(["brief", "--store", str(store), "--model", "bgnbd", "--workspace", str(ws)]) == 0
    for day in ("1998-06-30", "1998-06-23"):  # the week's end and the week before
        params = json.loads((ws / "scores" / f"params_{day}.json").read_text())
        assert params["model_requested"] == "bgnbd" and params["store"] == str(store)
