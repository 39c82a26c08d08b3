"""Fixtures of the assistant's tests: the small demo store several modules run on."""

from __future__ import annotations

import pytest

from tests.builders import build_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(store folder, workspace) of the session's demo store, built once (tests.builders)."""
    return build_demo(tmp_path_factory)
