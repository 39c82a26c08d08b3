"""`retention demo-data --weeks N`: the loop that grades itself, run on the demo store.

Each simulated week, on the store as its data stand at the week's end:
score (the snapshot and its forecast are kept), plan and draft a campaign on the save rates the
measured campaigns taught so far (`agent.outreach.campaign.create_campaign`), approve every pending
draft as the demo merchant, export them (nothing is sent), plant the customers' responses
(`tools.demo.weeks.respond`: true effects per play and per churn reason), then let the week
happen (`tools.demo.weeks.advance_week`): its orders and events arrive as the next week's data.
Optionally a brief is written at each week's end, grading the forecasts and campaigns before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from agent.workspace import Workspace

MERCHANT = "Demo merchant"
LOOP_SETTINGS: dict[str, Any] = {
    "weekly_contact_budget": 1500,
    "control_share": 0.3,
    "contact_cap_days": 28,
}
"""A demo store runs bigger campaigns than the default, so that a few weeks can teach something."""
LOOP_WINDOW_DAYS = 28


@dataclass
class LoopResult:
    store: Path
    weeks: list[dict] = field(default_factory=list)
    briefs: list[str] = field(default_factory=list)


def _now_after(day: pd.Timestamp) -> datetime:
    """The loader's "now" for simulated data: real time, or the simulated week if it is later."""
    return max(datetime.now(), (day + pd.Timedelta(days=2)).to_pydatetime())


def run_loop(
    store_dir: str | Path,
    workspace: Workspace,
    *,
    weeks: int,
    settings=None,
    seed: int = 7,
    window_days: int = LOOP_WINDOW_DAYS,
    horizon_days: int = 365,
    briefs: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> LoopResult:
    """Run `weeks` weeks of plan, approval, export and response on a demo store (module
    docstring). `settings`: agent.settings.Settings (default: LOOP_SETTINGS on the defaults)."""
    from agent.approvals.queue import open_queue
    from agent.outreach.campaign import create_campaign
    from agent.reports.campaigns import export_approved
    from agent.reports.learning import playbook_priors
    from agent.reports.snapshots import scores_for
    from agent.settings import Settings
    from knowledge import builtin_playbook_dir, load_playbooks
    from tools.demo import weeks as D
    from tools.ingest.load import load_store

    store_dir = Path(store_dir)
    settings = settings or Settings(_env_file=None, **LOOP_SETTINGS)
    playbooks = list(load_playbooks([builtin_playbook_dir()]).playbooks)
    priors = playbook_priors(playbooks)
    queue = open_queue(workspace.root, url=settings.database_url)
    if not queue.people():
        queue.add_person(MERCHANT)
    result = LoopResult(store_dir)
    st = load_store(store_dir, rejects_dir=workspace.rejects)
    end = st.orders["order_date"].max().normalize()
    for week in range(weeks):
        start = end + pd.Timedelta(days=1)
        progress(f"week {week + 1} of {weeks}: scoring as of {end.date()}")
        scores, _ = scores_for(st, workspace, end, horizon_days=horizon_days)
        if briefs and week:
            result.briefs.append(_brief(st, workspace, end, horizon_days, settings))
        progress(f"week {week + 1} of {weeks}: planning, approving and exporting")
        cid = f"week-{start.date()}"
        plan, drafts, ids = create_campaign(
            queue,
            scores=scores,
            customers=st.customers,
            playbooks=playbooks,
            settings=settings,
            week_of=start,
            campaign_id=cid,
            orders=st.orders,
            products=st.products,
            store_path=st.path,
            window_days=window_days,
        )
        approved = queue.approve_all_pending(actor=MERCHANT, campaign=cid)
        exported = (
            export_approved(workspace, queue, actor=MERCHANT, store=st.path) if approved else None
        )
        arms = _arms(plan, st.orders, end)
        truth = (
            D.respond(
                store_dir,
                arms,
                start=start,
                window_days=window_days,
                seed=seed * 1000 + week,
                priors=priors,
            )
            if len(arms)
            else arms
        )
        counts = D.advance_week(store_dir, start=start, seed=seed * 1000 + 500 + week)
        result.weeks.append(
            {
                "week": week + 1,
                "campaign_id": cid,
                "as_of": str(end.date()),
                "treated": len(plan.treated_ids),
                "control": len(plan.control_ids),
                "approved": len(approved),
                "exported": len(exported.draft_ids) if exported else 0,
                "responders": int(truth["responder"].sum()) if len(truth) else 0,
                **counts,
            }
        )
        end = end + pd.Timedelta(days=7)
        st = load_store(store_dir, rejects_dir=workspace.rejects, now=_now_after(end))
    if briefs:
        scores_for(st, workspace, end, horizon_days=horizon_days)
        result.briefs.append(_brief(st, workspace, end, horizon_days, settings))
    return result


def _arms(plan, orders: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """customer_id, arm, playbook_id, churn_reason, days_since_last of a plan's treated and control."""
    arms = plan.settings.get("arms") or {}
    treated = set(plan.treated_ids)
    ids = [c for c in [*plan.treated_ids, *plan.control_ids] if c in arms]
    last = (
        orders.loc[orders["amount"] > 0]
        .groupby(orders["customer_id"].astype(str))["order_date"]
        .max()
    )
    since = (end - last.reindex(ids)).dt.days.fillna(9999).to_numpy()
    return pd.DataFrame(
        {
            "customer_id": ids,
            "arm": ["treated" if c in treated else "control" for c in ids],
            "playbook_id": [arms[c][0] for c in ids],
            "churn_reason": [arms[c][1] for c in ids],
            "days_since_last": since,
        }
    )


def _brief(st, ws: Workspace, end: pd.Timestamp, horizon_days: int, settings) -> str:
    from agent.reports.brief import weekly_brief

    return weekly_brief(
        st, workspace=ws, week_ending=end, horizon_days=horizon_days, settings=settings
    ).paths["md"]
