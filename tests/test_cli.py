"""The command line: every DESIGN.md command is listed and has --help; errors are one line
on stderr with a non-zero exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main

COMMANDS = ["demo-data", "score", "backtest", "kb", "chat", "brief", "approvals", "campaigns", "ui", "eval"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


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
    assert res.returncode == 2 and "Traceback" not in res.stderr and "--no-such-option" in res.stderr


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
    assert "10,000" in res.stdout and "7,513" in res.stdout and "2,487" in res.stdout
    assert (tmp_path / "ws" / "rejects" / "orders.csv.rejects.csv").exists()


def test_score_says_when_the_history_is_shorter_than_the_horizon(online_retail_csv, tmp_path):
    """The Online Retail sample covers 5 days: a 365-day score must say it extrapolates."""
    out, params = tmp_path / "scores.csv", tmp_path / "params.json"
    res = run("score", "--orders", str(online_retail_csv), "--out", str(out), "--params-out", str(params),
              "--workspace", str(tmp_path / "ws"))
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "Note: The order history covers 5 days" in text and "365-day horizon" in text
    import json

    import pandas as pd

    assert len(json.loads(params.read_text())["warnings"]) == 1
    assert len(pd.read_csv(out)) == 323  # one row per customer with an accepted order


def test_a_bug_is_one_line_for_the_merchant_and_a_log_for_us(tmp_path, monkeypatch, capsys):
    """An internal error (here: the loader raising something unexpected) never reaches the
    merchant as a traceback: one line saying their files are unchanged, and where the
    details for a bug report were written."""
    import tools.load

    def broken(*a, **k):
        raise RuntimeError("read 811 != accepted 745 + rejected 67")

    monkeypatch.setattr(tools.load, "load_store", broken)
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
