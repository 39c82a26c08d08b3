"""The Gradio app: layout and event wiring only. Every action is an agent/ call the CLI makes too.

    from ui.app import launch
    launch(store_dir, workspace, port=7860)     # prints http://127.0.0.1:7860/?key=..., offline unless a model is set

Who can drive it (ui.guard): only requests to 127.0.0.1 / localhost carrying this launch's key;
no event is part of Gradio's public API (every one is `api_name=False`), and the only files
served are the downloads just made. RETENTION_UI_PASSWORD adds Gradio's login.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio import utils as gr_utils
from starlette.middleware import Middleware

from agent.approvals.queue import ApprovalError
from agent.settings import Settings
from ui import views
from ui.guard import Gate, new_key

# The handlers and the context live in ui.handlers; imported here for the wiring below, and so
# they stay importable from ui.app as before.
from ui.handlers import (
    SHOWN,  # noqa: F401  (how many components shown_rows fills)
    AppContext,
    arm_bulk,
    banner_for,
    bulk_approve,
    bulk_reject,
    chat_turn,
    confirm_consent,
    consent_status,
    customer_rows,
    draft_for,
    draft_rows,  # noqa: F401  (importable from ui.app, as before)
    error_message,
    export_drafts,
    home_view,
    make_brief,
    open_chat_drafts,
    people_line,
    progress_callback,
    queue_results,
    register_person,
    save_settings,
    settings_values,
    show_draft,
    shown_rows,
    store_line,
    upload_store,
)

PRIVATE = {"api_name": False}
"""Every event: not in Gradio's API page. (That alone does not refuse a call, gradio-app/gradio#13051:
the launch key in ui.guard does.)"""


# --- the layout ------------------------------------------------------------------------------


CSS = """
/* phones (390 px): tables scroll sideways inside their box (the key columns are first, the
   first one pinned), the cards of the store's numbers stack */
.table-wrap, .table-container { overflow-x: auto !important; max-width: 100%; }
/* the customers table's first column (who) stays at the left while the rest scrolls sideways:
   Gradio 6's pinned_columns sets the grid's pinning state but draws nothing sticky */
#customers-table .body-cell.first-column, #customers-table th.first-column {
  position: sticky !important; left: 0; z-index: 3;
  background: var(--table-even-background-fill, var(--background-fill-primary)); }
#customers-table .virtual-row, #customers-table .header-table tr { width: max-content; min-width: 100%; }
#store-numbers .store-number { min-width: 140px; }
@media (max-width: 640px) {
  .gradio-container { padding: 4px !important; }
}
"""


def build_app(ctx: AppContext) -> gr.Blocks:
    with gr.Blocks(
        title="Retention analyst", analytics_enabled=False, delete_cache=(3600, 86400)
    ) as app:
        gr.Markdown(
            "# Retention analyst\nScores your customers, finds retention plays, drafts "
            "outreach that **you** approve. Nothing is ever sent."
        )
        store_md = gr.Markdown(store_line(ctx), elem_id="store-line")
        with gr.Tabs(
            overflow_behavior="wrap"
        ) as tabs:  # on a phone the tabs wrap: every one in reach
            open_btn, chat_ids, home = _assistant_tab(ctx)
            _brief_tab(ctx)
            _customers_tab(ctx)
            queue_ui = _approvals_tab(ctx)
            uploaded = _data_tab(ctx, store_md)
            consent_msg, settings_fields = _settings_tab(ctx)
        shown = [
            queue_ui[k]
            for k in ("table", "view", "confirm", "armed", "picker", "bulk", "bulk_reject")
        ]
        # the link from a chat turn's drafts to the Approvals tab, filtered to those drafts
        open_btn.click(
            lambda ids: open_chat_drafts(ctx, ids),
            [chat_ids],
            [tabs]
            + [queue_ui[k] for k in ("only", "state", "msg", "subject", "body", "info", "preview")]
            + shown,
            **PRIVATE,
        )
        # the first screen: the start-up's progress (the step named) until the store is scored,
        # then the greeting and the store's numbers; the timer stops once they are there
        timer = gr.Timer(0.5, active=True)

        def tick():
            bar, hello, numbers, polling = home_view(ctx)
            return bar, hello, numbers, gr.Timer(active=polling)

        timer.tick(tick, None, [*home, timer], queue=False, **PRIVATE)
        uploaded.then(
            tick, None, [*home, timer], **PRIVATE
        )  # the first screen follows the store in use
        # what the workspace says now, each time the page is opened (not as it was at launch):
        # the store in use, who decides, the consent confirmations, the settings as saved, the
        # approval queue and the campaign results
        app.load(
            lambda: (
                (store_line(ctx), people_line(ctx), consent_status(ctx))
                + page_settings(ctx)
                + shown_rows(ctx, views.ALL, "")
                + (queue_results(ctx),)
                + tick()
            ),
            None,
            [
                store_md,
                queue_ui["people"],
                consent_msg,
                *settings_fields,
                *shown,
                queue_ui["results"],
                *home,
                timer,
            ],
            **PRIVATE,
        )
    app.queue(default_concurrency_limit=1)
    return app


def _assistant_tab(ctx: AppContext) -> tuple:
    """The chat; returns its "open the drafts" button and the state holding those draft ids."""
    with gr.Tab("Assistant", id="assistant"):
        bar0, hello0, numbers0, _ = home_view(ctx)
        hello = gr.Markdown(hello0, elem_id="greeting")
        bar = gr.HTML(bar0, elem_id="startup")
        numbers = gr.HTML(numbers0, elem_id="store-numbers")
        banner = gr.Markdown(banner_for(ctx), elem_id="mode-banner")
        chat = gr.Chatbot(label="Assistant", height=480, elem_id="chatbot")
        with gr.Row():
            msg = gr.Textbox(
                placeholder="Ask about your customers…",
                show_label=False,
                scale=5,
                elem_id="chat-input",
            )
            send = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
        open_btn = gr.Button(
            "Open the drafts in Approvals", visible=False, elem_id="chat-open-drafts"
        )
        chat_ids = gr.State([])
        starters = gr.Dataset(
            components=[gr.Textbox(visible=False)],
            samples=[[s] for s in views.STARTERS],
            label="Try one of these",
        )

        def user_turn(message, history):
            history = list(history or []) + [{"role": "user", "content": message}]
            return "", history, gr.update(interactive=False)

        def bot_turn(history):
            yield from chat_turn(ctx, history)

        for trigger in (msg.submit, send.click):
            trigger(user_turn, [msg, chat], [msg, chat, send], queue=False, **PRIVATE).then(
                bot_turn,
                [chat],
                [chat, send, banner, open_btn, chat_ids],
                concurrency_limit=1,
                **PRIVATE,
            )
        starters.click(lambda s: s[0], [starters], [msg], **PRIVATE)
    return open_btn, chat_ids, (bar, hello, numbers)


def _brief_tab(ctx: AppContext) -> None:
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


def _customers_tab(ctx: AppContext) -> None:
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

        def open_customer(customer_id, progress=gr.Progress()):
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

        open_btn.click(open_customer, [cid], [detail, history], concurrency_limit=1, **PRIVATE)
        cid.submit(open_customer, [cid], [detail, history], concurrency_limit=1, **PRIVATE)

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


def _approvals_tab(ctx: AppContext) -> dict:
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

        def act(kind, i, who, subj, text, why, v):
            try:
                q = ctx.queue()
                if i is None or i == "":
                    raise ApprovalError("pick a draft first")
                if kind == "approve":
                    m = q.approve([int(i)], actor=who)[0].message
                elif kind == "reject":
                    m = q.reject(int(i), actor=who, reason=why or "").message
                else:
                    m = q.edit(
                        int(i),
                        actor=who,
                        subject=subj,
                        body=text,
                        discount_cap=ctx.settings.discount_cap,
                    ).message
                m = views.merchant_text(m[:1].upper() + m[1:])
            except (ApprovalError, LookupError, ValueError) as exc:
                m = error_message(exc)
            v = v or {}
            return (m,) + rows(v.get("state", views.ALL), v.get("only", ""), i) + show(i)

        outs = [msg, *shown, *editor]
        ins = [picker, actor, subject, body, reason, view]
        approve.click(lambda *a: act("approve", *a), ins, outs, concurrency_limit=1, **PRIVATE)
        reject.click(lambda *a: act("reject", *a), ins, outs, concurrency_limit=1, **PRIVATE)
        save.click(lambda *a: act("edit", *a), ins, outs, concurrency_limit=1, **PRIVATE)

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


def _data_tab(ctx: AppContext, store_md):
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


def _settings_tab(ctx: AppContext):
    """The settings and the consent confirmations; returns the consent line and the settings
    fields, in `settings_values` order (filled in again each time the page is opened)."""
    with gr.Tab("Settings", id="settings"):
        s = ctx.settings
        gr.Markdown(
            "Your store's settings are kept in the workspace (the same after a reload or a "
            "restart), and every change is written to the audit log. The model connection is "
            "for this session only; the API key is write-only: it is never shown back, and a "
            "changed model endpoint clears it."
        )
        with gr.Row():
            store_name = gr.Textbox(
                label="Store name (drafts are signed with it)",
                value=s.store_name or "",
                max_length=80,
                elem_id="settings-store-name",
            )
            sender = gr.Textbox(
                label="Sender (who signs the drafts, e.g. Maria)",
                value=s.sender_name or "",
                max_length=80,
                elem_id="settings-sender",
            )
            sign_off = gr.Textbox(
                label="Sign-off (e.g. Warm wishes)",
                value=s.sign_off or "",
                max_length=120,
                elem_id="settings-sign-off",
            )
        with gr.Row():
            base = gr.Textbox(
                label="Model endpoint (OpenAI-compatible base URL)",
                value=s.openai_base_url or "",
                elem_id="settings-base",
            )
            model = gr.Textbox(
                label="Model name (empty = offline)", value=s.model or "", elem_id="settings-model"
            )
            key = gr.Textbox(
                label="API key",
                type="password",
                value="",
                placeholder="unchanged",
                elem_id="settings-key",
            )
        with gr.Row():
            cap = gr.Slider(
                0,
                50,
                value=_pct(s.discount_cap),
                step=1,
                label="Largest discount offered (%)",
                elem_id="settings-cap",
            )
            budget = gr.Number(
                label="Customers contacted per week, at most",
                value=s.weekly_contact_budget,
                precision=0,
                elem_id="settings-budget",
            )
            control = gr.Slider(
                0,
                50,
                value=_pct(s.control_share),
                step=1,
                label="Control group, not contacted, to measure the result (%)",
                elem_id="settings-control",
            )
            margin = gr.Slider(
                0,
                100,
                value=_pct(s.margin),
                step=1,
                label="Gross margin (%)",
                elem_id="settings-margin",
            )
            currency = gr.Textbox(
                label="Currency when the files do not say (e.g. GBP)",
                value=s.currency or "",
                elem_id="settings-currency",
            )
        with gr.Row():
            by = gr.Textbox(
                label="Your name (recorded in the audit log)",
                value="merchant",
                elem_id="settings-by",
            )
            save = gr.Button("Save settings", elem_id="settings-save")
        out = gr.Markdown(elem_id="settings-msg")

        gr.Markdown(
            "### Consent\nCustomers whose data does not say whether they accept email or SMS are "
            "not contacted. If you hold their consent elsewhere (a double opt-in list, your "
            "shop's own records), confirm it here once per channel: it is recorded in the audit "
            "log with your name and the time. A customer whose data says no stays refused."
        )
        with gr.Row():
            channel = gr.Dropdown(
                ["email", "sms"], value="email", label="Channel", elem_id="consent-channel"
            )
            who = gr.Textbox(label="Your name (recorded in the audit log)", elem_id="consent-by")
            ticked = gr.Checkbox(
                label="I confirm that I hold these customers' consent for this channel",
                elem_id="consent-tick",
            )
        with gr.Row():
            record = gr.Button("Record confirmation", elem_id="consent-confirm")
            withdraw = gr.Button("Withdraw confirmation", elem_id="consent-withdraw")
        consent_msg = gr.Markdown(consent_status(ctx), elem_id="consent-msg")
        record.click(
            lambda ch, by_, ok: (confirm_consent(ctx, ch, by_, ok), False),
            [channel, who, ticked],
            [consent_msg, ticked],
            concurrency_limit=1,
            **PRIVATE,
        )
        withdraw.click(
            lambda ch, by_: confirm_consent(ctx, ch, by_, True, action="withdraw"),
            [channel, who],
            [consent_msg],
            concurrency_limit=1,
            **PRIVATE,
        )

        def save_(
            base_, model_, key_, cap_, budget_, control_, margin_, *rest
        ):  # the sliders say %
            return save_settings(
                ctx,
                base_,
                model_,
                key_,
                _share(cap_),
                budget_,
                _share(control_),
                _share(margin_),
                *rest,
            )

        save.click(
            save_,
            [
                base,
                model,
                key,
                cap,
                budget,
                control,
                margin,
                currency,
                by,
                store_name,
                sender,
                sign_off,
            ],
            [out, key],
            concurrency_limit=1,
            **PRIVATE,
        )
    return consent_msg, [
        base,
        model,
        cap,
        budget,
        control,
        margin,
        currency,
        store_name,
        sender,
        sign_off,
    ]


def _pct(share) -> float:
    """A share (0.15) as the percentage a slider shows (15)."""
    return round(float(share or 0) * 100, 2)


def _share(pct) -> float:
    """A slider's percentage (15) as the share the settings keep (0.15)."""
    return round(float(pct or 0) / 100, 4)


def page_settings(ctx: AppContext) -> tuple:
    """`settings_values` as the Settings tab shows them (the shares as percentages)."""
    base, model, cap, budget, control, margin, *rest = settings_values(ctx)
    return (base, model, _pct(cap), budget, _pct(control), _pct(margin), *rest)


# --- starting it -------------------------------------------------------------------------------

PASSWORD_ENV = "RETENTION_UI_PASSWORD"


@dataclass
class RunningApp:
    """A started app: `url` is the address to open (it carries the launch key), `base` the
    address without it."""

    blocks: gr.Blocks
    url: str
    base: str
    key: str
    ctx: AppContext

    def close(self) -> None:
        self.blocks.close()

    def block_thread(self) -> None:
        self.blocks.block_thread()


def password_check(password: str):
    """Gradio's auth for RETENTION_UI_PASSWORD: any user name, this password."""
    want = password.encode()
    return lambda _user, given: hmac.compare_digest(str(given or "").encode(), want)


def launch(
    store_dir: str | Path,
    workspace: str | Path,
    *,
    port: int = 7860,
    block: bool = True,
    settings: Settings | None = None,
    loaded=None,
    password: str | None = None,
) -> RunningApp:
    """Start the app on 127.0.0.1:`port` (no share link, no analytics, no API page, no
    monitoring, no server-side rendering) behind ui.guard.Gate; prints the address to open,
    which carries this launch's key. `password` (default: RETENTION_UI_PASSWORD) adds Gradio's
    login, any user name. `loaded`: the store as `load_store` gave it already (not read again).
    The store is loaded and scored in the background from the start (AppContext.start_warmup):
    the page shows the step it is at, then the store's numbers."""
    ctx = AppContext(store_dir, workspace, settings=settings, loaded=loaded)
    ctx.start_warmup()  # the store is scored while the server starts and the page loads
    app = build_app(ctx)
    port, key = int(port), new_key()
    password = password if password is not None else (Settings().ui_password or None)
    blocked = [
        str(p)
        for p in (ctx.ws.root.resolve(), Path(store_dir).resolve())
        if not _contains(p, Path(gr_utils.get_upload_folder()))
    ]
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=True,
        show_error=False,
        quiet=True,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        run_history=False,
        strict_cors=True,
        footer_links=["gradio", "settings"],
        allowed_paths=[],
        blocked_paths=blocked,
        css=CSS,
        auth=password_check(password) if password else None,
        auth_message="Enter the app's password (RETENTION_UI_PASSWORD); any user name."
        if password
        else None,
        app_kwargs={
            "middleware": [Middleware(Gate, port=port, key=key, downloads=ctx.downloads)],
            "docs_url": None,
            "redoc_url": None,
        },
    )
    base = f"http://127.0.0.1:{port}"
    running = RunningApp(app, f"{base}/?key={key}", base, key, ctx)
    print(
        f"Retention analyst running at {running.url} (store {store_dir}); open that address: it carries "
        f"this launch's key{', then the password' if password else ''}. Ctrl+C stops it.",
        flush=True,
    )
    if block:
        app.block_thread()
    return running


def _contains(outer: Path, inner: Path) -> bool:
    try:
        inner.resolve().relative_to(outer.resolve())
        return True
    except ValueError:
        return False
