"""The real-store eval's report: the store x step and store x invariant tables, then per store
what was loaded, what the file says, the rejected rows by reason, the drafts, who was held back,
the export and every failure (`render`, Markdown), and the results as JSON (`jsonable`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from evals.quality.real_stores.results import Check, Step, StoreResult, short
from evals.quality.real_stores.stores import CENT, CHECKS, FULL_STEPS, QUICK_STEPS


def render(results: list[StoreResult], *, quick: bool) -> str:
    """The whole report: the two tables, a section per store and the verdict line."""
    steps = QUICK_STEPS if quick else FULL_STEPS
    width = max([len(r.name) for r in results] + [5])
    lines = ["Real stores, " + ("quick" if quick else "full") + " run", ""]
    lines += _table(results, steps, width, lambda r, s: r.steps.get(s, Step("-")).status)
    lines.append("")
    lines += _table(results, CHECKS, width, lambda r, k: r.checks.get(k, Check("-")).status)
    for r in results:
        lines += ["", f"## {r.name} ({r.seconds:.1f} s)", *_store_lines(r)]
    failing = [r.name for r in results if r.failures()]
    lines += [
        "",
        f"{len(results) - len(failing)} of {len(results)} stores pass every invariant"
        + (f"; failing: {', '.join(failing)}" if failing else "."),
    ]
    return "\n".join(lines)


def _table(
    results: list[StoreResult],
    columns: Sequence[str],
    width: int,
    cell: Callable[[StoreResult, str], str],
) -> list[str]:
    """A Markdown table, one row per store, one column per step or check."""
    lines = ["| store | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [
        f"| {r.name:<{width}} | " + " | ".join(cell(r, c) for c in columns) + " |" for r in results
    ]
    return lines


def _store_lines(r: StoreResult) -> list[str]:
    """One store's section: its figures, then what failed or did not apply."""
    i = r.info
    lines = _loaded_lines(i) + _file_lines(i.get("file") or {})
    if i.get("expected_error"):
        lines.append(f"- the eval could not read the file: {i['expected_error']}")
    lines += _rejected_lines(i)
    lines += _drafts_lines(i)
    if i.get("held_back"):
        lines.append("- held back: " + "; ".join(i["held_back"]))
    if i.get("export"):
        lines.append("- export: " + "; ".join(i["export"]))
    if i.get("backtest"):
        lines.append(f"- backtest run with {i['backtest']}")
    lines += [f"- note: {note}" for note in i.get("notes") or []]
    lines += _failure_lines(r)
    if "seconds" in i:
        lines.append("- seconds: " + ", ".join(f"{k} {v}" for k, v in i["seconds"].items()))
    return lines


def _loaded_lines(i: dict[str, Any]) -> list[str]:
    """What the loader gave: customers, orders, revenue and currency."""
    if "customers" not in i:
        return []
    cur = i.get("currency") or "no currency"
    orders = f"{i['orders']:,}" if i.get("orders") is not None else "?"
    return [
        f"- loaded: {i['customers']:,} customers, {orders} orders, revenue {i['revenue']:,.2f} {cur}"
    ]


def _file_lines(f: dict[str, Any]) -> list[str]:
    """What the file says (the eval's own reading), with its notes."""
    if not f:
        return []
    merch = (
        f" (merchandise, without shipping, tax and tips: {f['merchandise']:,.2f})"
        if f.get("merchandise") is not None
        else ""
    )
    if f.get("unusable"):
        lines = [
            f"- the file ({f['currency'] or 'no Currency column'}) cannot be a scored store: "
            f"{f['unusable']}"
        ]
    else:
        lines = [
            f"- the file: revenue {f['revenue']:,.2f}, of which with a customer "
            f"{f['customer_revenue']:,.2f}{merch} ({f['currency'] or 'no Currency column'})"
        ]
    return lines + [f"  - {note}" for note in f.get("notes") or []]


def _rejected_lines(i: dict[str, Any]) -> list[str]:
    """The rejected rows by reason, most first, with their revenue where it is a cent or more."""
    rejected = i.get("rejected")
    if rejected is None:
        return []
    if not rejected:
        return ["- rejected rows: none"]
    acc = i.get("accounting")
    parts = []
    for k, v in sorted(rejected.items(), key=lambda kv: -kv[1]):
        money = acc.by_reason.get(k) if acc else None
        parts.append(
            f"{k}: {v:,}"
            + (f" ({money[1]:,.2f} of revenue)" if money and abs(money[1]) >= CENT else "")
        )
    return ["- rejected rows by reason: " + "; ".join(parts)]


def _drafts_lines(i: dict[str, Any]) -> list[str]:
    """The drafts queued, by state and by campaign, and how many the eval approved."""
    d = i.get("drafts")
    if d is None:
        return []
    camps = i.get("drafts_by_campaign") or {}
    return [
        "- drafts queued: "
        + (", ".join(f"{v} {k}" for k, v in d.items()) or "none")
        + (f" (by campaign: {', '.join(f'{k} {v}' for k, v in camps.items())})" if camps else "")
        + (f"; {i['approved']} approved by the eval" if i.get("approved") else "")
    ]


def _failure_lines(r: StoreResult) -> list[str]:
    """The steps that failed or did not apply, then the failed checks (one line per detail)."""
    lines = [
        f"- step {k}: {s.status}: {s.reason}"
        for k, s in r.steps.items()
        if s.status in ("FAIL", "n/a")
    ]
    same: dict[str, list[str]] = {}
    for k, ch in r.checks.items():
        if ch.status == "FAIL" and k != "every step ok":  # the steps are listed just above
            same.setdefault(ch.detail, []).append(k)
    lines += [f"- check {', '.join(ks)}: FAIL: {short(detail, 600)}" for detail, ks in same.items()]
    return lines


def jsonable(results: list[StoreResult]) -> list[dict]:
    """The results as plain data for `--json` (the accounting without its row sets)."""
    out = []
    for r in results:
        d = asdict(r)
        acc = r.info.get("accounting")
        if acc is not None:
            d["info"]["accounting"] = {
                "rejected_revenue": acc.rejected_revenue,
                "by_reason": acc.by_reason,
                "unmatched": acc.unmatched,
            }
        out.append(d)
    return out
