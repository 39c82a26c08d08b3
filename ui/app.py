"""The Gradio app: layout and event wiring only. Every action is an agent/ call the CLI makes too.

    from ui.app import launch
    launch(store_dir, workspace, port=7860)     # http://127.0.0.1:7860, offline unless a model is set
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from agent.approvals import ApprovalError
from agent.settings import Settings
from ui import views

# The handlers and the context live in ui.handlers; imported here for the wiring below, and so
# they stay importable from ui.app as before.
from ui.handlers import (
    AppContext,
    confirm_consent,
    consent_status,
    error_message,
    banner_for,
    progress_callback,
    bulk_approve,
    chat_turn,
    customer_rows,
    draft_for,
    draft_rows,
    export_drafts,
    make_brief,
    open_chat_drafts,
    show_draft,
    upload_store,
)


# --- the layout ------------------------------------------------------------------------------


def build_app(ctx: AppContext) -> gr.Blocks:
    with gr.Blocks(title="Retention analyst", analytics_enabled=False) as app:
        gr.Markdown("# Retention analyst\nScores your customers, finds retention plays, drafts "
                    "outreach that **you** approve. Nothing is ever sent.")
        store_md = gr.Markdown(f"Store: `{ctx.store_dir}` · workspace: `{ctx.ws.root}`", elem_id="store-line")
        with gr.Tabs() as tabs:
            open_btn, chat_ids = _assistant_tab(ctx)
            _brief_tab(ctx)
            _customers_tab(ctx)
            queue_ui = _approvals_tab(ctx)
            _data_tab(ctx, store_md)
            _settings_tab(ctx)
        # the link from a chat turn's drafts to the Approvals tab, filtered to those drafts
        open_btn.click(lambda ids: open_chat_drafts(ctx, ids), [chat_ids],
                       [tabs] + [queue_ui[k] for k in ("only", "state", "table", "msg", "draft_id",
                                                       "subject", "body", "info")])
    app.queue(default_concurrency_limit=1)
    return app


def _assistant_tab(ctx: AppContext) -> tuple:
    """The chat; returns its "open the drafts" button and the state holding those draft ids."""
    with gr.Tab("Assistant", id="assistant"):
        banner = gr.Markdown(banner_for(ctx), elem_id="mode-banner")
        chat = gr.Chatbot(label="Assistant", height=480, elem_id="chatbot")
        with gr.Row():
            msg = gr.Textbox(placeholder="Ask about your customers…", show_label=False, scale=5,
                             elem_id="chat-input")
            send = gr.Button("Send", variant="primary", scale=1, elem_id="chat-send")
        open_btn = gr.Button("Open the drafts in Approvals", visible=False, elem_id="chat-open-drafts")
        chat_ids = gr.State([])
        starters = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[s] for s in views.STARTERS],
                              label="Try one of these")

        def user_turn(message, history):
            history = list(history or []) + [{"role": "user", "content": message}]
            return "", history, gr.update(interactive=False)

        def bot_turn(history):
            yield from chat_turn(ctx, history)

        for trigger in (msg.submit, send.click):
            trigger(user_turn, [msg, chat], [msg, chat, send], queue=False).then(
                bot_turn, [chat], [chat, send, banner, open_btn, chat_ids], concurrency_limit=1)
        starters.click(lambda s: s[0], [starters], [msg])
    return open_btn, chat_ids


def _brief_tab(ctx: AppContext) -> None:
    with gr.Tab("Weekly brief", id="brief"):
        with gr.Row():
            week = gr.Textbox(label="Week ending (YYYY-MM-DD; empty = last order date)", elem_id="brief-week")
            cac = gr.Number(label="Customer acquisition cost (optional)", value=None, minimum=0)
            go = gr.Button("Generate brief", variant="primary", elem_id="brief-go")
        status = gr.Markdown(elem_id="brief-status")
        cards = gr.HTML(elem_id="brief-cards")
        with gr.Row():
            clv_img = gr.Image(label="CLV distribution", type="filepath")
            churn_img = gr.Image(label="Churn risk by segment", type="filepath")
        with gr.Row():
            mig_img = gr.Image(label="Segment migration", type="filepath")
            cohort_plot = gr.Plot(label="Cohort retention")
        body = gr.Markdown()
        with gr.Row():
            dl_html = gr.File(label="Brief (HTML)", elem_id="brief-html")
            dl_md = gr.File(label="Brief (Markdown)")

        def make(week_ending, cac_value, progress=gr.Progress()):
            return make_brief(ctx, week_ending, cac_value, progress)

        go.click(make, [week, cac], [status, cards, clv_img, churn_img, mig_img, cohort_plot, body,
                                     dl_html, dl_md], concurrency_limit=1, trigger_mode="once")


def _customers_tab(ctx: AppContext) -> None:
    with gr.Tab("Customers & segments", id="customers"):
        load = gr.Button("Show customers", elem_id="customers-load")
        with gr.Row():
            seg = gr.Dropdown([views.ALL], value=views.ALL, label="Segment", elem_id="filter-segment")
            tier = gr.Dropdown([views.ALL], value=views.ALL, label="CLV tier", elem_id="filter-tier")
            reason = gr.Dropdown([views.ALL], value=views.ALL, label="Churn reason", elem_id="filter-reason")
            consent = gr.Dropdown(views.CONSENT_FILTERS, value=views.ALL, label="Consent",
                                  elem_id="filter-consent")
            top = gr.Slider(10, 500, value=50, step=10, label="Rows shown")
        count = gr.Markdown(elem_id="customers-count")
        table = gr.DataFrame(label="Customers (highest value at stake first)", interactive=False,
                             elem_id="customers-table")
        segments = gr.DataFrame(label="Segments: size and value", interactive=False)
        gr.Markdown("### One customer")
        with gr.Row():
            cid = gr.Textbox(label="Customer id", elem_id="customer-id", scale=3)
            open_btn = gr.Button("Open customer", elem_id="customer-open", scale=1)
            draft_btn = gr.Button("Draft outreach", elem_id="customer-draft", scale=1)
        detail = gr.Markdown(elem_id="customer-detail")
        history = gr.DataFrame(label="Order history", interactive=False)
        draft_out = gr.Markdown(elem_id="customer-draft-result")

        def refresh(s_, t_, r_, c_, n_, progress=gr.Progress()):
            return customer_rows(ctx, s_, t_, r_, c_, n_, progress)

        outs = [table, segments, seg, tier, reason, count]
        load.click(refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1)
        for f in (seg, tier, reason, consent):
            f.input(refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1)
        top.release(refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1)

        def pick(evt: gr.SelectData, tab):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return str(tab.iloc[row]["customer_id"])

        table.select(pick, [table], [cid])

        def open_customer(customer_id, progress=gr.Progress()):
            customer_id = (customer_id or "").strip()
            if not customer_id:
                return "Enter a customer id.", None
            ctx.session(progress_callback(progress))
            r = ctx.runner()
            info = r.call("explain_customer", {"customer_id": customer_id})
            nbp = r.call("next_best_product", {"customer_id": customer_id})
            if isinstance(info, str):
                return info, None
            return views.customer_markdown(info, nbp), views.orders_table(
                ctx.session().customer_orders(info["customer_id"]))

        open_btn.click(open_customer, [cid], [detail, history], concurrency_limit=1)
        cid.submit(open_customer, [cid], [detail, history], concurrency_limit=1)

        def draft(customer_id, progress=gr.Progress()):
            return draft_for(ctx, customer_id, progress)

        draft_btn.click(draft, [cid], [draft_out], concurrency_limit=1, trigger_mode="once")


def _approvals_tab(ctx: AppContext) -> dict:
    """The queue; returns the components the Assistant tab's link fills in."""
    with gr.Tab("Approvals", id="approvals"):
        with gr.Row():
            state = gr.Dropdown(["(all)", "pending", "edited", "approved", "rejected", "blocked"],
                                value=views.ALL, label="State")
            only = gr.Textbox(label="Only these draft ids (empty = all)", elem_id="approvals-only")
            refresh = gr.Button("Refresh queue", elem_id="approvals-refresh")
            actor = gr.Textbox(value="merchant", label="Your name (recorded as the decider)",
                               elem_id="approvals-actor")
        table = gr.DataFrame(label="Drafts", interactive=False, elem_id="drafts-table")
        with gr.Row():
            with gr.Column():
                draft_id = gr.Number(label="Draft id", precision=0, elem_id="draft-id")
                subject = gr.Textbox(label="Subject", elem_id="draft-subject")
                body = gr.Textbox(label="Body", lines=8, elem_id="draft-body")
                with gr.Row():
                    save = gr.Button("Save edit", elem_id="draft-edit")
                    approve = gr.Button("Approve", variant="primary", elem_id="draft-approve")
                    reject = gr.Button("Reject", variant="stop", elem_id="draft-reject")
                reason = gr.Textbox(label="Reject reason (optional)")
            with gr.Column():
                info = gr.Markdown(elem_id="draft-info")
        msg = gr.Markdown(elem_id="approvals-msg")
        with gr.Row():
            confirm = gr.Checkbox(label="Yes, approve every pending and edited draft", elem_id="bulk-confirm")
            bulk = gr.Button("Approve all pending", elem_id="bulk-approve")
        with gr.Row():
            export = gr.Button("Export approved drafts (CSV)", elem_id="export")
            export_file = gr.File(label="Export", elem_id="export-file")

        def rows(st, ids):
            return draft_rows(ctx, st, ids)

        def show(i):
            return show_draft(ctx, i)

        refresh.click(rows, [state, only], [table])
        state.input(rows, [state, only], [table])
        only.submit(rows, [state, only], [table])

        def pick(evt: gr.SelectData, tab):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return int(tab.iloc[row]["id"])

        table.select(pick, [table], [draft_id]).then(show, [draft_id], [subject, body, info])
        draft_id.submit(show, [draft_id], [subject, body, info])

        def act(kind, i, who, subj, text, why, st, ids):
            try:
                q = ctx.queue()
                if i is None:
                    raise ApprovalError("pick a draft first")
                if kind == "approve":
                    m = q.approve([int(i)], actor=who)[0].message
                elif kind == "reject":
                    m = q.reject(int(i), actor=who, reason=why or "").message
                else:
                    m = q.edit(int(i), actor=who, subject=subj, body=text,
                               discount_cap=ctx.settings.discount_cap).message
            except (ApprovalError, LookupError, ValueError) as exc:
                m = error_message(exc)
            return (m, rows(st, ids)) + show(i)

        outs = [msg, table, subject, body, info]
        ins = [draft_id, actor, subject, body, reason, state, only]
        approve.click(lambda *a: act("approve", *a), ins, outs, concurrency_limit=1)
        reject.click(lambda *a: act("reject", *a), ins, outs, concurrency_limit=1)
        save.click(lambda *a: act("edit", *a), ins, outs, concurrency_limit=1)

        bulk.click(lambda ok, who, st, ids: bulk_approve(ctx, ok, who, st, ids), [confirm, actor, state, only],
                   [msg, table, confirm], concurrency_limit=1)

        def do_export(who, st, ids):
            return export_drafts(ctx, who, st, ids)

        export.click(do_export, [actor, state, only], [msg, table, export_file], concurrency_limit=1,
                     trigger_mode="once")
    return {"only": only, "state": state, "table": table, "msg": msg, "draft_id": draft_id,
            "subject": subject, "body": body, "info": info}


def _data_tab(ctx: AppContext, store_md) -> None:
    with gr.Tab("Data", id="data"):
        gr.Markdown("Upload `orders.csv` (required) and optionally customers / products / events / "
                    "tickets files, or Shopify's `orders_export_1.csv`. They are copied into a new store "
                    "folder in the workspace, loaded, validated and scored.")
        with gr.Row():
            files = gr.File(label="Store files", file_count="multiple", file_types=[".csv", ".parquet"],
                            elem_id="data-files")
            name = gr.Textbox(label="Store name", value="uploaded", elem_id="data-name")
        go = gr.Button("Load and score", variant="primary", elem_id="data-go")
        status = gr.Markdown(elem_id="data-status")
        report = gr.DataFrame(label="Load report", interactive=False, elem_id="data-report")
        rejects = gr.File(label="Rejected rows", file_count="multiple", elem_id="data-rejects")

        def upload(paths, store_name, progress=gr.Progress()):
            return upload_store(ctx, paths, store_name, progress)

        go.click(upload, [files, name], [status, report, rejects, store_md], concurrency_limit=1,
                 trigger_mode="once")


def _settings_tab(ctx: AppContext) -> None:
    with gr.Tab("Settings", id="settings"):
        s = ctx.settings
        gr.Markdown("Stored for this session only. The API key is write-only: it is never shown back.")
        with gr.Row():
            base = gr.Textbox(label="Model endpoint (OpenAI-compatible base URL)", value=s.openai_base_url or "")
            model = gr.Textbox(label="Model name (empty = offline)", value=s.model or "")
            key = gr.Textbox(label="API key", type="password", value="", placeholder="unchanged",
                             elem_id="settings-key")
        with gr.Row():
            cap = gr.Slider(0, 0.5, value=s.discount_cap, step=0.01, label="Discount cap")
            budget = gr.Number(label="Weekly contact budget", value=s.weekly_contact_budget, precision=0)
            control = gr.Slider(0, 0.5, value=s.control_share, step=0.01, label="Control-group share")
            margin = gr.Slider(0, 1, value=s.margin, step=0.01, label="Margin")
            currency = gr.Textbox(label="Currency when the files do not say (e.g. GBP)", value=s.currency or "",
                                  elem_id="settings-currency")
        save = gr.Button("Save settings", elem_id="settings-save")
        out = gr.Markdown(elem_id="settings-msg")

        gr.Markdown("### Consent\nCustomers whose data does not say whether they accept email or SMS are "
                    "not contacted. If you hold their consent elsewhere (a double opt-in list, your "
                    "shop's own records), confirm it here once per channel: it is recorded in the audit "
                    "log with your name and the time. A customer whose data says no stays refused.")
        with gr.Row():
            channel = gr.Dropdown(["email", "sms"], value="email", label="Channel", elem_id="consent-channel")
            who = gr.Textbox(label="Your name (recorded in the audit log)", elem_id="consent-by")
            ticked = gr.Checkbox(label="I confirm that I hold these customers' consent for this channel",
                                 elem_id="consent-tick")
        with gr.Row():
            record = gr.Button("Record confirmation", elem_id="consent-confirm")
            withdraw = gr.Button("Withdraw confirmation", elem_id="consent-withdraw")
        consent_msg = gr.Markdown(consent_status(ctx), elem_id="consent-msg")
        record.click(lambda ch, by, ok: (confirm_consent(ctx, ch, by, ok), False), [channel, who, ticked],
                     [consent_msg, ticked], concurrency_limit=1)
        withdraw.click(lambda ch, by: confirm_consent(ctx, ch, by, True, action="withdraw"), [channel, who],
                       [consent_msg], concurrency_limit=1)

        def apply(base_, model_, key_, cap_, budget_, control_, margin_, currency_):
            from agent.display import currency_code

            try:
                code = currency_code(currency_)
            except ValueError as exc:
                return error_message(exc), ""
            upd = dict(openai_base_url=base_.strip() or None, model=model_.strip() or None,
                       discount_cap=float(cap_), weekly_contact_budget=int(budget_ or 0),
                       control_share=float(control_), margin=float(margin_))
            ctx.set_settings(**upd)
            if not upd["openai_base_url"]:
                ctx.settings = ctx.settings.model_copy(update={"openai_base_url": None})
            if not upd["model"]:
                ctx.settings = ctx.settings.model_copy(update={"model": None})
            if key_:
                ctx.settings = ctx.settings.model_copy(update={"openai_api_key": key_})
            ctx.set_currency(code)  # last: the session gets the settings as saved
            mode = f"model `{ctx.settings.model}`" if ctx.settings.model else "offline: no language model in use"
            cur = f" Currency: {ctx.currency or 'not known'}."
            return f"Saved. Mode: {mode}. API key: {'set' if ctx.settings.openai_api_key else 'not set'}.{cur}", ""

        save.click(apply, [base, model, key, cap, budget, control, margin, currency], [out, key])


# --- starting it -------------------------------------------------------------------------------


def launch(store_dir: str | Path, workspace: str | Path, *, port: int = 7860, block: bool = True,
           settings: Settings | None = None, loaded=None):
    """Start the app on 127.0.0.1:`port` (no share link, no analytics); prints the address.
    `loaded`: the store as `load_store` gave it already (the app does not read it again)."""
    ctx = AppContext(store_dir, workspace, settings=settings, loaded=loaded)
    app = build_app(ctx)
    app.launch(server_name="127.0.0.1", server_port=int(port), share=False, inbrowser=False,
               prevent_thread_lock=True, allowed_paths=[str(ctx.ws.root.resolve())],
               show_error=False, quiet=True)
    print(f"Retention analyst running at http://127.0.0.1:{port} (store {store_dir}); Ctrl+C stops it.",
          flush=True)
    if block:
        app.block_thread()
    return app
