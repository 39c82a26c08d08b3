"""The loop that grades itself: the brief's facts and Markdown for last week's
forecast against what happened, the campaigns' measured results, and what they taught the plan.

Every number here is a fact (`agent.reports.brief` keeps it in `Brief.facts` and renders it with
`agent.display.fmt`), so the brief's rule holds: no number that no tool produced.

- `forecast_facts`: the snapshots of this store made 7 to 28 days before the week's end
  (`agent.reports.snapshots.load_forecast`) graded through it (`tools.insights.forecast.grade_forecast`), the
  most recent first; the customers called at risk who bought anyway and called safe who
  lapsed; calibration of the no-purchase probabilities over 28-day windows that have matured
  (7-day ones while none has); an alarm when the latest error leaves the band its backtest
  led one to expect, with what to do.
- `campaign_facts`: `agent.reports.campaigns.campaign_results` of each of this store's campaigns.
- `learning_facts`: each measured play's posterior save rate (`agent.reports.learning`) and whether
  the learnt rates gave it more or fewer customers this week than the playbook's prior would.
"""

from __future__ import annotations

import json

import pandas as pd

from agent.display import fmt
from agent.workspace import Workspace

GRADE_DAYS = (7, 14, 21, 28)
CALIBRATION_DAYS = (28, 7)
MAX_CAMPAIGNS = 8
MAX_AGE_DAYS = 120
"""Snapshots older than this are not read (calibration uses the latest 12 matured windows)."""


def _store_snapshots(ws: Workspace, store_path, horizon_days: int) -> list[str]:
    from agent.reports.snapshots import list_snapshots

    days = []
    for day in list_snapshots(ws):
        try:
            p = json.loads((ws.scores / f"params_{day}.json").read_text())
        except (OSError, ValueError):
            continue
        if p.get("store") == str(store_path) and int(p.get("horizon_days") or 0) == int(
            horizon_days
        ):
            days.append(day)
    return days


def forecast_facts(
    store, ws: Workspace, end: pd.Timestamp, *, horizon_days: int, queue=None
) -> dict:
    """Last week's forecast against what happened (module docstring); {"graded": []} when no
    snapshot of this store is a week or more old. With the approval `queue`, the orders placed
    by customers its campaigns treated in the period are counted too (the forecast knows
    nothing of campaigns)."""
    from agent.reports.snapshots import load_forecast
    from tools.insights import forecast as F

    days = _store_snapshots(ws, store.path, horizon_days)
    graded: list[dict] = []
    pairs: dict = {}
    for d in sorted(days, reverse=True):
        age = (end - pd.Timestamp(d)).days
        if age < 7:
            continue
        if age > MAX_AGE_DAYS:
            break
        got = load_forecast(ws, d, store.orders)
        if got is None:
            continue
        fc, meta = got
        for cd in CALIBRATION_DAYS:
            if age >= cd and len(pairs.get(cd, [])) < 12:
                pairs.setdefault(cd, []).append((fc, pd.Timestamp(d)))
        if age in GRADE_DAYS:
            g = F.grade_forecast(
                fc,
                store.orders,
                as_of=d,
                through=end,
                horizon_days=horizon_days,
                backtest_rel_error=meta.get("backtest_rel_error"),
                value_cv=float(meta.get("value_cv") or 1.0),
            )
            for k in ("orders_forecast", "orders_low", "orders_high", "at_risk_expected_buyers"):
                g[k] = float(round(g[k]))  # counts of orders and people are said in whole numbers
            g["orders_ok"] = bool(g["orders_low"] <= g["orders_actual"] <= g["orders_high"])
            graded.append(g)
    out: dict = {
        "graded": graded,
        "thresholds": {"at_risk": F.AT_RISK, "safe": F.SAFE, "grace_days": 30},
    }
    for cd in CALIBRATION_DAYS:
        if pairs.get(cd):
            out["calibration"] = F.calibration(pairs[cd], store.orders, days=cd)
            break
    if graded:
        g = graded[0]
        if queue is not None:
            g["contacted_orders"] = _contacted_orders(queue, store, g)
        if not (g["orders_ok"] and g["revenue_ok"]):
            out["alarm"] = _alarm(g)
    return out


def _contacted_orders(queue, store, g: dict) -> float:
    """Purchase occasions in the graded period by customers treated by this store's campaigns
    that started in it or whose window was open during it."""
    from agent.reports.campaigns import DEFAULT_WINDOW_DAYS, list_campaigns, on_store
    from tools.insights.forecast import occasions

    start, through = pd.Timestamp(g["as_of"]), pd.Timestamp(g["through"])
    treated: set[str] = set()
    for c in list_campaigns(queue):
        w0 = pd.Timestamp(c.week_of)
        w1 = w0 + pd.Timedelta(
            days=int((c.settings or {}).get("window_days") or DEFAULT_WINDOW_DAYS)
        )
        if on_store(c, store.path) and w0 <= through and w1 > start:
            treated.update(map(str, c.treated_ids or []))
    occ = occasions(store.orders, start, through)
    return float(occ.loc[occ.index.isin(treated), "bought"].sum())


def _alarm(g: dict) -> str:
    if g["orders_actual"] == 0:
        return (
            "no orders at all arrived since the forecast: check the data first (a missing export, "
            "a filter, a changed file), then re-score"
        )
    off = [
        f"{'fewer' if g[k + '_actual'] < g[k + '_low'] else 'more'} {k}"
        for k in ("orders", "revenue")
        if not g[k + "_ok"]
    ]
    what = " and ".join(off)
    return (
        f"{what} than the band the backtest led us to expect: check the data "
        "(missing or duplicated days of orders, refunds, a new sales channel), then re-score the store "
        "(`retention score`, or the brief re-scores its own week) so next week's plan does not rest "
        "on a forecast that has stopped tracking"
    )


def campaign_facts(queue, store, end: pd.Timestamp) -> list[dict]:
    """The measured result of each of this store's campaigns that started by `end` (the last
    MAX_CAMPAIGNS), as plain dicts (`agent.reports.campaigns.campaign_results` rows)."""
    from agent.reports.campaigns import campaign_results, list_campaigns, store_campaigns

    mine = set(store_campaigns(queue, store.path)[0])
    orders = store.orders.loc[store.orders["order_date"] < end + pd.Timedelta(days=1)]
    drafts = queue.list_drafts()
    rows = []
    for c in list_campaigns(queue):
        if c.id not in mine or pd.Timestamp(c.week_of) > end:
            continue
        sent = sum(1 for d in drafts if d.campaign_id == c.id and d.exported_at is not None)
        r = campaign_results(orders, c, contacted=sent).iloc[0].to_dict()
        rows.append({k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()})
    return rows[-MAX_CAMPAIGNS:]


CAMPAIGN_LEVEL = 0.95
"""The level of the campaign results' intervals (agent.reports.campaigns: Newcombe and Welch, 95%)."""


def learning_facts(
    queue, store, playbooks: list, end: pd.Timestamp
) -> tuple[dict[str, float], dict]:
    """(the save rates the plan should use, the facts about them): per measured play its
    counts, the playbook's prior and this store's posterior (agent.reports.learning)."""
    from agent.reports.learning import (
        LEVEL,
        arm_outcomes,
        learned_save_rates,
        play_posteriors,
        playbook_priors,
    )

    outcomes = arm_outcomes(queue, store.orders, store_path=store.path, as_of=end)
    if len(outcomes) == 0:
        return {}, {"plays": [], "measured_customers": 0}
    priors = playbook_priors(playbooks)
    post = play_posteriors(outcomes, priors)
    rates = learned_save_rates(queue, store.orders, playbooks, outcomes=outcomes)
    from agent.outreach.plan import Play

    titles = {q.id: q.title for q in map(Play.of, playbooks)}
    plays = [
        {**r, "playbook_title": titles.get(r["playbook_id"]) or r["playbook_id"]}
        for r in post.to_dict("records")
    ]
    return rates, {"plays": plays, "measured_customers": int(len(outcomes)), "level": LEVEL}


def verdict(p: dict) -> str:
    """Earned or lost its place, in words, from the posterior and this week's plan."""
    before, after = p.get("customers_prior", 0), p.get("customers_learned", 0)
    if after > before:
        move = "earned a bigger place in this week's plan"
    elif after < before:
        move = "lost ground in this week's plan" if after else "lost its place in this week's plan"
    else:
        move = "kept its place"
    sure = p["p_better_than_prior"]
    if sure >= 0.9:
        how = "very likely better than the playbook says"
    elif sure <= 0.1:
        how = "very likely worse than the playbook says"
    else:
        how = "not yet clearly different from the playbook"
    return f"{move}; {how}"


# --- Markdown -------------------------------------------------------------------------------


def forecast_markdown(f: dict, cur: str | None) -> list[str]:

    lines = ["", "## Last week's forecast against what happened", ""]
    graded = f.get("graded") or []
    if not graded:
        return lines + ["No forecast is a week old yet: next week's brief grades this week's."]
    g = graded[0]
    lines.append(
        f"The forecast made on {g['as_of']} expected {fmt(g['orders_forecast'])} orders "
        f"(band {fmt(g['orders_low'])} to {fmt(g['orders_high'])}) and "
        f"{fmt(g['revenue_forecast'], 'money', cur)} (band {fmt(g['revenue_low'], 'money', cur)} to "
        f"{fmt(g['revenue_high'], 'money', cur)}) from the customers it scored, through {g['through']}; "
        f"they placed {fmt(g['orders_actual'])} orders worth {fmt(g['revenue_actual'], 'money', cur)}."
    )
    if g.get("contacted_orders"):
        lines += [
            "",
            f"{fmt(g['contacted_orders'])} of these orders came from customers the campaigns contacted: "
            "the forecast knows nothing of campaigns, so a campaign that works lifts the actual above it.",
        ]
    if f.get("alarm"):
        lines += ["", f"**Alarm:** {f['alarm']}."]
    else:
        lines += [
            "",
            "Both are inside the band the backtest led us to expect: the forecast is tracking.",
        ]
    lines += [
        "",
        "| forecast made on | days since | orders forecast (band) | orders actual | "
        "revenue forecast (band) | revenue actual | inside the band |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in graded:
        ok = "yes" if r["orders_ok"] and r["revenue_ok"] else "no"
        lines.append(
            f"| {r['as_of']} | {fmt(r['days'])} | {fmt(r['orders_forecast'])} ({fmt(r['orders_low'])} to "
            f"{fmt(r['orders_high'])}) | {fmt(r['orders_actual'])} | {fmt(r['revenue_forecast'], 'money', cur)} "
            f"({fmt(r['revenue_low'], 'money', cur)} to {fmt(r['revenue_high'], 'money', cur)}) | "
            f"{fmt(r['revenue_actual'], 'money', cur)} | {ok} |"
        )
    t = f["thresholds"]
    lines += [
        "",
        f"Of the {fmt(g['at_risk'])} customers called at risk (churn risk {fmt(t['at_risk'], 'pct')} or "
        f"more), {fmt(g['at_risk_bought'])} bought anyway (the forecast expected about "
        f"{fmt(g['at_risk_expected_buyers'])}). Of the {fmt(g['safe'])} called safe (under "
        f"{fmt(t['safe'], 'pct')}), {fmt(g['safe_lapsed'])} have lapsed: no order since, and more than "
        f"{fmt(t['grace_days'])} days past the date their next order was expected.",
    ]
    cal = f.get("calibration")
    if cal:
        lines += [
            "",
            f"Calibration of the churn probabilities over {fmt(cal['windows'])} matured "
            f"{fmt(cal['days'])}-day windows ({fmt(cal['customers'])} customer-windows): the predicted "
            f"chance of no order against the share who did not order; mean gap {fmt(cal['mean_gap'], 'pct')}.",
            "",
            "| predicted chance of no order | customers | predicted | observed |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {fmt(b['low'], 'pct')} to {fmt(b['high'], 'pct')} | {fmt(b['customers'])} | "
            f"{fmt(b['predicted'], 'pct')} | {fmt(b['observed'], 'pct')} |"
            for b in cal["bands"]
        ]
    return lines


def campaigns_markdown(rows: list[dict], cur: str | None) -> list[str]:

    if not rows:
        return []
    lines = [
        "",
        "## Campaign results",
        "",
        "Treated against the held-out control group over each campaign's window (every customer the plan "
        "chose counts as treated, sent or not).",
        "",
        f"| campaign | window | treated / control | bought: treated vs control | lift, treated minus control "
        f"({fmt(CAMPAIGN_LEVEL, 'pct')} interval) | extra revenue ({fmt(CAMPAIGN_LEVEL, 'pct')} interval) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        groups = f"{fmt(r['treated'])} / {fmt(r['control'])}"
        window = f"{r['start']} to {r['end']}"
        if r["status"] == "too early":
            lines.append(
                f"| {r['campaign_id']} | {window} | {groups} | – | – | – | too early: the window ends "
                f"on {r['end']} |"
            )
            continue
        if r["treated_rate"] is None or r["control_rate"] is None:
            lines.append(
                f"| {r['campaign_id']} | {window} | {groups} | – | – | – | nothing to compare |"
            )
            continue
        bought = f"{fmt(r['treated_rate'], 'pct')} vs {fmt(r['control_rate'], 'pct')}"
        save = (
            f"{fmt(r['uplift'], 'signed_pct')} ({fmt(r['uplift_low'], 'signed_pct')} to "
            f"{fmt(r['uplift_high'], 'signed_pct')}); {fmt(r['kept_share'], 'pct')} of would-be lapsers kept"
            if r["uplift"] is not None and r["kept_share"] is not None
            else "–"
        )
        extra = (
            f"{fmt(r['incremental_revenue'], 'signed', cur)} ({fmt(r['incremental_revenue_low'], 'signed', cur)} "
            f"to {fmt(r['incremental_revenue_high'], 'signed', cur)})"
            if r["incremental_revenue"] is not None
            else "–"
        )
        word = r["status"]
        if word == "too few to tell" and r.get("customers_needed"):
            word += (
                f": about {fmt(r['customers_needed'])} customers would tell ({fmt(r['treated_needed'])} treated, "
                f"{fmt(r['control_needed'])} control)"
            )
        lines.append(
            f"| {r['campaign_id']} | {window} | {groups} | {bought} | {save} | {extra} | {word} |"
        )
    return lines


def learning_markdown(f: dict) -> list[str]:

    plays = f.get("plays") or []
    if not plays:
        return []
    lines = [
        "",
        "## What the campaigns taught the plan",
        "",
        f"Each play's save rate (the share of would-be lapsers it keeps) is now the playbook's figure "
        f"updated by this store's measured campaigns "
        f"({fmt(f['measured_customers'])} treated and control customers whose window has closed); the plan "
        "above uses the updated rates.",
        "",
        f"| play | campaigns | treated / control | playbook's save rate | this store's ({fmt(f['level'], 'pct')} "
        "interval) | "
        "chance it beats the playbook | customers this week (playbook → learnt) | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in plays:
        lines.append(
            f"| {p['playbook_title']} (`{p['playbook_id']}`) | {fmt(p['campaigns'])} | {fmt(p['treated'])} / "
            f"{fmt(p['control'])} | {fmt(p['prior'], 'pct')} | {fmt(p['posterior_mean'], 'pct')} "
            f"({fmt(p['posterior_low'], 'pct')} to {fmt(p['posterior_high'], 'pct')}) | "
            f"{fmt(p['p_better_than_prior'], 'pct')} | {fmt(p.get('customers_prior', 0))} → "
            f"{fmt(p.get('customers_learned', 0))} | {verdict(p)} |"
        )
    return lines
