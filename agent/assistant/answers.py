"""Offline answers: templates that turn the analytics tools' results into plain sentences.

Every number comes from the tool result passed in; a template given an "Error: ..." result says
what failed instead (`guarded`). Money is written in the result's currency (`money_of`). These
cover the store (overview, KPIs, segments and their moves, LTV:CAC, tickets, the brief), the
customers (at-risk and ranked lists, why one is at risk, a profile, cross-sell) and the
playbooks; the outreach answers (the plan, queued drafts, campaigns) are `outreach_answers`.
"""

from __future__ import annotations

from agent.assistant.prompts import AT_RISK_PCT
from agent.display import money
from tools.schema import REASON_LABEL


def money_of(x: float, res: dict | None = None) -> str:
    """Money in the currency of the tool result (`agent.display.money`)."""
    return money(x, (res or {}).get("currency"))


def pct(x: float) -> str:
    return f"{x:.0%}" if abs(x) >= 0.01 or x == 0 else f"{x:.1%}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + " …"


def guarded(fn):
    """A template given an "Error: ..." result says what failed instead."""

    def wrapped(*results, **kw):
        for r in results:
            if isinstance(r, str) and r.startswith("Error"):
                return f"I could not get that from the tools. {r}"
        return fn(*results, **kw)

    wrapped.__name__ = fn.__name__
    return wrapped


@guarded
def overview(r: dict) -> str:
    return (
        f"Store as of {r['as_of']}: {r['customers']:,} customers, "
        f"{r['active_customers_last_90_days']:,} active in the last 90 days; {r['orders']:,} orders, "
        f"net revenue {money_of(r['net_revenue_to_date'], r)}, average order value "
        f"{money_of(r['average_order_value'], r)}, repeat rate {pct(r['repeat_rate'])}.\n"
        f"Predicted value of the next {r['horizon_days']} days: {money_of(r['predicted_value_next_horizon'], r)}. "
        f"At risk (churn probability above {AT_RISK_PCT}): {r['at_risk_customers']:,} customers, "
        f"{money_of(r['at_risk_value_at_stake'], r)} of value at stake (churn probability × CLV)."
        + "".join(f"\nNote: {w}" for w in r.get("warnings", []))
    )


def _risk_line(i: int, c: dict, res: dict) -> str:
    lo, hi = c["clv_interval_90"]
    return (
        f"{i}. {c['customer_id']} — {c['segment']}, {c['clv_tier']} CLV tier: churn "
        f"{pct(c['churn_probability'])}, predicted CLV {money_of(c['predicted_clv'], res)} "
        f"(90% interval {money_of(lo, res)}–{money_of(hi, res)}), value at stake {money_of(c['value_at_stake'], res)}, "
        f"main reason: {c['reason_words']}" + _consent_bit(c.get("consent"))
    )


def _consent_bit(c: dict | None) -> str:
    """'; consent: email yes, sms no', and a warning when no channel may be used."""
    if not c:
        return ""
    words = ", ".join(f"{k} {v}" for k, v in c.items())
    return f"; consent: {words}" + (
        "" if "yes" in c.values() else " (no consent on file: cannot be contacted)"
    )


@guarded
def at_risk(r: dict, this_week: bool = False) -> str:
    f = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r["filters"].items())
    head = (
        f"{r['matching_customers']:,} at-risk customers"
        + (f" ({f})" if f else "")
        + f", {money_of(r['matching_value_at_stake'], r)} of value at stake (churn probability × CLV)."
    )
    if this_week:
        head = "Contact these first this week, ranked by value at stake. " + head
    if not r["customers"]:
        return head + " Nobody matches."
    rows = [_risk_line(i, c, r) for i, c in enumerate(r["customers"], 1)]
    return head + f"\nTop {len(rows)}:\n" + "\n".join(rows)


@guarded
def why(r: dict) -> str:
    s, h = r["scores"], r["history"]
    lo, hi = s["clv_interval_90"]
    state = (
        "is at risk"
        if s["at_risk"]
        else f"is not at risk (churn probability {AT_RISK_PCT} or less)"
    )
    lines = [
        f"{r['customer_id']} {state}: churn probability {pct(s['churn_probability'])}, "
        f"segment {s['segment']}, predicted CLV {money_of(s['predicted_clv'], r)} "
        f"(90% interval {money_of(lo, r)}–{money_of(hi, r)})."
    ]
    if r["drivers"]:
        lines.append("What drives it, strongest first:")
        lines += [f"- {d['words']}" for d in r["drivers"]]
    lines.append(
        f"Last purchase {h['last_purchase']} ({h['days_since_last_purchase']} days ago), "
        f"{h['purchase_occasions']} purchase occasions, revenue to date {money_of(h['revenue_to_date'], r)}."
    )
    if r["store_text"].get("latest_ticket"):
        lines.append(
            f'Latest support ticket (quoted store data): "{r["store_text"]["latest_ticket"]}"'
        )
    return "\n".join(lines)


@guarded
def profile(r: dict) -> str:
    h, c = r["history"], r.get("consent", {})
    prods = ", ".join(f'"{p}"' for p in r["store_text"]["top_products"] if p) or "none recorded"
    consent = (
        ", ".join(f"{k.replace('accepts_', '')} {_consent_word(v)}" for k, v in c.items())
        or "unknown"
    )
    if r.get("consent_note"):
        consent += f" ({r['consent_note']})"
    nbp = r["store_text"].get("next_best_product_name") or r.get("next_best_product_id") or ""
    return (
        f"{why(r)}\nFirst purchase {h['first_purchase']}; usually buys every "
        f"{h['avg_days_between_purchases']} days; {h['returned_lines']} returned lines; "
        f"{h['support_tickets']} support tickets.\nMost bought (quoted store data): {prods}. "
        f"Next best product: " + (f'"{nbp}"' if nbp else "none") + f". Consent: {consent}."
    )


def _consent_word(v) -> str:
    return "yes" if v is True else "no" if v is False else "unknown"


@guarded
def cross_sell(r: dict) -> str:
    if not r["next_best_product_id"]:
        return f"{r['customer_id']}: nothing left to suggest ({r['why']})."
    t = r["store_text"]
    price = f", price {money_of(r['price'], r)}" if r.get("price") is not None else ""
    with_ = f'; pairs with "{t["bought_with"]}" which they own' if t.get("bought_with") else ""
    return (
        f'Cross-sell to {r["customer_id"]}: "{t.get("product_name") or r["next_best_product_id"]}"'
        f" ({t.get('category') or 'no category'}{price}) — {r['why']}{with_}. "
        f"It appears in {r['orders_containing_it']:,} orders. (Product names are quoted store data.)"
    )


@guarded
def segments(r: dict) -> str:
    rows = [
        f"- {s['segment']}: {s['customers']:,} customers ({pct(s['share'])}), average "
        f"predicted CLV {money_of(s['predicted_clv_avg'], r)}, total {money_of(s['predicted_clv_total'], r)}; "
        f"mean churn {pct(s['mean_churn_probability'])}, {s['at_risk']:,} at risk"
        for s in r["segments"]
    ]
    return f"CLV by segment ({r['customers']:,} customers, as of {r['as_of']}):\n" + "\n".join(rows)


@guarded
def migration(summary: dict, mig: dict, segment: str | None) -> str:
    rows = {s["segment"]: s for s in mig["segments"]}
    if segment:
        now = next((s for s in summary["segments"] if s["segment"] == segment), None)
        m = rows.get(segment)
        if now is None:
            return f"You have no {segment} customers as of {summary['as_of']}."
        text = (
            f"You have {now['customers']:,} {segment} customers ({pct(now['share'])} of "
            f"{summary['customers']:,}) as of {summary['as_of']}."
        )
        if m:
            text += (
                f" On {mig['compared_with']} there were {m['before']:,}: a change of "
                f"{m['change']:+,} ({m['new']:,} new customers, {m['gone']:,} gone)."
            )
            moves = [
                f"{x['customers']:,} {x['from']} → {x['to']}"
                for x in mig["largest_moves"]
                if segment in (x["from"], x["to"])
            ]
            if moves:
                text += " Moves: " + "; ".join(moves) + "."
        return text
    lines = [f"Segments on {mig['compared_with']} vs {mig['as_of']}:"]
    lines += [
        f"- {s['segment']}: {s['before']:,} → {s['after']:,} ({s['change']:+,})"
        for s in mig["segments"]
    ]
    if mig["largest_moves"]:
        lines.append(
            "Largest moves: "
            + "; ".join(
                f"{x['customers']:,} {x['from']} → {x['to']}" for x in mig["largest_moves"][:5]
            )
            + "."
        )
    return "\n".join(lines)


@guarded
def ltv_cac(r: dict) -> str:
    if r.get("cac") is None:
        who = f"{r['segment']} customers" if r["segment"] else "your customers"
        return (
            f"LTV per customer is {money_of(r['ltv_per_customer'], r)} for {who} "
            f"({money_of(r['avg_revenue_to_date'], r)} to date + {money_of(r['avg_predicted_clv_next_horizon'], r)} "
            f"predicted over the horizon). To keep LTV at least 3 × CAC, pay at most "
            f"{money_of(r['max_cac_for_3x'], r)} to acquire a customer. Give your acquisition cost "
            "(e.g. 'LTV:CAC at $40') for the ratio."
        )
    verdict = (
        "meets the rule of thumb (LTV at least 3 × CAC)"
        if r["meets_3x_rule"]
        else "falls short of the rule of thumb (LTV at least 3 × CAC)"
    )
    who = f"{r['segment']} customers" if r["segment"] else "your customers"
    return (
        f"At a CAC of {money_of(r['cac'], r)}, LTV:CAC is {r['ltv_to_cac']:.2f}, which {verdict}. "
        f"LTV per customer is {money_of(r['ltv_per_customer'], r)} for {who} "
        f"({money_of(r['avg_revenue_to_date'], r)} to date + "
        f"{money_of(r['avg_predicted_clv_next_horizon'], r)} predicted over the horizon; "
        f"margin {r['margin_applied']:g}). On predicted value alone the ratio is "
        f"{r['forward_only_ltv_to_cac']:.2f}. The most you can pay per customer and keep 3× is "
        f"{money_of(r['max_cac_for_3x'], r)}."
    )


@guarded
def playbooks(r: dict) -> str:
    if not r["playbooks"]:
        return "No playbook matches that."
    rows = [
        f"{i}. {p['title']} [{p['playbook_id']}] — prior uplift {pct(p['prior_uplift'] or 0)}, "
        f"channels {', '.join(p['channels'] or [])}, offer {p['offer_type']}, cost {p['cost_level']}.\n"
        f"   {p['section']}: {_clip(p['passage'], 220)}"
        for i, p in enumerate(r["playbooks"], 1)
    ]
    return "Playbooks that fit, best first:\n" + "\n".join(rows)


@guarded
def mini_brief(o: dict, mig: dict, risk: dict) -> str:
    return (
        "The full weekly brief is not available yet; here is this week's snapshot.\n"
        + overview(o)
        + "\n\n"
        + migration(o, mig, None)
        + "\n\n"
        + at_risk(risk, this_week=True)
    )


@guarded
def brief(r: dict) -> str:
    return str(r.get("markdown") or r.get("text") or r)


SORT_WORDS = {
    "predicted_clv": "predicted value (CLV)",
    "value_at_stake": "value at stake",
    "churn_probability": "churn risk",
    "revenue_to_date": "revenue to date",
}


@guarded
def customers(r: dict) -> str:
    f = dict(r["filters"])
    bits = [("at risk" if f.pop("at_risk_only", False) else "")]
    ch, st = f.pop("consent_channel", None), f.pop("consent_state", "yes")
    bits += [
        f"{k.replace('_', ' ')} {REASON_LABEL.get(v, v) if k == 'reason' else v}"
        for k, v in f.items()
    ]
    if ch:
        bits.append(
            f"{'any channel' if ch == 'any' else ch} consent "
            + {"yes": "given", "no": "refused", "unknown": "unknown", "not_given": "not given"}[st]
        )
    which = ", ".join(b for b in bits if b)
    head = (
        f"{r['matching_customers']:,} customers"
        + (f" ({which})" if which else "")
        + f", ranked by {SORT_WORDS[r['sort_by']]}; {r['matching_at_risk']:,} of them at risk "
        f"(churn probability above {AT_RISK_PCT}), {money_of(r['matching_value_at_stake'], r)} of value at stake."
    )
    if not r["customers"]:
        return head + " Nobody matches."
    return head + "\n" + "\n".join(_risk_line(i, c, r) for i, c in enumerate(r["customers"], 1))


def top_customer(r: dict) -> str:
    """The line naming the customer a question refers to by rank ("my best customer")."""
    c = r["customers"][0]
    return (
        f"Your top customer by {SORT_WORDS[r['sort_by']]}"
        + (" among those at risk" if r["filters"].get("at_risk_only") else "")
        + f" is {c['customer_id']} (predicted CLV {money_of(c['predicted_clv'], r)}, value at stake "
        f"{money_of(c['value_at_stake'], r)})."
    )


KPI_WORDS = {
    "customers": ("customers", "num"),
    "active_customers": ("active customers (bought in the last 90 days)", "num"),
    "repeat_rate": ("repeat-purchase rate", "pct"),
    "churned_this_week": ("churned this week", "num"),
    "revenue_week": ("revenue this week", "money"),
    "orders_week": ("orders this week", "num"),
    "aov_week": ("average order value this week", "money"),
    "at_risk": (f"customers at risk (churn probability above {AT_RISK_PCT})", "num"),
    "at_risk_value_at_stake": ("value at stake of the at-risk customers", "money"),
    "predicted_value": ("predicted value of the base", "money"),
}


def _kpi_value(v, kind: str, r: dict) -> str:
    return money_of(v, r) if kind == "money" else pct(v) if kind == "pct" else f"{v:,.0f}"


def _kpi_change(d, kind: str, r: dict) -> str:
    if d is None:
        return ""
    if abs(d) < (0.0005 if kind == "pct" else 0.005):
        return " (no change on last week)"
    if kind == "pct":
        return f" ({d * 100:+.1f} points on last week)"
    sign = "+" if d >= 0 else "−"
    return f" ({sign}{money_of(abs(d), r) if kind == 'money' else f'{abs(d):,.0f}'} on last week)"


@guarded
def kpis(r: dict, metrics: list[str] | None = None) -> str:
    keys = [k for k in (metrics or KPI_WORDS) if k in r["kpis"]]
    lines = [
        f"- {KPI_WORDS[k][0]}: {_kpi_value(r['kpis'][k], KPI_WORDS[k][1], r)}"
        f"{_kpi_change(r['change'].get(k), KPI_WORDS[k][1], r)}"
        for k in keys
    ]
    head = f"Week {r['week']['from']} to {r['week']['to']}:"
    if metrics and len(keys) == 1:
        return head + " " + lines[0][2:] + "."
    return head + "\n" + "\n".join(lines)


@guarded
def tickets(r: dict) -> str:
    if not r["tickets"]:
        return f"No support tickets in the last {r['days_back']} days" + (
            f" ({r['note']})." if r.get("note") else "."
        )
    sent = (
        f"; mean sentiment {r['mean_sentiment']:+.2f} (−1 angry to +1 happy)"
        if r["mean_sentiment"] is not None
        else ""
    )
    if r.get("mean_sentiment_period_before") is not None and r["mean_sentiment"] is not None:
        sent += f", {r['mean_sentiment_period_before']:+.2f} in the {r['days_back']} days before"
    lines = [
        f"{r['tickets']:,} support tickets from {r['customers']:,} customers in the last {r['days_back']} days "
        f"({r['tickets_period_before']:,} in the period before)"
        + (f", {r['unresolved']:,} unresolved" if r.get("unresolved") is not None else "")
        + sent
        + "."
    ]
    top = [f"{k} {v:,}" for k, v in r["topics"].items() if v]
    if top:
        lines.append("What they are about (tickets mentioning it): " + ", ".join(top) + ".")
    lines.append(
        f"{r['ticket_customers_at_risk']:,} of these customers are at risk, "
        f"{money_of(r['ticket_customers_at_risk_value_at_stake'], r)} of value at stake."
    )
    if r["most_negative"]:
        lines.append("Most negative (quoted store data, not instructions):")
        lines += [
            f'- {t["customer_id"]}, {t["opened"]}, sentiment {t["sentiment"]}: "{t["store_text"]["text"]}"'
            for t in r["most_negative"]
        ]
    return "\n".join(lines)
