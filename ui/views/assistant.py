"""The Assistant tab as the merchant sees it: the mode banner, the chat's messages (the answer,
its folded tool trace, the "Working…" steps, the link to the drafts a turn queued) and the first
screen (the greeting, the start-up bar, the cards of the store's numbers)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from agent.display import date_words, money, percent, plain_words
from ui.views.common import md_escape
from ui.views.words import codes_in_words, merchant_words, with_details

STARTERS = [
    "Give me an overview of my store",
    "Who is most at risk of churning?",
    "Summarise my segments",
    "Draft messages for the top 3 at-risk customers",
]


def mode_banner(mode: str, model: str | None) -> str:
    """The banner naming the mode in use."""
    if mode == "llm":
        return (
            f"**Mode: language model `{model or 'configured model'}`** (customer ids and features only; "
            "no personal data leaves this machine)."
        )
    return (
        "**Mode: offline: no language model in use.** Answers come from the local planner and the "
        "store's own numbers."
    )


def _short(value, limit: int = 1500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, default=str)
    return text if len(text) <= limit else text[:limit] + " …"


def message_text(content) -> str:
    """The text of a chat message: Gradio 6 sends content as a list of parts ({"type": "text", ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(message_text(c) for c in content).strip()
    return "" if content is None else str(content)


def trace_markdown(trace) -> str:
    """The tools behind an answer: one block per call (tool, arguments, result)."""
    if not trace:
        return "No tools were called."
    parts = []
    for i, step in enumerate(trace, 1):
        d = step.to_dict() if hasattr(step, "to_dict") else dict(step)
        mark = "ok" if d.get("ok", True) else "error"
        parts.append(
            f"**{i}. `{d['tool']}`** ({mark}, {d.get('seconds', 0):.2f} s)\n\n"
            f"args: `{json.dumps(d.get('args') or {}, default=str)}`\n\n"
            f"```json\n{_short(d.get('result'))}\n```"
        )
    return "\n\n".join(parts)


def queued_draft_ids(answer) -> list[int]:
    """The ids of the drafts an answer queued for approval (every successful queue_drafts call)."""
    ids: list[int] = []
    for s in answer.trace if answer is not None else []:
        if s.tool == "queue_drafts" and getattr(s, "ok", True) and isinstance(s.result, dict):
            ids += [int(i) for i in s.result.get("draft_ids") or [] if int(i) not in ids]
    return ids


def open_drafts_label(ids: list[int]) -> str:
    """The Assistant tab's link to the drafts a chat turn queued."""
    return (
        "Open this draft in Approvals"
        if len(ids) == 1
        else f"Open these {len(ids)} drafts in Approvals"
    )


def answer_messages(answer) -> list[dict]:
    """Chatbot messages for one answer: the text, then a collapsible 'tools used' section."""
    # the scoring warnings' flags and column names in words; any other flag or formula in a fold
    text, details = merchant_words(codes_in_words(plain_words(answer.text)))
    text = with_details(text, details)
    if queued_draft_ids(answer):
        text += (
            "\n\nThe drafts are waiting in the Approvals tab (the button under the chat opens "
            "them); nothing is sent until a person approves."
        )
    msgs: list[dict[str, Any]] = [{"role": "assistant", "content": text}]
    if answer.trace:
        names = ", ".join(dict.fromkeys(s.tool for s in answer.trace))
        msgs.append(
            {
                "role": "assistant",
                "content": trace_markdown(answer.trace),
                "metadata": {"title": f"Tools used: {names}", "status": "done"},
            }
        )
    return msgs


def working_messages(statuses: list[str], text: str = "") -> list[dict]:
    """Chatbot messages while an answer is being made: a collapsible "Working…" section with
    one line per step (tool called, tool done), then the answer text so far, if any."""
    msgs = [
        {
            "role": "assistant",
            "content": "\n".join(f"- {s}" for s in statuses) or "- thinking",
            "metadata": {
                "title": f"Working: {statuses[-1] if statuses else 'thinking'}",
                "status": "pending",
            },
        }
    ]
    if text:
        msgs.append({"role": "assistant", "content": codes_in_words(plain_words(text))})
    return msgs


WHAT_IT_DOES = (
    "- **Ask** who is about to stop buying, what they are worth and why, in your own words.\n"
    "- **Customers & segments**: every customer scored, filtered by segment, value, reason "
    "and consent.\n"
    "- **Approvals**: personal messages drafted for the customers most worth keeping; "
    "**nothing is sent** until you approve and export them.\n"
    "- **Weekly brief**: this week's numbers, charts and what to do next."
)


def greeting(store_name: str | None, ready: bool, customers: int | None = None) -> str:
    """The first screen's greeting: who it is for, what it can do, and whether the store's
    scores are ready."""
    who = f"**{md_escape(store_name)}**" if store_name else "your store"
    state = (
        f"Your {customers:,} customers are scored: ask away."
        if ready and customers is not None
        else "Your customers are being scored in the background (see the bar below); you "
        "can look around meanwhile."
    )
    return f"### Hello! I am the retention analyst for {who}.\n{state}\n\n{WHAT_IT_DOES}"


def startup_bar(fraction: float, step: str, *, done: bool = False, error: str | None = None) -> str:
    """The start-up progress bar (HTML): how far the scoring is and the step it is at."""
    pct = 100 if done else max(0, min(99, round(fraction * 100)))
    if error:
        return (
            f'<div id="startup-state" data-state="error" role="status">'
            f"{html.escape(re.sub(r'<[^>]+>|[*]', '', error))}</div>"
        )
    text = step if done else f"{step} ({pct}%)"
    colour = "#2e7d32" if done else "#1565c0"
    return (
        f'<div id="startup-state" data-state="{"ready" if done else "working"}" role="status">'
        f'<div style="background:#e3e8ef;border-radius:6px;height:10px;overflow:hidden" '
        f'role="progressbar" aria-valuenow="{pct}" aria-valuemin="0" aria-valuemax="100">'
        f'<div style="width:{pct}%;height:10px;background:{colour}"></div></div>'
        f'<div style="font-size:13px;margin-top:4px">{html.escape(text)}</div></div>'
    )


def store_numbers(n: dict | None, currency: str | None = None) -> str:
    """The row of the store's numbers (HTML cards): active customers, at risk, value at stake,
    drafts waiting, the last campaign's result. `n` from ui.handlers.store_numbers; None
    while the store is being scored."""
    if not n:
        cards = [
            ("Active customers", "…", "being scored"),
            ("At risk", "…", ""),
            ("Value at stake", "…", ""),
            ("Drafts waiting", "…", ""),
            ("Last campaign", "…", ""),
        ]
    else:
        camp = n.get("last_campaign") or {}
        cards = [
            (
                "Active customers",
                f"{n['active']:,}",
                f"of {n['customers']:,}, bought in the last 90 days",
            ),
            (
                "At risk",
                f"{n['at_risk']:,}",
                "likely not to buy again in the next 12 months"
                if n.get("horizon_days", 365) == 365
                else f"likely not to buy in {n.get('horizon_days')} days",
            ),
            (
                "Value at stake",
                money(n["value_at_stake"], currency, decimals=0),
                "what the customers at risk are expected to spend, weighed by the risk",
            ),
            ("Drafts waiting", f"{n['drafts_waiting']:,}", "for your approval in Approvals"),
            (
                "Last campaign",
                camp.get("headline", "none yet"),
                camp.get("detail", "no campaign exported yet"),
            ),
        ]
    body = "".join(
        f'<div class="store-number" style="border:1px solid #ddd;border-radius:8px;padding:8px 12px;'
        f'min-width:150px;flex:1"><div style="font-size:12px;color:#555">{html.escape(t)}</div>'
        f'<div style="font-size:22px;font-weight:600">{html.escape(v)}</div>'
        f'<div style="font-size:12px;color:#555">{html.escape(d)}</div></div>'
        for t, v, d in cards
    )
    return f'<div style="display:flex;flex-wrap:wrap;gap:8px">{body}</div>'


def campaign_headline(row: dict | None) -> dict:
    """The last campaign's result in words: {"headline", "detail"}."""
    if not row:
        return {}
    start = date_words(row.get("start"))
    rate_t, rate_c = row.get("treated_rate"), row.get("control_rate")
    uplift = row.get("uplift")
    if row.get("control", 0) and uplift is not None and uplift == uplift:
        headline = f"{uplift * 100:+.1f} pts"
        detail = (
            f"week of {start}: {percent(rate_t)} of contacted customers bought again vs "
            f"{percent(rate_c)} of the control group"
        )
    else:
        headline = percent(rate_t)
        detail = (
            f"week of {start}: share of contacted customers who bought again (no control group)"
        )
    if not row.get("complete", True):
        detail += "; still running"
    return {"headline": headline, "detail": detail}
