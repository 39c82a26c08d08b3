"""The assistant's reporting tools: the weekly brief, campaign results, one customer's history.

Thin wrappers over `agent.reports` (the brief, imported only when asked for: it pulls in the
scorer and matplotlib; campaigns) and the approval queue, registered in
`agent.toolbox.tools.TOOLS` with the other tools.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from agent.reports import campaigns as camps
from agent.toolbox.outreach import DRAFT_TEXT_NOTE, session_settings
from agent.toolbox.tools import Args, CustomerArgs, base_result, rounded, store_queue, tool


class BriefArgs(Args):
    cac: float | None = Field(None, gt=0, description="Customer acquisition cost, for LTV:CAC.")


@tool(BriefArgs)
def weekly_brief(session, a: BriefArgs) -> dict | str:
    """This week's retention brief (written to the workspace as Markdown, HTML and charts):
    KPIs and their week-over-week change, segment moves, top at-risk high-value customers,
    recommended plays and drafts waiting for approval. Slow the first time (scores last week)."""
    # here, not at the top: the brief pulls in the scorer and matplotlib (seconds of start-up)
    from agent.reports import brief

    b = brief.weekly_brief(
        session.store,
        workspace=session.workspace,
        week_ending=session.as_of,
        cac=a.cac,
        horizon_days=session.horizon_days,
        settings=session_settings(session),
    )
    return {
        "week_ending": b.week_ending,
        "markdown": b.markdown[:8000],
        "files": {k: v for k, v in b.paths.items() if k in ("md", "html")},
    }


def _num(x, nd: int = 4):
    """A rounded float, or None for a missing value (NaN: a group too small to measure)."""
    try:
        return None if x is None or x != x else rounded(x, nd)
    except (TypeError, ValueError):
        return None


def _effect(row: dict) -> dict:
    """One campaign_results row in the tool's words: save rate and incremental revenue with their
    95% intervals (incremental revenue = revenue difference per customer x treated customers)."""
    n = int(row["treated"])
    scale = lambda v: None if v is None else rounded(v * n, 2)
    rd, lo, hi = (_num(row[k], 4) for k in ("revenue_difference", "revenue_low", "revenue_high"))
    up = _num(row["uplift"])
    return {
        "treated": n,
        "control": int(row["control"]),
        "treated_buyers": int(row["treated_buyers"]),
        "control_buyers": int(row["control_buyers"]),
        "treated_rate": _num(row["treated_rate"]),
        "control_rate": _num(row["control_rate"]),
        "save_rate": up,
        "save_rate_interval_95": [_num(row["uplift_low"]), _num(row["uplift_high"])],
        "customers_saved": None if up is None else rounded(up * n, 1),
        "revenue_per_customer_difference": None if rd is None else rounded(rd, 2),
        "incremental_revenue": scale(rd),
        "incremental_revenue_interval_95": [scale(lo), scale(hi)],
    }


class CampaignArgs(Args):
    campaign_id: str | None = Field(
        None, max_length=80, description="One campaign; default: the latest."
    )
    window_days: int | None = Field(
        None,
        ge=7,
        le=365,
        description="Days after the campaign's start in which a purchase counts (default 56).",
    )
    limit: int = Field(3, ge=1, le=20, description="How many campaigns, newest first.")


@tool(CampaignArgs)
def campaign_results(session, a: CampaignArgs) -> dict | str:
    """Measured results of this store's campaigns, newest first: treated customers vs the held-out
    control group over the measurement window, the save rate (repurchase rate difference) and the
    incremental revenue, each with its 95% interval, per campaign and per play. `complete` is
    false while the window is still open. Nothing is estimated: it is what the orders show."""
    queue = store_queue(session)
    mine = set(camps.store_campaigns(queue, session.store_dir)[0])
    rows = [c for c in camps.list_campaigns(queue) if c.id in mine]
    if a.campaign_id is not None:
        rows = [c for c in rows if c.id == a.campaign_id]
        if not rows:
            raise ValueError(f"no campaign {a.campaign_id!r} for this store")
    last = session.orders["order_date"].max().normalize()
    measured = lambda c: (last - pd.Timestamp(c.week_of)).days + 1
    # newest first, campaigns with a week of orders behind them before those just started
    rows = sorted(rows[::-1], key=lambda c: measured(c) < 7)[: a.limit]
    titles = {pb.id: pb.title for pb in session.kb.playbooks()}
    drafts = queue.list_drafts()
    out = []
    for c in rows:
        mine_d = [d for d in drafts if d.campaign_id == c.id]
        sent = sum(d.exported_at is not None for d in mine_d)
        row = camps.campaign_results(
            session.orders, c, window_days=a.window_days, contacted=sent
        ).iloc[0]
        plays: dict[str, list[str]] = {}
        treated = set(c.treated_ids or [])
        for d in mine_d:
            if d.customer_id in treated and d.playbook_id:
                plays.setdefault(d.playbook_id, []).append(d.customer_id)
        per_play = []
        for pid, ids in sorted(plays.items(), key=lambda kv: -len(kv[1])):
            pr = camps.campaign_results(
                session.orders,
                {
                    "id": f"{c.id}/{pid}",
                    "week_of": c.week_of,
                    "treated_ids": ids,
                    "control_ids": c.control_ids,
                },
                window_days=a.window_days,
            ).iloc[0]
            per_play.append(
                {"playbook_id": pid, "playbook_title": titles.get(pid, pid), **_effect(pr)}
            )
        out.append(
            {
                "campaign_id": c.id,
                "week_of": str(c.week_of),
                "window": [row["start"], row["end"]],
                "complete": bool(row["complete"]),
                "days_measured": max(0, min(measured(c), int(row["window_days"]))),
                "contacted": sent,
                **_effect(row),
                "plays": per_play,
            }
        )
    return {
        **base_result(session),
        "campaigns": out,
        "campaigns_total": len(mine),
        "method": "save rate: Newcombe hybrid score 95% interval; revenue: Welch t 95% interval; "
        "per play, that play's treated customers vs the campaign's whole control group",
        "units": "rates as shares (0.05 = 5 points); revenue in currency",
    }


@tool(CustomerArgs)
def customer_history(session, a: CustomerArgs) -> dict | str:
    """One customer's history with the store and with us: their purchase occasions (latest 10:
    date, lines, net amount), returns, and every draft made for them in this store's campaigns
    (campaign, week, channel, play, state: pending, approved, rejected, blocked or exported)."""
    cid = session.customer_row(a.customer_id)["customer_id"]
    o = session.rows_of("orders", cid)
    day = o["order_date"].dt.normalize()
    by_day = (
        o.assign(_day=day).groupby("_day").agg(lines=("amount", "size"), amount=("amount", "sum"))
    )
    occasions = [
        {"date": str(d.date()), "lines": int(r.lines), "net_amount": rounded(r.amount)}
        for d, r in by_day.sort_index(ascending=False).head(10).iterrows()
    ]
    out = {
        **base_result(session),
        "customer_id": cid,
        "purchase_days": int((by_day["amount"] >= 0).sum()),
        "net_revenue": rounded(o["amount"].sum()),
        "returned_lines": int((o["amount"] < 0).sum()),
        "latest_purchases": occasions,
        "drafts": [],
        "units": "amounts in currency",
    }
    queue = store_queue(session)
    mine = {
        c.id: c
        for c in camps.list_campaigns(queue)
        if c.id in set(camps.store_campaigns(queue, session.store_dir)[0])
    }
    titles = {pb.id: pb.title for pb in session.kb.playbooks()}
    out["drafts"] = [
        {
            "draft_id": d.id,
            "campaign_id": d.campaign_id,
            "week_of": str(mine[d.campaign_id].week_of),
            "channel": d.channel,
            "playbook_title": titles.get(d.playbook_id, d.playbook_id),
            "state": d.status,
            "store_text": {"subject": session.quote(d.subject, 120)},
        }
        for d in queue.list_drafts()
        if d.customer_id == cid and d.campaign_id in mine
    ]
    out["in_control_groups"] = [c.id for c in mine.values() if cid in (c.control_ids or [])]
    out["store_text_note"] = DRAFT_TEXT_NOTE
    return out
