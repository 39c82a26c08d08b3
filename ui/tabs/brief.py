"""The Weekly brief tab's layout and wiring: the week and the acquisition cost, the KPI cards,
the charts embedded in the page, the brief's text and its two downloads."""

from __future__ import annotations

import gradio as gr

from ui.guard import PRIVATE
from ui.handlers import AppContext, make_brief


def brief_tab(ctx: AppContext) -> None:
    with gr.Tab("Weekly brief", id="brief"):
        with gr.Row():
            week = gr.Textbox(
                label="Week ending (empty = the last order's week)",
                placeholder="e.g. 2026-10-31",
                elem_id="brief-week",
            )
            cac = gr.Textbox(
                label="Customer acquisition cost (optional)",
                value="",
                placeholder="e.g. 35",
                elem_id="brief-cac",
            )
            go = gr.Button("Generate brief", variant="primary", elem_id="brief-go")
        status = gr.Markdown(elem_id="brief-status")
        cards = gr.HTML(elem_id="brief-cards")
        # the brief's charts, embedded in the page as data: URIs (nothing to fetch or serve)
        with gr.Row():
            clv_img = gr.HTML(elem_id="brief-chart-clv")
            churn_img = gr.HTML(elem_id="brief-chart-churn")
        with gr.Row():
            mig_img = gr.HTML(elem_id="brief-chart-migration")
            cohort_plot = gr.Plot(label="Cohort retention")
        body = gr.Markdown()
        with gr.Row():
            dl_html = gr.File(label="Brief (HTML)", elem_id="brief-html")
            dl_md = gr.File(label="Brief (Markdown)")

        def make(week_ending, cac_value, progress=gr.Progress()):
            return make_brief(ctx, week_ending, cac_value, progress)

        go.click(
            make,
            [week, cac],
            [status, cards, clv_img, churn_img, mig_img, cohort_plot, body, dl_html, dl_md],
            concurrency_limit=1,
            trigger_mode="once",
            **PRIVATE,
        )
