"""The brief as a document: its Markdown from the facts, and a self-contained HTML page with the
charts embedded (`agent.reports.brief` gathers the facts; nothing here computes a number).

Money is written in the store's currency (`agent.display.money`); every number comes from
`Brief.facts`.
"""

from __future__ import annotations

import html
import re

import pandas as pd

from agent.display import fmt
from tools.scoring.notes import CHOICE_WORDS, PURCHASE_MODEL_NAMES


def horizon_words(f: dict) -> str:
    return (f.get("horizon") or {}).get("words") or "12 months"


def change_words(c: dict, key: str, kind: str, currency: str | None = None) -> str:
    """A week-over-week change as the brief writes it; "n/a" without an earlier week."""
    return fmt(c[key], kind, currency) if key in c else "n/a"


def template_opening(f: dict) -> str:
    k, c, cur = f["kpi"], f["kpi_change"], f.get("currency")
    parts = [
        f"This week {fmt(k['orders_week'])} orders brought in {fmt(k['revenue_week'], 'money', cur)} "
        f"({change_words(c, 'revenue_week', 'signed', cur)} on last week)."
    ]
    parts.append(
        f"{fmt(k['active_customers'])} customers bought in the last 90 days "
        f"({change_words(c, 'active_customers', 'signed')}); {fmt(k['churned_this_week'])} "
        "slipped out of that window this week."
    )
    if f["at_risk"]:
        a = f["at_risk"][0]
        parts.append(
            f"The most valuable customer at risk is {a['customer_id']} "
            f"(predicted value {fmt(a['predicted_clv'], 'money', cur)}, "
            f"{fmt(a['churn_probability'], 'pct')} churn risk, {a['reason']})."
        )
    parts.append("No language model wrote this: it is a template filled from the numbers below.")
    return " ".join(parts)


def render_markdown(f: dict, end: pd.Timestamp, opening: str) -> str:
    from agent.reports import grading as G

    k, c, cur = f["kpi"], f["kpi_change"], f.get("currency")
    aov = fmt(k["aov_week"]) + (f" {cur}" if cur else "")
    rows = [
        (
            "Active customers (90 days)",
            fmt(k["active_customers"]),
            change_words(c, "active_customers", "signed"),
        ),
        (
            "Repeat-purchase rate",
            fmt(k["repeat_rate"], "pct"),
            change_words(c, "repeat_rate", "signed_pct"),
        ),
        (
            "Churned this week",
            fmt(k["churned_this_week"]),
            change_words(c, "churned_this_week", "signed"),
        ),
        (
            "Revenue this week",
            fmt(k["revenue_week"], "money", cur),
            change_words(c, "revenue_week", "signed", cur),
        ),
        ("Average order value", aov, change_words(c, "aov_week", "signed", cur)),
        (
            f"Predicted value of the base (next {horizon_words(f)})",
            fmt(k.get("predicted_value", 0), "money", cur),
            change_words(c, "predicted_value", "signed", cur),
        ),
    ]
    if "ltv_cac" in k:
        cac = fmt(k["cac"]) + (f" {cur}" if cur else "")
        rows.append(
            (
                f"LTV:CAC at CAC {cac}",
                fmt(k["ltv_cac"], "ratio"),
                change_words(c, "ltv_cac", "signed"),
            )
        )
    lines = [
        f"# Weekly retention brief — week ending {end.date()}",
        "",
        opening,
        "",
        "## KPIs",
        "",
        "| KPI | this week | change |",
        "|---|---|---|",
    ]
    if not cur:
        lines[3:3] = [
            "(The store's files do not say which currency it uses: amounts are in its own "
            "currency; name it in Settings, the Currency field.)",
            "",
        ]
    lines += [f"| {a} | {b} | {d} |" for a, b, d in rows]
    if "ltv_cac" in k:
        verdict = "meets" if k["ltv_cac"] >= 3 else "is below"
        lines += ["", f"LTV:CAC {verdict} the rule of thumb of 3 (playbook `ltv-cac-acquisition`)."]
    if "forecast_check" in f:
        lines += G.forecast_markdown(f["forecast_check"], cur)
    lines += [
        "",
        "![CLV distribution](clv_distribution.png)",
        "",
        "## Segment migration since last week",
        "",
        "| segment | last week | this week | change |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {m['segment']} | {fmt(m['before'])} | {fmt(m['after'])} | {fmt(m['change'], 'signed')} |"
        for m in f["migration"]
    ]
    lines += [
        "",
        "![Segment migration](segment_migration.png)",
        "",
        "## Top at-risk high-value customers",
        "",
        "| customer | predicted value | churn risk | reason | segment | product to suggest |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {a['customer_id']} | {fmt(a['predicted_clv'], 'money', cur)} | {fmt(a['churn_probability'], 'pct')} "
        f"| {a['reason']} | {a['segment']} | {_cell(a.get('next_best_product')) or '–'} |"
        for a in f["at_risk"]
    ]
    lines += [
        "",
        "![Churn by segment](churn_by_segment.png)",
        "",
        "## Recommended plays",
        "",
        "| play (playbook) | customers | expected value |",
        "|---|---|---|",
    ]
    lines += [
        f"| {p['playbook_title']} (`{p['playbook_id']}`) | {fmt(p['customers'])} | "
        f"{fmt(p['expected_value'], 'money', cur)} |"
        for p in f["plays"]
    ]
    lines += [
        "",
        f"A control group of {fmt(f['control_group'])} customers is held out to measure the effect.",
    ]
    lines += G.campaigns_markdown(f.get("campaigns") or [], cur)
    lines += G.learning_markdown(f.get("learning") or {})
    lines += _consent_markdown(f.get("consent") or {}, cur)
    lines += [
        "",
        "## Drafts",
        "",
        f"{fmt(f['drafts_pending'])} drafts wait for approval and {fmt(f['drafts_approved'])} are approved "
        "(review them in Approvals). Nothing is sent by this software.",
        "",
        "## Model health",
        "",
    ]
    m = f["model"]
    lines.append(
        f"Purchase model: {PURCHASE_MODEL_NAMES.get(m['purchase_model'], m['purchase_model'])} "
        f"({'converged' if m['converged'] else 'fallback used'}); "
        f"value from {chosen_words(m, 'value')}, churn from {chosen_words(m, 'churn')}."
    )
    if m.get("auc_ml") is not None:
        lines.append(
            f"Inner backtest on {fmt(m['held_out'])} {m.get('held_out_who', 'held-out customers')}: "
            f"churn AUC {fmt(m['auc_ml'], 'ratio')} (ML) vs {fmt(m['auc_bgnbd'], 'ratio')} (BG/NBD)."
        )
    lines += [f"Note: {w}" for w in m.get("warnings", [])]
    return "\n".join(lines) + "\n"


def chosen_words(m: dict, target: str) -> str:
    """The model behind a target, in words, with the backtests' evidence where it was chosen
    over the purchase model: "Pareto/NBD (Spearman +0.016 ± 0.008 over 2 rolling-origin cutoffs)"."""
    key = m["choice"].get(target)
    words = CHOICE_WORDS[target].get(key, str(key))
    ev = (m.get("selection") or {}).get(f"{target}:{key}")
    if not ev:
        return words
    metric = "churn AUC" if target == "churn" else "CLV Spearman"
    return (
        f"{words} ({metric} {ev['mean_gain']:+.3f} ± {ev['spread']:.3f} over "
        f"{ev['cutoffs']} rolling-origin cutoffs)"
    )


def _cell(text) -> str:
    """Store text (a product name) inside a Markdown table cell: one line, no pipes."""
    return " ".join(str(text or "").replace("|", "/").split())[:80]


def _consent_markdown(c: dict, cur: str | None) -> list[str]:
    if not c.get("statement") and not c.get("awaiting_total"):
        return []
    lines = ["", "## Consent", ""]
    if c.get("statement"):
        lines.append(c["statement"])
    if c.get("awaiting_total"):
        lines += [
            "",
            f"{fmt(c['awaiting_total'])} customers have a play worth running but unknown consent, so "
            f"nobody is contacted on it; {fmt(c['awaiting_this_week'])} would be this week. The first "
            "of them, and why:",
            "",
            "| customer | play | channel | churn risk | CLV | expected value | reason |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {a['customer_id']} | {a['playbook_title']} | {a['channel'].replace('_', ' ')} | "
            f"{fmt(a['churn_probability'], 'pct')} | {fmt(a['clv'], 'money', cur)} | "
            f"{fmt(a['expected_value'])}{' ' + cur if cur else ''} | {a['reason']} |"
            for a in c["awaiting"]
        ]
        lines += ["", f"To supply consent: {c['how_to_supply']}"]
    return lines


PRINT_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;line-height:1.45;"
    "max-width:860px;margin:2em auto;padding:0 1em}"
    "h1{font-size:1.6em;margin-bottom:.4em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.92em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}"
    "figure{margin:1em 0}img{max-width:100%;height:auto;display:block}"
    "figcaption{font-size:.85em;color:#555}code{font-size:.9em}"
    "@page{margin:15mm}"
    "@media print{body{max-width:none;margin:0;padding:0;font-size:10.5pt}"
    "h2{break-after:avoid;page-break-after:avoid}"
    "table,tr,figure,img{break-inside:avoid;page-break-inside:avoid}"
    "thead{display:table-header-group}th{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}}"
)


def render_html(
    markdown: str, images: dict[str, str] | None = None, title: str = "Weekly retention brief"
) -> str:
    """A small Markdown-to-HTML for the brief's own constructs (headings, tables, images),
    self-contained: an image whose file name is in `images` (file name -> data: URI) is
    embedded, so the file opens anywhere and prints with its charts."""
    images = images or {}
    body: list[str] = []
    table: list[str] = []

    def flush():
        if table:
            head, *rest = [r for r in table if not set(r.replace("|", "").strip()) <= {"-"}]
            cells = lambda r: [
                re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(c.strip()))  # noqa: E731
                for c in r.strip().strip("|").split("|")
            ]
            body.append(
                "<table><thead><tr>"
                + "".join(f"<th>{c}</th>" for c in cells(head))
                + "</tr></thead><tbody>"
                + "".join(
                    "<tr>" + "".join(f"<td>{c}</td>" for c in cells(r)) + "</tr>" for r in rest
                )
                + "</tbody></table>"
            )
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            src = src.rstrip(")")
            body.append(
                f'<figure><img alt="{html.escape(alt)}" src="{html.escape(images.get(src, src))}">'
                "</figure>"
            )
        elif line.strip():
            text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(line))
            body.append("<p>" + re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text) + "</p>")
    flush()
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{PRINT_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def charts_html(images: dict[str, str]) -> str:
    """The brief's charts for the app, embedded (no file to serve): one figure per chart."""
    labels = {
        "clv_distribution": "Predicted customer value",
        "churn_by_segment": "Churn risk by segment",
        "segment_migration": "Segment migration",
    }
    figs = [
        f'<figure class="brief-chart" style="margin:0;flex:1 1 360px;min-width:0">'
        f'<img alt="{html.escape(labels.get(k, k))}" src="{html.escape(v)}" '
        'style="max-width:100%;height:auto;display:block"></figure>'
        for k, v in images.items()
    ]
    return (
        '<div style="display:flex;flex-wrap:wrap;gap:12px">' + "".join(figs) + "</div>"
        if figs
        else ""
    )
