"""Shared fixtures. Nothing here reaches the network; every workspace is a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.builders import SHARED_DATA

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """A fresh workspace; the app's default (.retention) is pointed here too."""
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("RETENTION_WORKSPACE", str(ws))
    return ws


@pytest.fixture
def online_retail_csv() -> Path:
    path = SHARED_DATA / "online_retail_lines_sample.csv"
    if not path.exists():
        pytest.skip(f"the shared Online Retail sample is not at {path}")
    return path


_SESSION_ENV = {k: v for k, v in os.environ.items() if k.startswith("RETENTION_")}


def _restore_retention_environment() -> None:
    for k in [k for k in os.environ if k.startswith("RETENTION_") and k not in _SESSION_ENV]:
        del os.environ[k]
    os.environ.update(_SESSION_ENV)


@pytest.fixture(autouse=True)
def _retention_environment_restored():
    """A command run in-process (`agent.cli.main.main`) may set RETENTION_* variables for its run
    (e.g. --currency), also inside a module-scoped fixture: each test starts from, and leaves,
    the environment the test session started with."""
    _restore_retention_environment()
    yield
    _restore_retention_environment()
