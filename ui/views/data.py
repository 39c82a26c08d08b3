"""The Data tab's load report: rows read, accepted and rejected per file, and its summary line."""

from __future__ import annotations

import pandas as pd

LOAD_HEADINGS = ["File", "Kind", "Rows read", "Accepted", "Rejected", "Why rejected", "Warnings"]


def load_report_table(reports) -> pd.DataFrame:
    """One row per file: rows read / accepted / rejected and where the rejected rows are."""
    rows = []
    for r in reports:
        d = r.as_dict() if hasattr(r, "as_dict") else dict(r)
        rows.append(
            {
                "file": d["file"].split("/")[-1],
                "kind": d["kind"],
                "rows_read": d["rows_read"],
                "rows_accepted": d["rows_accepted"],
                "rows_rejected": d["rows_rejected"],
                "reasons": "; ".join(f"{k}: {v}" for k, v in (d.get("reasons") or {}).items()),
                "warnings": "; ".join(d.get("warnings") or []),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "file",
            "kind",
            "rows_read",
            "rows_accepted",
            "rows_rejected",
            "reasons",
            "warnings",
        ],
    )


def load_summary(reports) -> str:
    total = sum(r.rows_read for r in reports)
    acc = sum(r.rows_accepted for r in reports)
    rej = sum(r.rows_rejected for r in reports)
    return (
        f"Loaded {len(reports)} file(s): {total:,} rows read, {acc:,} accepted, {rej:,} rejected."
    )


def load_report_view(reports) -> pd.DataFrame:
    """`load_report_table` as shown."""
    t = load_report_table(reports)
    t.columns = LOAD_HEADINGS
    return t
