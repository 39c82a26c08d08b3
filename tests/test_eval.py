"""`retention eval --quick` runs inside make test: every check of the report must pass."""

from __future__ import annotations

from evals.run import run_eval


def test_quick_eval_passes_every_check(tmp_path):
    report = run_eval(quick=True, workspace=tmp_path, progress=lambda _: None)
    failed = [k for k, ok in report.checks.items() if not ok]
    assert not failed, report.markdown()
    md = report.markdown()
    for title in ("CDNOW", "demo store", "Churn reason recovery", "Retrieval", "Guardrails", "Timings"):
        assert title in md
    assert list((tmp_path / "evals").glob("report_*.md"))
