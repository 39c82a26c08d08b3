"""Offline answers about outreach: this week's plan, drafts queued or previewed, how campaigns
did against their control group, and a customer's history of orders and drafts.

Every number comes from the tool result passed in (`answers.guarded`: an "Error: ..." result is
said as such); unknown consent is spelled out with who is waiting on it and how to supply it.
"""

from __future__ import annotations

from agent.assistant.answers import guarded, money_of, pct
from tools.schema import REASON_LABEL


def _plan_row(i: int, c: dict, r: dict) -> str:
    return (
        f"{i}. {c['customer_id']} — {c['playbook_title']} by {c['channel'].replace('_', ' ')}"
        + (f", offer: {c['offer']}" if c.get("offer") else "")
        + f"; churn {pct(c['churn_probability'])}, CLV {money_of(c['clv'], r)}, expected value "
        f"{money_of(c['expected_value'], r)} ({REASON_LABEL.get(c['churn_reason'], c['churn_reason'])})"
        + (
            f"; consent: {c['consent_basis']}"
            if str(c.get("consent_basis") or "").startswith("merchant")
            else ""
        )
    )


def consent_lines(r: dict) -> list[str]:
    """What a plan's tool result says about unknown consent: who would be contacted and why, that
    the files carry no consent, and how to supply it. Empty when consent is known."""
    if not r.get("awaiting_consent_total"):
        return []
    lines = [
        r.get("consent_statement")
        or "The store's files do not say whether these customers consent.",
        f"{r['awaiting_consent_total']:,} customers have a play worth running but unknown consent, so "
        f"nobody was contacted on it; {r['awaiting_consent_this_week']:,} would be this week. "
        "Who they are and why:",
    ]
    lines += [_plan_row(i, c, r) for i, c in enumerate(r.get("awaiting_consent", []), 1)]
    lines.append(f"To supply consent: {r['how_to_supply_consent']}")
    return lines


@guarded
def plan(r: dict) -> str:
    head = (
        f"This week's plan ({r['week_of']}): {r['chosen_total']:,} customers chosen, "
        f"{r['control_group_size']:,} held out as a control group."
    )
    rows = [_plan_row(i, c, r) for i, c in enumerate(r["customers"], 1)]
    skipped = ", ".join(f"{k}: {v:,}" for k, v in list(r["skipped_counts"].items())[:4])
    out = "\n".join([head, *rows]) + (f"\nNot contacted — {skipped}." if skipped else "")
    extra = consent_lines(r)
    if not extra and r.get("consent_statement"):
        extra = [r["consent_statement"]]
    return out + ("\n\n" + "\n".join(extra) if extra else "")


@guarded
def queued(r: dict) -> str:
    if not r["queued"] and r.get("awaiting_consent_total"):
        lines = [
            "No draft was queued: the customers to draft for have unknown consent, and nobody is "
            "contacted without it. Nothing is sent."
        ] + consent_lines(r)
    elif not r["queued"]:
        lines = [
            "No draft was queued: nobody here can be contacted under the guardrails. Nothing is sent."
        ]
    else:
        kind_ok = any(
            d["customer_id"] not in r.get("other_play_for", []) for d in r.get("drafts", [])
        )
        what = " ".join(
            x
            for x in (
                PLAY_WORDS.get(r.get("play") or "", "") if kind_ok else "",
                r.get("channel") or "",
            )
            if x
        )
        lines = [
            f"Drafted {r['queued']} {what + ' ' if what else ''}message(s) into the approval queue "
            f"(campaign {r['campaign_id']}); {r['blocked']} blocked by guardrails. Nothing is sent: "
            f"{r['next_step']}."
        ]
    for d in r.get("drafts", []):
        blocked = (
            f" [BLOCKED: {', '.join(d.get('blocked_by') or ['guardrails'])}]"
            if d["blocked"]
            else ""
        )
        lines.append(
            f'- {d["customer_id"]} by {d["channel"]}: "{d["store_text"]["subject"]}" — '
            f"{d['playbook_title']}{blocked}"
        )
    lines += [f"- {cid}: not drafted ({why})" for cid, why in r.get("not_drafted", {}).items()]
    if r.get("other_play_for"):
        lines.append(
            f"No {PLAY_WORDS.get(r['play'], r['play'])} play fits {', '.join(r['other_play_for'])} or is "
            "worth its cost, so the best-fitting play for them was drafted instead."
        )
    if r["queued"] and r.get("awaiting_consent_total"):
        lines += ["", *consent_lines(r)]
    return "\n".join(lines)


PLAY_WORDS = {
    "win_back": "win-back",
    "replenishment": "replenishment",
    "cross_sell": "cross-sell",
    "second_purchase": "second-purchase",
    "vip": "VIP",
    "feedback": "feedback",
}


def _ci(pair, fmt) -> str:
    lo, hi = pair
    return "" if lo is None or hi is None else f" (95% interval {fmt(lo)} to {fmt(hi)})"


def _effect_line(e: dict, r: dict) -> str:
    pts = lambda x: f"{x * 100:+.1f} points"
    money_ = lambda x: ("+" if x >= 0 else "−") + money_of(abs(x), r)
    if e["save_rate"] is None:
        return (
            f"{e['treated']:,} treated vs {e['control']:,} in the control group: too few to measure"
        )
    rev = (
        ""
        if e["incremental_revenue"] is None
        else f"; incremental revenue {money_(e['incremental_revenue'])}"
        f"{_ci(e['incremental_revenue_interval_95'], money_)}"
    )
    return (
        f"{e['treated']:,} treated bought again at {pct(e['treated_rate'])} vs {pct(e['control_rate'])} of "
        f"{e['control']:,} held out: save rate {pts(e['save_rate'])}{_ci(e['save_rate_interval_95'], pts)}"
        f", about {e['customers_saved']:,.1f} customers saved{rev}"
    )


@guarded
def campaigns(r: dict) -> str:
    if not r["campaigns"]:
        return (
            "No campaign has been recorded for this store yet, so there is nothing to measure. A campaign "
            "is recorded when drafts go into the approval queue (ask e.g. 'draft messages for this week's "
            "plan'); its results come from the orders in the weeks after it, against the held-out control group."
        )
    lines = []
    for c in r["campaigns"]:
        state = (
            "final"
            if c["complete"]
            else f"window still open, orders of {c['days_measured']} day(s) so far"
        )
        lines.append(
            f"Campaign {c['campaign_id']} (week of {c['week_of']}, measured {c['window'][0]} to "
            f"{c['window'][1]}, {state}; {c['contacted']:,} messages exported): {_effect_line(c, r)}."
        )
        lines += [f"- {p['playbook_title']}: {_effect_line(p, r)}." for p in c["plays"]]
    if r["campaigns_total"] > len(r["campaigns"]):
        lines.append(f"({len(r['campaigns'])} newest of {r['campaigns_total']} campaigns.)")
    lines.append("An interval that spans zero means the campaign may have made no difference.")
    return "\n".join(lines)


@guarded
def history(r: dict) -> str:
    buys = (
        "; ".join(f"{o['date']} {money_of(o['net_amount'], r)}" for o in r["latest_purchases"][:5])
        or "none"
    )
    lines = [
        f"{r['customer_id']}: purchase days {r['purchase_days']:,}, net revenue {money_of(r['net_revenue'], r)}, "
        f"{r['returned_lines']:,} returned lines. Latest purchases: {buys}."
    ]
    if r["drafts"]:
        lines.append(f"Drafts for {r['customer_id']} ({len(r['drafts'])}):")
        lines += [
            f"- {d['week_of']}, campaign {d['campaign_id']}: {d['playbook_title']} by {d['channel']}, "
            f'{d["state"]} — "{d["store_text"]["subject"]}"'
            for d in r["drafts"]
        ]
    else:
        lines.append(
            f"No draft has been made for {r['customer_id']} yet"
            + (f" ({r['drafts_note']})." if r.get("drafts_note") else ".")
        )
    if r.get("in_control_groups"):
        lines.append("Held out as control in: " + ", ".join(r["in_control_groups"]) + ".")
    return "\n".join(lines)


@guarded
def draft_preview(r: dict) -> str:
    if not r.get("drafted"):
        return f"No draft for {r['customer_id']}: {r.get('why_not', 'no play fits')}."
    t = r["store_text"]
    flags = "; ".join(f["message"] for f in r.get("flags", []) if f.get("message"))
    return (
        f"Preview for {r['customer_id']} ({r['playbook_title']} by {r['channel']}; not queued, nothing "
        f"sent):\nSubject: {t['subject']}\n{t['body']}"
        + (f"\nReview notes: {flags}" if flags else "")
    )
