"""The Customers & segments tab's layout and wiring: the filters, the customers and segments
tables, one customer opened, and the "Draft outreach" button."""

from __future__ import annotations

import gradio as gr

from ui import views
from ui.guard import PRIVATE
from ui.handlers import AppContext, customer_rows, draft_for, open_customer


def customers_tab(ctx: AppContext) -> None:
    with gr.Tab("Customers & segments", id="customers"):
        load = gr.Button("Show customers", elem_id="customers-load")
        with gr.Row():
            everyone = views.labelled("segment", [views.ALL])
            seg = gr.Dropdown(everyone, value=views.ALL, label="Segment", elem_id="filter-segment")
            tier = gr.Dropdown(everyone, value=views.ALL, label="Value tier", elem_id="filter-tier")
            reason = gr.Dropdown(
                everyone, value=views.ALL, label="Main churn reason", elem_id="filter-reason"
            )
            consent = gr.Dropdown(
                views.labelled("consent", views.CONSENT_FILTERS),
                value=views.ALL,
                label="Consent",
                elem_id="filter-consent",
            )
            top = gr.Slider(10, 500, value=50, step=10, label="Rows shown")
        count = gr.Markdown(elem_id="customers-count")
        table = gr.DataFrame(
            views.empty(views.CUSTOMER_HEADINGS),
            label="Customers (highest value at stake first)",
            interactive=False,
            elem_id="customers-table",
            pinned_columns=1,
        )
        segments = gr.DataFrame(
            views.empty(views.SEGMENT_HEADINGS),
            label="Segments: size and value",
            interactive=False,
            elem_id="segments-table",
            pinned_columns=1,
        )
        gr.Markdown("### One customer")
        with gr.Row():
            cid = gr.Textbox(label="Customer id", elem_id="customer-id", scale=3)
            open_btn = gr.Button("Open customer", elem_id="customer-open", scale=1)
            draft_btn = gr.Button("Draft outreach", elem_id="customer-draft", scale=1)
        with gr.Row():  # a draft made here appears next to its button, as the customer will see it
            draft_out = gr.Markdown(elem_id="customer-draft-result")
            draft_preview = gr.HTML(elem_id="customer-draft-preview")
        detail = gr.Markdown(elem_id="customer-detail")
        history = gr.DataFrame(
            views.empty(views.ORDER_HEADINGS),
            label="Order history",
            interactive=False,
            elem_id="customer-orders",
        )

        def refresh(s_, t_, r_, c_, n_, progress=gr.Progress()):
            return customer_rows(ctx, s_, t_, r_, c_, n_, progress)

        outs = [table, segments, seg, tier, reason, count]
        load.click(refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1, **PRIVATE)
        for f in (seg, tier, reason, consent):
            f.input(
                refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1, **PRIVATE
            )
        top.release(
            refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1, **PRIVATE
        )

        def pick(evt: gr.SelectData, tab):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return str(tab.iloc[row]["Customer"])

        table.select(pick, [table], [cid], **PRIVATE)

        def open_one(customer_id, progress=gr.Progress()):
            return open_customer(ctx, customer_id, progress)

        open_btn.click(open_one, [cid], [detail, history], concurrency_limit=1, **PRIVATE)
        cid.submit(open_one, [cid], [detail, history], concurrency_limit=1, **PRIVATE)

        def draft(customer_id, progress=gr.Progress()):
            return draft_for(ctx, customer_id, progress)

        draft_btn.click(
            draft,
            [cid],
            [draft_out, draft_preview],
            concurrency_limit=1,
            trigger_mode="once",
            **PRIVATE,
        )
