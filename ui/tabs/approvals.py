"""The Approvals tab's layout and wiring: the queue and its filters, the people who decide, the
draft editor and its preview, the bulk approval behind a tick, the campaign results and the
export."""

from __future__ import annotations

import gradio as gr

from ui import views
from ui.guard import PRIVATE
from ui.handlers import (
    AppContext,
    arm_bulk,
    bulk_approve,
    bulk_reject,
    decide_draft,
    export_drafts,
    people_line,
    queue_results,
    register_person,
    show_draft,
    shown_rows,
)


def approvals_tab(ctx: AppContext) -> dict:
    """The queue; returns the components the Assistant tab's link and the page's load fill in."""
    with gr.Tab("Approvals", id="approvals") as tab:
        gr.Markdown(
            "Drafts wait here for a person's decision. **Nothing is sent**: approved drafts are "
            "exported as files for your email or SMS tool."
        )
        with gr.Row():
            state = gr.Dropdown(
                [
                    ("All", views.ALL),
                    ("Pending", "pending"),
                    ("Edited", "edited"),
                    ("Approved", "approved"),
                    ("Rejected", "rejected"),
                    ("Blocked", "blocked"),
                    ("Exported", "exported"),
                ],
                value=views.ALL,
                label="Show",
                elem_id="approvals-state",
            )
            only = gr.Textbox(
                label="Only these draft numbers (empty = all)", elem_id="approvals-only"
            )
            refresh = gr.Button("Refresh queue", elem_id="approvals-refresh")
            actor = gr.Textbox(
                value="merchant",
                label="Your name (recorded as the decider)",
                elem_id="approvals-actor",
            )
        with gr.Row():
            people = gr.Markdown(people_line(ctx), elem_id="people-list")
            person = gr.Textbox(
                label="Register a person who decides on drafts", elem_id="person-name"
            )
            add_person = gr.Button("Register", elem_id="person-add")
        with gr.Row():
            with gr.Column(scale=3):
                table = gr.DataFrame(
                    views.empty(views.DRAFT_HEADINGS),
                    label="Drafts (click one to open it)",
                    interactive=False,
                    elem_id="drafts-table",
                    pinned_columns=1,
                )
            with gr.Column(scale=2):
                results = gr.DataFrame(
                    views.empty(views.CAMPAIGN_HEADINGS),
                    label="Campaign results",
                    interactive=False,
                    elem_id="campaign-results",
                    pinned_columns=1,
                )
        with gr.Row():
            with gr.Column():
                picker = gr.Dropdown([], value=None, label="Draft", elem_id="draft-pick")
                subject = gr.Textbox(label="Subject", elem_id="draft-subject")
                body = gr.Textbox(label="Message", lines=8, elem_id="draft-body")
                with gr.Row():
                    save = gr.Button("Save edit", elem_id="draft-edit")
                    approve = gr.Button("Approve", variant="primary", elem_id="draft-approve")
                    reject = gr.Button("Reject", variant="stop", elem_id="draft-reject")
                reason = gr.Textbox(
                    label="Reject reason (optional; the bulk reject uses it too)",
                    elem_id="reject-reason",
                )
            with gr.Column():
                preview = gr.HTML(elem_id="draft-preview", label="As the customer will see it")
                info = gr.Markdown(
                    "Pick a draft: click a row of the table or choose it in «Draft».",
                    elem_id="draft-info",
                )
        msg = gr.Markdown(elem_id="approvals-msg")
        with gr.Row():
            confirm = gr.Checkbox(
                label="Yes, I mean every pending and edited draft the table shows",
                elem_id="bulk-confirm",
            )
            bulk = gr.Button("Approve the pending drafts shown", elem_id="bulk-approve")
            bulk_no = gr.Button(
                "Reject the pending drafts shown", variant="stop", elem_id="bulk-reject"
            )
        with gr.Row():
            export = gr.Button(
                "Export approved drafts (CSV for Klaviyo and Shopify)", elem_id="export"
            )
            export_file = gr.File(label="Export (CSV)", elem_id="export-file")
            platform_files = gr.File(
                label="For Klaviyo and for Shopify",
                file_count="multiple",
                elem_id="export-platform-files",
            )
        # kept on the server, never sent by the page: what the table shows, and which of those
        # drafts the merchant's tick confirmed for the bulk approval
        view = gr.State({"state": views.ALL, "only": "", "ids": []})
        armed = gr.State(None)
        shown = [table, view, confirm, armed, picker, bulk, bulk_no]
        editor = [subject, body, info, preview]

        def rows(st, ids, picked=None):
            return shown_rows(ctx, st, ids, picked)

        def show(i):
            return show_draft(ctx, i)

        def rows_and_results(st, ids, picked):
            return rows(st, ids, picked) + (queue_results(ctx),)

        refresh.click(rows_and_results, [state, only, picker], shown + [results], **PRIVATE)
        state.input(rows, [state, only], shown, **PRIVATE)  # a new filter: a new pick
        only.submit(rows, [state, only], shown, **PRIVATE)
        # the queue fills when the tab is opened, as it is now (no Refresh to press)
        tab.select(rows_and_results, [state, only, picker], shown + [results], **PRIVATE)

        def pick(evt: gr.SelectData, tab_):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return int(tab_.iloc[row]["Draft"])

        table.select(pick, [table], [picker], **PRIVATE).then(show, [picker], editor, **PRIVATE)
        picker.input(show, [picker], editor, **PRIVATE)

        outs = [msg, *shown, *editor]
        ins = [picker, actor, subject, body, reason, view]
        approve.click(
            lambda *a: decide_draft(ctx, "approve", *a), ins, outs, concurrency_limit=1, **PRIVATE
        )
        reject.click(
            lambda *a: decide_draft(ctx, "reject", *a), ins, outs, concurrency_limit=1, **PRIVATE
        )
        save.click(
            lambda *a: decide_draft(ctx, "edit", *a), ins, outs, concurrency_limit=1, **PRIVATE
        )

        add_person.click(
            lambda name, who: register_person(ctx, name, who),
            [person, actor],
            [msg, people],
            concurrency_limit=1,
            **PRIVATE,
        )

        # the tick is noted on the server with the drafts it confirms; the button reads only that
        confirm.input(
            lambda ticked, v: arm_bulk(ctx, ticked, v), [confirm, view], [armed, msg], **PRIVATE
        )
        bulk.click(
            lambda a, who, v: bulk_approve(ctx, a, who, v),
            [armed, actor, view],
            [msg, *shown],
            concurrency_limit=1,
            **PRIVATE,
        )
        # the same terms, with the reason typed for the single reject (optional)
        bulk_no.click(
            lambda a, who, v, why: bulk_reject(ctx, a, who, v, why),
            [armed, actor, view, reason],
            [msg, *shown],
            concurrency_limit=1,
            **PRIVATE,
        )

        export.click(
            lambda who, v: export_drafts(ctx, who, v),
            [actor, view],
            [msg, table, export_file, view, confirm, armed, picker, bulk, bulk_no, platform_files],
            concurrency_limit=1,
            trigger_mode="once",
            **PRIVATE,
        ).then(
            lambda: queue_results(ctx), None, [results], **PRIVATE
        )  # the results count what was exported
    return {
        "only": only,
        "state": state,
        "table": table,
        "msg": msg,
        "picker": picker,
        "subject": subject,
        "body": body,
        "info": info,
        "preview": preview,
        "view": view,
        "confirm": confirm,
        "armed": armed,
        "bulk": bulk,
        "bulk_reject": bulk_no,
        "people": people,
        "results": results,
    }
