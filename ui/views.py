"""Pure view functions: agent results in, table rows / Markdown / HTML out.

No Gradio here, so every function is testable without a browser (tests/test_ui.py).
"""

from __future__ import annotations

import html
import json

import pandas as pd

from agent.consent import KINDS, state_column
from agent.display import money, product_label

STARTERS = [
    "Give me an overview of my store",
    "Who is most at risk of churning?",
    "Summarise my segments",
    "Draft messages for the top 3 at-risk customers",
]

SCORE_COLUMNS = ["customer_id", "first_name", "segment", "clv_tier", "predicted_clv", "clv_low",
                 "clv_high", "churn_probability", "churn_reason", "orders_to_date", "revenue_to_date",
                 "accepts_email", "next_best_product"]

KPI_LABELS = [("customers", "Customers", "num"), ("active_customers", "Active customers", "num"),
              ("repeat_rate", "Repeat rate", "pct"), ("revenue_week", "Revenue this week", "money"),
              ("orders_week", "Orders this week", "num"), ("aov_week", "Average order value", "money"),
              ("churned_this_week", "Churned this week", "num"), ("at_risk", "At risk", "num"),
              ("avg_clv", "Average CLV", "money"), ("predicted_value", "Predicted value", "money")]

DRAFT_COLUMNS = ["id", "status", "customer_id", "channel", "subject", "playbook_id", "expected_value",
                 "flags", "campaign_id"]

ALL = "(all)"
CONSENT_FILTERS = [ALL, "email", "sms", "none", "unknown"]
"""email / sms: the customer's data says yes; none: yes on neither; unknown: a channel the data
does not say (agent.consent: unknown is not a refusal)."""


def mode_banner(mode: str, model: str | None) -> str:
    """The banner naming the mode in use."""
    if mode == "llm":
        return f"**Mode: language model `{model or 'configured model'}`** (customer ids and features only; " \
               "no personal data leaves this machine)."
    return "**Mode: offline: no language model in use.** Answers come from the local planner and the " \
           "store's own numbers."


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
        parts.append(f"**{i}. `{d['tool']}`** ({mark}, {d.get('seconds', 0):.2f} s)\n\n"
                     f"args: `{json.dumps(d.get('args') or {}, default=str)}`\n\n"
                     f"```json\n{_short(d.get('result'))}\n```")
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
    return "Open this draft in Approvals" if len(ids) == 1 else f"Open these {len(ids)} drafts in Approvals"


def parse_ids(text) -> list[int]:
    """Draft ids from the Approvals filter box ("3, 4 5"); anything that is not a number is ignored."""
    return [int(t) for t in str(text or "").replace(",", " ").split() if t.isdigit()]


def answer_messages(answer) -> list[dict]:
    """Chatbot messages for one answer: the text, then a collapsible 'tools used' section."""
    text = answer.text
    if queued_draft_ids(answer):
        text += ("\n\nThe drafts are waiting in the Approvals tab (the button under the chat opens "
                 "them); nothing is sent until a person approves.")
    msgs = [{"role": "assistant", "content": text}]
    if answer.trace:
        names = ", ".join(dict.fromkeys(s.tool for s in answer.trace))
        msgs.append({"role": "assistant", "content": trace_markdown(answer.trace),
                     "metadata": {"title": f"Tools used: {names}", "status": "done"}})
    return msgs


def working_messages(statuses: list[str], text: str = "") -> list[dict]:
    """Chatbot messages while an answer is being made: a collapsible "Working…" section with
    one line per step (tool called, tool done), then the answer text so far, if any."""
    msgs = [{"role": "assistant", "content": "\n".join(f"- {s}" for s in statuses) or "- thinking",
             "metadata": {"title": f"Working: {statuses[-1] if statuses else 'thinking'}",
                          "status": "pending"}}]
    if text:
        msgs.append({"role": "assistant", "content": text})
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
    for key, label, kind in KPI_LABELS:
        if key not in kpi:
            continue
        ch = (kpi_change or {}).get(key)
        colour = "#666" if not ch else ("#2e7d32" if ch > 0 else "#c62828")
        if key in ("churned_this_week", "at_risk") and ch:
            colour = "#c62828" if ch > 0 else "#2e7d32"
        cards.append(
            f'<div class="kpi-card" style="border:1px solid #ddd;border-radius:8px;padding:8px 12px;'
            f'min-width:140px"><div style="font-size:12px;color:#555">{html.escape(label)}</div>'
            f'<div style="font-size:22px;font-weight:600">{html.escape(_fmt(kpi[key], kind, currency))}</div>'
            f'<div style="font-size:12px;color:{colour}">{_change(ch, kind)}</div></div>')
    return '<div style="display:flex;flex-wrap:wrap;gap:8px">' + "".join(cards) + "</div>"


def filter_choices(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Dropdown choices for the customer table filters."""
    pick = lambda col: [ALL] + sorted(scores[col].dropna().astype(str).unique().tolist()) if col in scores else [ALL]
    return {"segment": pick("segment"), "clv_tier": pick("clv_tier"), "churn_reason": pick("churn_reason"),
            "consent": list(CONSENT_FILTERS)}


def scores_table(scores: pd.DataFrame, customers: pd.DataFrame | None = None, *, first_names=None,
                 segment: str = ALL, clv_tier: str = ALL, churn_reason: str = ALL, consent: str = ALL,
                 top_n: int = 50, product_names: dict | None = None) -> pd.DataFrame:
    """Top-N scored customers (highest value at stake first) after the filters. The only
    personal field shown is the first name (when `first_names` maps id -> name)."""
    return top_rows(filter_scores(scores, customers, first_names=first_names, segment=segment,
                                  clv_tier=clv_tier, churn_reason=churn_reason, consent=consent), top_n,
                    product_names=product_names)


def match_count(matched: int, total: int, shown: int, currency: str | None = None) -> str:
    """The line over the customers table: how many customers the filters match, and the
    currency its amounts are in."""
    word = "customer matches" if matched == 1 else "customers match"
    line = f"**{matched:,} {word}** the filters (of {total:,} scored)"
    if 0 < shown < matched:
        line += f"; the {shown:,} with the most value at stake are shown"
    return line + "." + (f" Amounts in {currency}." if currency else "")


def filter_scores(scores: pd.DataFrame, customers: pd.DataFrame | None = None, *, first_names=None,
                  segment: str = ALL, clv_tier: str = ALL, churn_reason: str = ALL,
                  consent: str = ALL) -> pd.DataFrame:
    """Every scored customer the filters match, with consent (yes / no / unknown) and first
    name joined on."""
    df = scores.copy()
    df["customer_id"] = df["customer_id"].astype(str)
    if customers is not None and len(customers):
        c = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates("customer_id")
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


def top_rows(df: pd.DataFrame, top_n: int = 50, *, product_names: dict | None = None) -> pd.DataFrame:
    """The table shown: the top-N of `filter_scores` by value at stake, rounded; the next best
    product by name (`product_names`: id -> name), the id only where there is no name."""
    df = df.assign(value_at_stake=df["churn_probability"] * df["predicted_clv"])
    df = df.sort_values("value_at_stake", ascending=False).head(int(top_n))
    cols = [c for c in SCORE_COLUMNS if c in df] + ["value_at_stake"]
    out = df[cols].copy()
    if "next_best_product" in out and product_names:
        out["next_best_product"] = [product_label(p, product_names) for p in out["next_best_product"]]
    for c in ("predicted_clv", "clv_low", "clv_high", "revenue_to_date", "value_at_stake"):
        if c in out:
            out[c] = out[c].astype(float).round(2)
    out["churn_probability"] = out["churn_probability"].astype(float).round(3)
    return out.reset_index(drop=True)


def segment_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Segment sizes and value: customers, share, predicted value, average churn."""
    g = scores.groupby("segment").agg(customers=("customer_id", "size"),
                                      predicted_value=("predicted_clv", "sum"),
                                      avg_clv=("predicted_clv", "mean"),
                                      avg_churn=("churn_probability", "mean")).reset_index()
    g["share"] = (g["customers"] / g["customers"].sum()).round(3)
    g["predicted_value"] = g["predicted_value"].round(2)
    g["avg_clv"] = g["avg_clv"].round(2)
    g["avg_churn"] = g["avg_churn"].round(3)
    return g.sort_values("predicted_value", ascending=False)[
        ["segment", "customers", "share", "predicted_value", "avg_clv", "avg_churn"]].reset_index(drop=True)


def customer_markdown(info: dict | str, nbp: dict | str | None = None) -> str:
    """One customer: scores with interval, churn drivers, consent, next best product."""
    if isinstance(info, str):
        return info
    s, h = info["scores"], info["history"]
    lo, hi = s["clv_interval_90"]
    cur = info.get("currency")
    lines = [f"### Customer {info['customer_id']}",
             f"- Segment **{s['segment']}**, CLV tier **{s['clv_tier']}**"
             + (" — **at risk**" if s.get("at_risk") else ""),
             f"- Predicted CLV **{money(s['predicted_clv'], cur)}** (90% interval {lo:,.2f}–{hi:,.2f})",
             f"- Churn probability **{s['churn_probability'] * 100:.1f}%**, P(alive) {s['p_alive']:.2f}, "
             f"expected orders {s['expected_orders']:.2f}",
             f"- {h['purchase_occasions']} purchase occasions, revenue {money(h['revenue_to_date'], cur)}; "
             f"last purchase {h['last_purchase']} ({h['days_since_last_purchase']} days ago); "
             f"next expected {h['expected_next_purchase']}"
             + (f" ({h['days_overdue']} days overdue)" if h.get("days_overdue") else "")]
    consent = info.get("consent") or {}
    if consent:
        word = lambda v: "yes" if v is True else "no" if v is False else "unknown"  # noqa: E731
        lines.append("- Consent: " + ", ".join(f"{k.replace('accepts_', '')} {word(v)}" for k, v in consent.items())
                     + (f" ({info['consent_note']})" if info.get("consent_note") else ""))
    lines.append("\n**Churn drivers**")
    drivers = info.get("drivers") or []
    lines += [f"- {d['words']}" for d in drivers] or ["- no clear driver"]
    if isinstance(nbp, dict) and nbp.get("next_best_product_id"):
        name = (nbp.get("store_text") or {}).get("product_name") or nbp["next_best_product_id"]
        price = f" (price {money(nbp['price'], nbp.get('currency') or cur)})" if nbp.get("price") is not None else ""
        lines += ["\n**Next best product**", f"- {name}{price}: {nbp['why']}"]
    return "\n".join(lines)


def orders_table(orders: pd.DataFrame) -> pd.DataFrame:
    """A customer's order lines, newest first (product name where known)."""
    cols = [c for c in ("order_date", "order_id", "product_id", "product_name", "quantity", "amount",
                        "discount", "channel") if c in orders]
    out = orders[cols].sort_values("order_date", ascending=False) if len(orders) else orders[cols]
    if "order_date" in out:
        out = out.assign(order_date=pd.to_datetime(out["order_date"]).dt.strftime("%Y-%m-%d"))
    return out.reset_index(drop=True)


def flag_words(flags: list[dict]) -> str:
    return "; ".join(f"[{f.get('severity', '?')}] {f.get('message', f.get('rule', ''))}" for f in flags or [])


def drafts_table(drafts: list[dict]) -> pd.DataFrame:
    """The approval queue as rows (draft dicts from DraftRow.to_dict())."""
    rows = [{**{k: d.get(k) for k in DRAFT_COLUMNS}, "flags": flag_words(d.get("flags"))} for d in drafts]
    df = pd.DataFrame(rows, columns=DRAFT_COLUMNS)
    if len(df):
        df["expected_value"] = df["expected_value"].astype(float).round(2)
    return df


def draft_detail(d: dict, currency: str | None = None) -> str:
    """A draft's reason, citation (playbook), offer and guardrail flags, as Markdown."""
    lines = [f"### Draft {d['id']} — {d['status']}",
             f"- Customer **{d['customer_id']}** by {d['channel']} (campaign `{d['campaign_id']}`)",
             f"- **Why:** {d.get('reason') or '–'}",
             f"- **Playbook (citation):** `{d.get('playbook_id') or '–'}`",
             f"- **Offer:** {d.get('offer') or 'none'}",
             f"- Expected value {money(float(d.get('expected_value') or 0), currency)}"]
    if d.get("decided_by"):
        lines.append(f"- Decided by {d['decided_by']} at {d.get('decided_at')}")
    flags = d.get("flags") or []
    lines.append("\n**Guardrail flags**")
    lines += [f"- **{f.get('severity', '?')}**: {f.get('message', '')}" for f in flags] or ["- none"]
    return "\n".join(lines)


def load_report_table(reports) -> pd.DataFrame:
    """One row per file: rows read / accepted / rejected and where the rejected rows are."""
    rows = []
    for r in reports:
        d = r.as_dict() if hasattr(r, "as_dict") else dict(r)
        rows.append({"file": d["file"].split("/")[-1], "kind": d["kind"], "rows_read": d["rows_read"],
                     "rows_accepted": d["rows_accepted"], "rows_rejected": d["rows_rejected"],
                     "reasons": "; ".join(f"{k}: {v}" for k, v in (d.get("reasons") or {}).items()),
                     "warnings": "; ".join(d.get("warnings") or [])})
    return pd.DataFrame(rows, columns=["file", "kind", "rows_read", "rows_accepted", "rows_rejected",
                                       "reasons", "warnings"])


def load_summary(reports) -> str:
    total = sum(r.rows_read for r in reports)
    acc = sum(r.rows_accepted for r in reports)
    rej = sum(r.rows_rejected for r in reports)
    return f"Loaded {len(reports)} file(s): {total:,} rows read, {acc:,} accepted, {rej:,} rejected."
