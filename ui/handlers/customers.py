"""The Customers & segments tab's handlers: the filtered table and the segments, one customer
opened (their card and order history), and the "Draft outreach" of one customer (queued for
approval, shown as the customer will see it)."""

from __future__ import annotations

import re

import gradio as gr

from ui import views
from ui.handlers.approvals import show_draft
from ui.handlers.context import AppContext, JobRunning, no_progress, progress_callback


def customer_rows(
    ctx: AppContext,
    segment: str,
    clv_tier: str,
    churn_reason: str,
    consent: str,
    top_n: int,
    progress=None,
) -> tuple:
    """The Customers tab's table after the filters, the segment table, the filters' choices and
    how many customers the filters match. (table, segments, 3 dropdown updates, count line)"""
    s = ctx.session(progress_callback(progress))
    ch = views.filter_choices(s.scores)
    matched = views.filter_scores(
        s.scores,
        s.customers,
        first_names=ctx.first_names(),
        segment=segment,
        clv_tier=clv_tier,
        churn_reason=churn_reason,
        consent=consent,
    )
    tab = views.top_rows(matched, top_n, product_names=s.product_names())
    cur = s.currency
    return (
        views.customers_view(tab, cur),
        views.segments_view(views.segment_table(s.scores), cur),
        gr.update(choices=views.labelled("segment", ch["segment"])),
        gr.update(choices=views.labelled("clv_tier", ch["clv_tier"])),
        gr.update(choices=views.labelled("churn_reason", ch["churn_reason"])),
        views.match_count(len(matched), len(s.scores), len(tab), cur),
    )


def open_customer(ctx: AppContext, customer_id: str | None, progress=None) -> tuple:
    """The Customers tab's "Open customer": one customer's card (scores with their interval,
    churn drivers, consent, next best product) and their order history. (detail, history)"""
    customer_id = (customer_id or "").strip()
    none = views.empty(views.ORDER_HEADINGS)
    if not customer_id:
        return "Enter a customer id (or click a row of the table).", none
    ctx.session(progress_callback(progress))
    r = ctx.runner()
    info = r.call("explain_customer", {"customer_id": customer_id})
    nbp = r.call("next_best_product", {"customer_id": customer_id})
    if isinstance(info, str):
        return views.merchant_text(info.removeprefix("Error: ")), none
    return views.customer_markdown(info, nbp), views.orders_view(
        ctx.session().customer_orders(info["customer_id"]), ctx.currency
    )


def draft_for(ctx: AppContext, customer_id: str | None, progress=None) -> tuple:
    """The Customers tab's "Draft outreach": one draft queued for approval (queue_drafts),
    shown next to the button as the customer will see it. (message, preview)"""
    customer_id = (customer_id or "").strip()
    if not customer_id:
        return "Enter a customer id first (or click a row of the table).", ""
    try:
        with ctx.job(f"drafting for {customer_id}"):
            (progress or no_progress)(0.2, desc="drafting")
            res = ctx.runner().call("queue_drafts", {"customer_ids": [customer_id], "top_n": 1})
    except JobRunning as exc:
        return str(exc), ""
    if isinstance(res, str):
        return views.merchant_text(re.sub(r"^Error:\s*", "", res)), ""
    if not res.get("queued"):
        why = "; ".join(
            views.codes_in_words(str(v)) for v in (res.get("not_drafted") or {}).values()
        )
        return f"No draft queued for {customer_id}: {why or 'no play fits'}.", ""
    ids = [int(i) for i in res["draft_ids"]]
    _, _, _, preview = show_draft(ctx, ids[0])
    word = "Draft" if len(ids) == 1 else "Drafts"
    return (
        f"{word} {', '.join(map(str, ids))} for {customer_id} queued: it is waiting for your approval in "
        "the **Approvals** tab. Nothing is sent.",
        preview,
    )
