"""The Data tab's layout and wiring: the store files uploaded, loaded, validated and scored."""

from __future__ import annotations

import gradio as gr

from ui import views
from ui.guard import PRIVATE
from ui.handlers import AppContext, upload_store


def data_tab(ctx: AppContext, store_md):
    with gr.Tab("Data", id="data"):
        gr.Markdown(
            "Upload `orders.csv` (required) and optionally customers / products / events / "
            "tickets files, or Shopify's `orders_export_1.csv`. They are copied into a new store "
            "folder in the workspace, loaded, validated and scored."
        )
        with gr.Row():
            files = gr.File(
                label="Store files",
                file_count="multiple",
                file_types=[".csv", ".parquet"],
                elem_id="data-files",
            )
            name = gr.Textbox(label="Store name", value="uploaded", elem_id="data-name")
        go = gr.Button("Load and score", variant="primary", elem_id="data-go")
        status = gr.Markdown(elem_id="data-status")
        report = gr.DataFrame(
            views.empty(views.LOAD_HEADINGS),
            label="Load report",
            interactive=False,
            elem_id="data-report",
        )
        rejects = gr.File(label="Rejected rows", file_count="multiple", elem_id="data-rejects")

        def upload(paths, store_name, progress=gr.Progress()):
            return upload_store(ctx, paths, store_name, progress)

        return go.click(
            upload,
            [files, name],
            [status, report, rejects, store_md],
            concurrency_limit=1,
            trigger_mode="once",
            **PRIVATE,
        )
