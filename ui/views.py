"""Pure view functions: agent results in, table rows / Markdown / HTML out.

No Gradio here, so every function is testable without a browser (tests/ui/test_ui.py).
"""

from __future__ import annotations

import html
import json
import re

import pandas as pd

from agent.display import (
    STATUS_LABEL,
    channel_label,
    date_words,
    label,
    money,
    percent,
    plain_words,
    product_label,
    reason_label,
    tier_label,
)
from agent.outreach.consent import KINDS, state_column
from tools.insights.kpis import value_at_stake

STARTERS = [
    "Give me an overview of my store",
    "Who is most at risk of churning?",
    "Summarise my segments",
    "Draft messages for the top 3 at-risk customers",
]

TABLE_COLUMNS = [
    "customer_id",
    "first_name",
    "segment",
    "clv_tier",
    "predicted_clv",
    "clv_low",
    "clv_high",
    "churn_probability",
    "churn_reason",
    "orders_to_date",
    "revenue_to_date",
    "accepts_email",
    "next_best_product",
]

KPI_LABELS = [
    ("customers", "Customers", "num"),
    ("active_customers", "Active customers", "num"),
    ("repeat_rate", "Repeat rate", "pct"),
    ("revenue_week", "Revenue this week", "money"),
    ("orders_week", "Orders this week", "num"),
    ("aov_week", "Average order value", "money"),
    ("churned_this_week", "Churned this week", "num"),
    ("at_risk", "At risk", "num"),
    ("avg_clv", "Average CLV", "money"),
    ("predicted_value", "Predicted value", "money"),
]

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

ALL = "(all)"
CONSENT_FILTERS = [ALL, "email", "sms", "none", "unknown"]
"""email / sms: the customer's data says yes; none: yes on neither; unknown: a channel the data
does not say (agent.outreach.consent: unknown is not a refusal)."""


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


def parse_ids(text) -> list[int]:
    """Draft ids from the Approvals filter box ("3, 4 5"); anything that is not a number is ignored."""
    return [int(t) for t in str(text or "").replace(",", " ").split() if t.isdigit()]


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
    msgs = [{"role": "assistant", "content": text}]
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


def _fmt(value, kind: str, currency: str | None = None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "money":
        return money(value, currency, decimals=0 if abs(value) >= 100 else 2)
    return f"{value:,.0f}"


def _change(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "no change data"
    if kind == "pct":
        return f"{value * 100:+.1f} pts w/w"
    return (f"{value:+,.0f}" if abs(value) >= 1 or value == 0 else f"{value:+.2f}") + " w/w"


def kpi_cards(kpi: dict, kpi_change: dict, currency: str | None = None) -> str:
    """KPI cards (HTML) with the week-over-week change under each value; money in `currency`."""
    cards = []
    for key, heading, kind in KPI_LABELS:
        if key not in kpi:
            continue
        ch = (kpi_change or {}).get(key)
        colour = "#666" if not ch else ("#2e7d32" if ch > 0 else "#c62828")
        if key in ("churned_this_week", "at_risk") and ch:
            colour = "#c62828" if ch > 0 else "#2e7d32"
        cards.append(
            f'<div class="kpi-card" style="border:1px solid #ddd;border-radius:8px;padding:8px 12px;'
            f'min-width:140px"><div style="font-size:12px;color:#555">{html.escape(heading)}</div>'
            f'<div style="font-size:22px;font-weight:600">{html.escape(_fmt(kpi[key], kind, currency))}</div>'
            f'<div style="font-size:12px;color:{colour}">{_change(ch, kind)}</div></div>'
        )
    return '<div style="display:flex;flex-wrap:wrap;gap:8px">' + "".join(cards) + "</div>"


def filter_choices(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Dropdown choices for the customer table filters."""
    pick = lambda col: (
        [ALL] + sorted(scores[col].dropna().astype(str).unique().tolist())
        if col in scores
        else [ALL]
    )
    return {
        "segment": pick("segment"),
        "clv_tier": pick("clv_tier"),
        "churn_reason": pick("churn_reason"),
        "consent": list(CONSENT_FILTERS),
    }


ALL_WORDS = "All"
CONSENT_WORDS = {
    ALL: ALL_WORDS,
    "email": "email: yes",
    "sms": "SMS: yes",
    "none": "neither email nor SMS",
    "unknown": "consent not known",
}
LABELLERS = {
    "segment": str,
    "clv_tier": tier_label,
    "churn_reason": reason_label,
    "consent": lambda c: CONSENT_WORDS.get(c, c),
}


def labelled(kind: str, codes: list[str]) -> list[tuple[str, str]]:
    """A filter's choices as (words, code): the dropdown shows the words the tables and the
    text use (agent.display), and gives back the code."""
    words = LABELLERS.get(kind, str)
    return [(ALL_WORDS if c == ALL else words(c), c) for c in codes]


def scores_table(
    scores: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    first_names=None,
    segment: str = ALL,
    clv_tier: str = ALL,
    churn_reason: str = ALL,
    consent: str = ALL,
    top_n: int = 50,
    product_names: dict | None = None,
) -> pd.DataFrame:
    """Top-N scored customers (highest value at stake first) after the filters. The only
    personal field shown is the first name (when `first_names` maps id -> name)."""
    return top_rows(
        filter_scores(
            scores,
            customers,
            first_names=first_names,
            segment=segment,
            clv_tier=clv_tier,
            churn_reason=churn_reason,
            consent=consent,
        ),
        top_n,
        product_names=product_names,
    )


def match_count(matched: int, total: int, shown: int, currency: str | None = None) -> str:
    """The line over the customers table: how many customers the filters match, and the
    currency its amounts are in."""
    word = "customer matches" if matched == 1 else "customers match"
    line = f"**{matched:,} {word}** the filters (of {total:,} scored)"
    if 0 < shown < matched:
        line += f"; the {shown:,} with the most value at stake are shown"
    return line + "." + (f" Amounts in {currency}." if currency else "")


def filter_scores(
    scores: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    *,
    first_names=None,
    segment: str = ALL,
    clv_tier: str = ALL,
    churn_reason: str = ALL,
    consent: str = ALL,
) -> pd.DataFrame:
    """Every scored customer the filters match, with consent (yes / no / unknown) and first
    name joined on."""
    df = scores.copy()
    df["customer_id"] = df["customer_id"].astype(str)
    if customers is not None and len(customers):
        c = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates(
            "customer_id"
        )
        keep = [k for k in KINDS.values() if k in c]
        df = df.merge(c[["customer_id", *keep]], on="customer_id", how="left")
    for col in KINDS.values():
        st = state_column(df[col]) if col in df else [None] * len(df)
        df[col] = ["yes" if v is True else "no" if v is False else "unknown" for v in st]
    df["first_name"] = df["customer_id"].map(first_names or {}).fillna("")
    for col, val in (("segment", segment), ("clv_tier", clv_tier), ("churn_reason", churn_reason)):
        if val and val != ALL and col in df:
            df = df[df[col].astype(str) == val]
    email, sms = df["accepts_email"], df["accepts_sms"]
    if consent == "email":
        df = df[email == "yes"]
    elif consent == "sms":
        df = df[sms == "yes"]
    elif consent == "none":
        df = df[(email != "yes") & (sms != "yes")]
    elif consent == "unknown":
        df = df[(email == "unknown") | (sms == "unknown")]
    return df


def top_rows(
    df: pd.DataFrame, top_n: int = 50, *, product_names: dict | None = None
) -> pd.DataFrame:
    """The table shown: the top-N of `filter_scores` by value at stake, rounded; the next best
    product by name (`product_names`: id -> name), the id only where there is no name."""
    df = df.assign(value_at_stake=value_at_stake(df))
    df = df.sort_values("value_at_stake", ascending=False).head(int(top_n))
    cols = [c for c in TABLE_COLUMNS if c in df] + ["value_at_stake"]
    out = df[cols].copy()
    if "next_best_product" in out and product_names:
        out["next_best_product"] = [
            product_label(p, product_names) for p in out["next_best_product"]
        ]
    for c in ("predicted_clv", "clv_low", "clv_high", "revenue_to_date", "value_at_stake"):
        if c in out:
            out[c] = out[c].astype(float).round(2)
    out["churn_probability"] = out["churn_probability"].astype(float).round(3)
    return out.reset_index(drop=True)


def segment_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Segment sizes and value: customers, share, predicted value, average churn."""
    g = (
        scores.groupby("segment")
        .agg(
            customers=("customer_id", "size"),
            predicted_value=("predicted_clv", "sum"),
            avg_clv=("predicted_clv", "mean"),
            avg_churn=("churn_probability", "mean"),
        )
        .reset_index()
    )
    g["share"] = (g["customers"] / g["customers"].sum()).round(3)
    g["predicted_value"] = g["predicted_value"].round(2)
    g["avg_clv"] = g["avg_clv"].round(2)
    g["avg_churn"] = g["avg_churn"].round(3)
    return g.sort_values("predicted_value", ascending=False)[
        ["segment", "customers", "share", "predicted_value", "avg_clv", "avg_churn"]
    ].reset_index(drop=True)


def customer_markdown(info: dict | str, nbp: dict | str | None = None) -> str:
    """One customer: scores with interval, churn drivers, consent, next best product."""
    if isinstance(info, str):
        return info
    s, h = info["scores"], info["history"]
    lo, hi = s["clv_interval_90"]
    cur = info.get("currency")
    lines = [
        f"### Customer {info['customer_id']}",
        f"- Segment **{s['segment']}**, **{tier_label(s['clv_tier'])}**"
        + (" — **at risk**" if s.get("at_risk") else ""),
        f"- Predicted value **{money(s['predicted_clv'], cur)}** (90% interval {lo:,.2f}–{hi:,.2f})",
        f"- Churn risk **{s['churn_probability'] * 100:.1f}%** (the chance of no purchase in the "
        f"horizon); {s['expected_orders']:.1f} orders expected",
        f"- {h['purchase_occasions']} purchase occasions, {money(h['revenue_to_date'], cur)} spent; "
        f"last purchase on {date_words(h['last_purchase'])} ({h['days_since_last_purchase']} days ago); "
        f"next one expected around {date_words(h['expected_next_purchase'])}"
        + (f" ({h['days_overdue']} days overdue)" if h.get("days_overdue") else ""),
    ]
    consent = info.get("consent") or {}
    if consent:
        word = lambda v: "yes" if v is True else "no" if v is False else "unknown"  # noqa: E731
        kind = lambda k: "SMS" if k == "accepts_sms" else k.replace("accepts_", "")  # noqa: E731
        lines.append(
            "- Consent: "
            + ", ".join(f"{kind(k)} {word(v)}" for k, v in consent.items())
            + (f" ({info['consent_note']})" if info.get("consent_note") else "")
        )
    lines.append("\n**Churn drivers**")
    drivers = info.get("drivers") or []
    lines += [f"- {codes_in_words(d['words'])}" for d in drivers] or ["- no clear driver"]
    if isinstance(nbp, dict) and nbp.get("next_best_product_id"):
        name = (nbp.get("store_text") or {}).get("product_name") or nbp["next_best_product_id"]
        price = (
            f" (price {money(nbp['price'], nbp.get('currency') or cur)})"
            if nbp.get("price") is not None
            else ""
        )
        lines += ["\n**Next best product**", f"- {name}{price}: {nbp['why']}"]
    return "\n".join(lines)


def orders_table(orders: pd.DataFrame) -> pd.DataFrame:
    """A customer's order lines, newest first (product name where known)."""
    cols = [
        c
        for c in (
            "order_date",
            "order_id",
            "product_id",
            "product_name",
            "quantity",
            "amount",
            "discount",
            "channel",
        )
        if c in orders
    ]
    out = orders[cols].sort_values("order_date", ascending=False) if len(orders) else orders[cols]
    if "order_date" in out:
        out = out.assign(order_date=pd.to_datetime(out["order_date"]).dt.strftime("%Y-%m-%d"))
    return out.reset_index(drop=True)


def flag_words(flags: list[dict]) -> str:
    return "; ".join(
        f"[{f.get('severity', '?')}] {f.get('message', f.get('rule', ''))}" for f in flags or []
    )


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


def codes_in_words(text: str) -> str:
    """Codes in a text ("personal_email", "cycle_overdue") in the merchant's words."""
    from agent.display import CHANNEL_LABEL, REASON_LABEL

    for vocab in (CHANNEL_LABEL, REASON_LABEL):
        for code, words in vocab.items():
            if "_" in code:
                text = re.sub(rf"\b{re.escape(code)}\b", words, text)
    return text


def draft_detail(d: dict, currency: str | None = None, person: dict | None = None) -> str:
    """A draft's recipient (`person`: shown here, on this machine, never to a model), reason,
    citation (playbook), offer and guardrail flags, as Markdown; the plan's calculation of
    the expected value folded away under "Details"."""
    words, calc = reason_parts(codes_in_words(str(d.get("reason") or "")))
    status = STATUS_LABEL.get(d.get("status"), d.get("status"))
    lines = [f"### Draft {d['id']}: {status}"]
    if person:
        name = " ".join(
            str(person.get(k) or "").strip() for k in ("first_name", "last_name")
        ).strip()
        contact = person.get("phone") if d.get("channel") == "sms" else person.get("email")
        lines.append(
            f"- **To:** {_md(name or 'no name')}" + (f", {_md(contact)}" if contact else "")
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


# --- the first screen ------------------------------------------------------------------------

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
    who = f"**{_md(store_name)}**" if store_name else "your store"
    state = (
        f"Your {customers:,} customers are scored: ask away."
        if ready and customers is not None
        else "Your customers are being scored in the background (see the bar below); you "
        "can look around meanwhile."
    )
    return f"### Hello! I am the retention analyst for {who}.\n{state}\n\n{WHAT_IT_DOES}"


def _md(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~-])", r"\\\1", str(text))


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


# --- tables as the merchant reads them -----------------------------------------------------------


def _pct_col(s: pd.Series, decimals: int = 0) -> pd.Series:
    return s.map(lambda v: percent(v, decimals=decimals))


def _money_head(name: str, currency: str | None) -> str:
    return f"{name} ({currency})" if currency else name


def customers_view(table: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """`top_rows` as shown: the key columns first (who, value at stake, risk), words for the
    codes, percentages for the probabilities, the currency in the money headings."""
    cols = [
        ("customer_id", "Customer"),
        ("first_name", "First name"),
        ("value_at_stake", _money_head("Value at stake", currency)),
        ("churn_probability", "Churn risk"),
        ("segment", "Segment"),
        ("churn_reason", "Main churn reason"),
        ("clv_tier", "Value tier"),
        ("predicted_clv", _money_head("Predicted value", currency)),
        ("clv_low", _money_head("Low estimate", currency)),
        ("clv_high", _money_head("High estimate", currency)),
        ("orders_to_date", "Orders"),
        ("revenue_to_date", _money_head("Spent to date", currency)),
        ("accepts_email", "Email consent"),
        ("next_best_product", "Next best product"),
    ]
    out = pd.DataFrame(
        {label_: table[c] for c, label_ in cols if c in table},
        columns=[label_ for c, label_ in cols if c in table or not len(table)],
    )
    if len(table):
        if "Churn risk" in out:
            out["Churn risk"] = _pct_col(table["churn_probability"])
        if "Main churn reason" in out:
            out["Main churn reason"] = table["churn_reason"].map(reason_label)
        if "Value tier" in out:
            out["Value tier"] = table["clv_tier"].map(tier_label)
    return out.reset_index(drop=True)


def segments_view(table: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """`segment_table` as shown."""
    out = pd.DataFrame(
        {
            "Segment": table["segment"],
            "Customers": table["customers"],
            "Share": _pct_col(table["share"], 1),
            _money_head("Predicted value", currency): table["predicted_value"],
            _money_head("Average value", currency): table["avg_clv"],
            "Average churn risk": _pct_col(table["avg_churn"]),
        }
    )
    return out.reset_index(drop=True)


CUSTOMER_HEADINGS = [
    "Customer",
    "First name",
    "Value at stake",
    "Churn risk",
    "Segment",
    "Main churn reason",
    "Value tier",
    "Predicted value",
    "Orders",
    "Next best product",
]
SEGMENT_HEADINGS = [
    "Segment",
    "Customers",
    "Share",
    "Predicted value",
    "Average value",
    "Average churn risk",
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
ORDER_HEADINGS = ["Date", "Order", "Product", "Quantity", "Amount", "Discount", "Channel"]
LOAD_HEADINGS = ["File", "Kind", "Rows read", "Accepted", "Rejected", "Why rejected", "Warnings"]


def empty(headings: list[str]) -> pd.DataFrame:
    """A table with its headings and no rows (not Gradio's "1 2 3")."""
    return pd.DataFrame(columns=headings)


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
                "Status": STATUS_LABEL.get(d.get("status"), d.get("status")),
                "Customer": d.get("customer_id"),
                "Name": name,
                "Email": str(p.get("email") or ""),
                "Channel": channel_label(d.get("channel")),
                "Subject": d.get("subject"),
                "Guardrail flags": flag_words(d.get("flags")),
                _money_head("Expected value", currency): round(
                    float(d.get("expected_value") or 0), 2
                ),
                "Playbook": playbook_words(d),
            }
        )
    heads = [h if h != "Expected value" else _money_head(h, currency) for h in DRAFT_HEADINGS]
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
                f"{STATUS_LABEL.get(d.get('status'), d.get('status'))}",
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
            "Bought again": _pct_col(r["treated_rate"], 1),
            "Control bought again": _pct_col(r["control_rate"], 1),
            "Difference": diff,
            "Status": ["complete" if c else "still running" for c in r["complete"]],
        },
        columns=CAMPAIGN_HEADINGS,
    ).reset_index(drop=True)


def orders_view(orders: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    """`orders_table` as shown."""
    t = orders_table(orders)
    names = {
        "order_date": "Date",
        "order_id": "Order",
        "product_name": "Product",
        "quantity": "Quantity",
        "amount": _money_head("Amount", currency),
        "discount": "Discount",
        "channel": "Channel",
    }
    if "product_name" not in t and "product_id" in t:
        t = t.rename(columns={"product_id": "product_name"})
    t = t.drop(columns=[c for c in t.columns if c not in names])
    if "order_date" in t:
        t["order_date"] = t["order_date"].map(date_words)
    if "channel" in t:
        t["channel"] = t["channel"].map(channel_label)
    return t.rename(columns=names)


def load_report_view(reports) -> pd.DataFrame:
    """`load_report_table` as shown."""
    t = load_report_table(reports)
    t.columns = LOAD_HEADINGS
    return t


# --- the merchant's words: no command-line flags, variables or formulas in the app's text ----------

_CLI_BITS = re.compile(
    r"--[a-z][a-z-]+|\bretention (?:approvals|chat|brief|score|ui|kb|campaigns|demo-data|"
    r"backtest|eval|consent)\b|\b(?:OPENAI|RETENTION|DATABASE|CHROMA|GRADIO|HF)_[A-Z_]+\b|"
    r"\b\d+(?:\.\d+)? = \d"
)
_MAP_HINT = re.compile(
    r"(Rename the column|Check that this is the \S+ column),? or pass --map \S+?=<[^>]*>", re.I
)


def merchant_words(text: str) -> tuple[str, str]:
    """(text for the merchant, details): sentences that name a command-line flag, a command,
    an environment variable or a formula are taken out of the text and given back as details
    (the app shows them folded away). "Rename the column or pass --map x=<col>" keeps its
    first half."""
    text = _MAP_HINT.sub(
        lambda m: m.group(1) + " in your file and upload it again", str(text or "")
    )
    lines, left = [], []
    for line in text.split("\n"):
        if not _CLI_BITS.search(line):  # a line without any is kept exactly as it is
            lines.append(line)
            continue
        parts = re.split(r"(?<=[.;])\s+", line)
        kept = [p for p in parts if not _CLI_BITS.search(p)]
        left += [p for p in parts if _CLI_BITS.search(p)]
        out = " ".join(kept).rstrip()
        if out.endswith(";"):
            out = out[:-1] + "."
        if out.strip():
            lines.append(out)
    out = "\n".join(lines)
    if not out.strip():
        return text, ""
    return out, " ".join(left)


def with_details(text: str, details: str = "") -> str:
    """Markdown: `text`, and `details` in a fold a person opens when they want them."""
    if not details:
        return text
    return f"{text}\n\n<details><summary>Details</summary>\n\n{html.escape(details)}\n\n</details>"


def merchant_text(text: str) -> str:
    """`merchant_words` as Markdown: the text, its technical part folded away."""
    return with_details(*merchant_words(text))


def reason_parts(reason: str) -> tuple[str, str]:
    """A plan's reason for a draft ("57% likely to lapse (...); ...; expected value 4.72 = 0.57 x
    55 x ...") as (words, the calculation) for the detail view."""
    text = str(reason or "")
    m = re.search(r";?\s*expected value ([^;=]+?)\s*=\s*([^;]+)", text)
    if not m:
        return text, ""
    words = (text[: m.start()] + f"; expected value {m.group(1).strip()}" + text[m.end() :]).strip(
        "; "
    )
    return words, f"expected value {m.group(1).strip()} = {m.group(2).strip()}"
