"""The Approvals tab: the queue as rows, the draft picker's choices, one draft's detail and
its preview as the customer will see it, and the campaign results beside the queue."""

from __future__ import annotations

import html

import pandas as pd

from agent.display import STATUS_LABEL, channel_label, date_words, label, money
from ui.views.common import empty, md_escape, money_head, pct_col
from ui.views.words import codes_in_words, reason_parts, with_details

DRAFT_COLUMNS = [
    "id",
    "status",
    "customer_id",
    "channel",
    "subject",
    "playbook_id",
    "expected_value",
    "flags",
    "campaign_id",
]


DRAFT_HEADINGS = [
    "Draft",
    "Status",
    "Customer",
    "Name",
    "Email",
    "Channel",
    "Subject",
    "Guardrail flags",
    "Expected value",
    "Playbook",
]


CAMPAIGN_HEADINGS = [
    "Campaign",
    "Week of",
    "Contacted",
    "Bought again",
    "Control bought again",
    "Difference",
    "Status",
]


def parse_ids(text) -> list[int]:
    """Draft ids from the Approvals filter box ("3, 4 5"); anything that is not a number is ignored."""
    return [int(t) for t in str(text or "").replace(",", " ").split() if t.isdigit()]


def flag_words(flags: list[dict] | None) -> str:
    """A draft's guardrail flags on one line: "[warn] message; …"."""
    return "; ".join(
        f"[{f.get('severity', '?')}] {f.get('message', f.get('rule', ''))}" for f in flags or []
    )


def _status_words(status: str | None) -> str | None:
    """A draft's state in the merchant's words (agent.display.STATUS_LABEL), else as it is."""
    return STATUS_LABEL.get(status or "", status)


def drafts_table(drafts: list[dict]) -> pd.DataFrame:
    """The approval queue as rows (draft dicts from DraftRow.to_dict())."""
    rows = [
        {**{k: d.get(k) for k in DRAFT_COLUMNS}, "flags": flag_words(d.get("flags"))}
        for d in drafts
    ]
    df = pd.DataFrame(rows, columns=DRAFT_COLUMNS)
    if len(df):
        df["expected_value"] = df["expected_value"].astype(float).round(2)
    return df


def draft_detail(d: dict, currency: str | None = None, person: dict | None = None) -> str:
    """A draft's recipient (`person`: shown here, on this machine, never to a model), reason,
    citation (playbook), offer and guardrail flags, as Markdown; the plan's calculation of
    the expected value folded away under "Details"."""
    words, calc = reason_parts(codes_in_words(str(d.get("reason") or "")))
    status = _status_words(d.get("status"))
    lines = [f"### Draft {d['id']}: {status}"]
    if person:
        name = " ".join(
            str(person.get(k) or "").strip() for k in ("first_name", "last_name")
        ).strip()
        contact = person.get("phone") if d.get("channel") == "sms" else person.get("email")
        lines.append(
            f"- **To:** {md_escape(name or 'no name')}"
            + (f", {md_escape(contact)}" if contact else "")
        )
    book = playbook_words(d) or "–"
    lines += [
        f"- Customer **{d['customer_id']}** by {channel_label(d['channel'])} (campaign {d['campaign_id']})",
        f"- **Why:** {words or '–'}",
        f"- **Playbook (citation):** {book}"
        + (f" (`{d['playbook_id']}`)" if d.get("playbook_id") else ""),
        f"- **Offer:** {d.get('offer') or 'none'}",
        f"- **Expected value:** {money(float(d.get('expected_value') or 0), currency)}",
    ]
    if d.get("decided_by"):
        lines.append(f"- Decided by {d['decided_by']} on {date_words(d.get('decided_at'))}")
    flags = d.get("flags") or []
    lines.append("\n**Guardrail flags**")
    lines += [f"- **{f.get('severity', '?')}**: {f.get('message', '')}" for f in flags] or [
        "- none"
    ]
    return with_details("\n".join(lines), calc)


def drafts_view(
    drafts: list[dict], people: dict | None = None, currency: str | None = None
) -> pd.DataFrame:
    """The approval queue as shown: each draft with the customer's name and email (`people`:
    draft id -> its customer's personal row; shown here, on this machine, never given to a model)."""
    people = people or {}
    rows = []
    for d in drafts:
        p = people.get(d.get("id")) or {}
        name = " ".join(str(p.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        rows.append(
            {
                "Draft": d.get("id"),
                "Status": _status_words(d.get("status")),
                "Customer": d.get("customer_id"),
                "Name": name,
                "Email": str(p.get("email") or ""),
                "Channel": channel_label(d.get("channel")),
                "Subject": d.get("subject"),
                "Guardrail flags": flag_words(d.get("flags")),
                money_head("Expected value", currency): round(
                    float(d.get("expected_value") or 0), 2
                ),
                "Playbook": playbook_words(d),
            }
        )
    heads = [h if h != "Expected value" else money_head(h, currency) for h in DRAFT_HEADINGS]
    return pd.DataFrame(rows, columns=heads)


def playbook_words(d: dict) -> str:
    """A draft's playbook as a title: its own title, else its id in words ("Win back lapsed")."""
    title = str(d.get("playbook_title") or "").strip()
    if title:
        return title
    text = label(d.get("playbook_id")).replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def draft_choices(drafts: list[dict], people: dict | None = None) -> list[tuple[str, int]]:
    """The draft picker's choices: (words, id) for each draft shown."""
    people = people or {}
    out = []
    for d in drafts:
        p = people.get(d.get("id")) or {}
        who = str(p.get("first_name") or "").strip() or d.get("customer_id")
        out.append(
            (
                f"Draft {d['id']}: {who} ({d.get('customer_id')}), {channel_label(d.get('channel'))}, "
                f"{_status_words(d.get('status'))}",
                int(d["id"]),
            )
        )
    return out


def draft_preview(subject: str, body: str, channel: str, to: str = "") -> str:
    """A draft as the customer will see it (HTML): the subject, then the message with its
    paragraphs; every character of the text shown as text."""
    paras = [p for p in str(body or "").split("\n\n") if p.strip()]
    text = "".join(
        f'<p style="margin:0 0 10px 0">{html.escape(p).replace(chr(10), "<br>")}</p>' for p in paras
    )
    head = (
        ""
        if channel == "sms"
        else f'<div style="font-weight:600;margin-bottom:8px">{html.escape(subject or "")}</div>'
    )
    to_line = (
        f'<div style="font-size:12px;color:#555;margin-bottom:6px">To: {html.escape(to)} '
        f"({html.escape(channel_label(channel))})</div>"
        if to
        else ""
    )
    return (
        f'<div class="draft-preview" style="border:1px solid #ddd;border-radius:8px;padding:12px;'
        f'background:#fff;color:#111;max-width:640px">{to_line}{head}{text}</div>'
    )


def campaigns_view(results: pd.DataFrame) -> pd.DataFrame:
    """Campaign results (agent.reports.campaigns.all_campaign_results) as shown, newest first."""
    if results is None or not len(results):
        return empty(CAMPAIGN_HEADINGS)
    r = results.iloc[::-1]
    diff = [
        ("–" if not (c and u == u) else f"{u * 100:+.1f} pts ({lo * 100:+.1f} to {hi * 100:+.1f})")
        for c, u, lo, hi in zip(r["control"], r["uplift"], r["uplift_low"], r["uplift_high"])
    ]
    contacted = [
        int(c) if c == c and c is not None else int(t) for c, t in zip(r["contacted"], r["treated"])
    ]
    return pd.DataFrame(
        {
            "Campaign": r["campaign_id"],
            "Week of": r["start"].map(date_words),
            "Contacted": contacted,
            "Bought again": pct_col(r["treated_rate"], 1),
            "Control bought again": pct_col(r["control_rate"], 1),
            "Difference": diff,
            "Status": ["complete" if c else "still running" for c in r["complete"]],
        },
        columns=CAMPAIGN_HEADINGS,
    ).reset_index(drop=True)
