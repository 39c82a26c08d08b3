"""The week's campaign: planned, drafted and queued in one step (`retention campaigns plan`, the
demo loop, the assistant's queue_drafts).

What the plan knows comes from the approval queue: the contact log (frequency cap, weekly
budget), the merchant's consent confirmations, the control groups still being measured, and
the save rates and uplift model this store's measured campaigns taught (`agent.reports.learning`).
"""

from __future__ import annotations

import pandas as pd

from agent.outreach.drafts import draft_messages
from agent.outreach.prioritise import prioritise
from agent.reports.campaigns import DEFAULT_WINDOW_DAYS, contact_log, open_control_groups
from agent.reports.learning import arm_outcomes, learned_save_rates, uplift_ranker


def create_campaign(
    queue,
    *,
    scores: pd.DataFrame,
    customers: pd.DataFrame | None,
    playbooks: list,
    settings,
    week_of,
    campaign_id: str,
    orders: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    store_path=None,
    store_facts=None,
    llm_writer=None,
    currency: str | None = None,
    window_days: int | None = None,
    save_rates=None,
    uplift=None,
):
    """Plan, draft and queue one campaign: `prioritise` (with the queue's contact log, the
    store's consent confirmations, the open control groups kept out, and what this store's
    measured campaigns taught when `orders` are given: `agent.reports.learning.learned_save_rates`
    unless `save_rates` is, and once there are enough of them the uplift model
    `agent.reports.learning.uplift_ranker` unless `uplift` is given; `uplift=False` keeps risk ranking),
    then `draft_messages`, then `queue.add_campaign`. The
    measurement window (`window_days`, default DEFAULT_WINDOW_DAYS) is recorded with the
    campaign. Returns (plan, drafts, draft ids)."""
    confirmed = queue.consent_confirmations(store_path) if store_path is not None else {}
    if orders is not None and (save_rates is None or uplift is None):
        measured = arm_outcomes(queue, orders, store_path=store_path, as_of=week_of)
        if save_rates is None:
            save_rates = learned_save_rates(queue, orders, playbooks, outcomes=measured)
        if uplift is None:
            uplift = uplift_ranker(queue, orders, scores=scores, as_of=week_of, outcomes=measured)
    plan = prioritise(
        scores,
        customers,
        playbooks,
        settings=settings,
        week_of=week_of,
        campaign_id=campaign_id,
        contact_log=contact_log(queue, store_path),
        confirmed=confirmed,
        currency=currency,
        save_rates=save_rates,
        held_out=open_control_groups(queue, store_path, week_of=week_of),
        uplift=uplift or None,
    )
    plan.settings["ranked_by"] = "uplift model" if uplift else "risk x save rate"
    plan.settings["window_days"] = int(window_days or DEFAULT_WINDOW_DAYS)
    drafts = draft_messages(
        plan,
        playbooks,
        settings=settings,
        customers=customers,
        orders=orders,
        products=products,
        scores=scores,
        store=store_facts,
        llm_writer=llm_writer,
        confirmed=confirmed,
    )
    ids = queue.add_campaign(plan, drafts, store_path=store_path)
    return plan, drafts, ids
