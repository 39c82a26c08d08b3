"""The Gradio app: layout and event wiring only. Every action is an agent/ call the CLI makes too.

    from ui.app import launch
    launch(store_dir, workspace, port=7860)     # prints http://127.0.0.1:7860/?key=..., offline unless a model is set

Who can drive it (ui.guard): only requests to 127.0.0.1 / localhost carrying this launch's key;
no event is part of Gradio's public API (every one is `api_name=False`), and the only files
served are the downloads just made. RETENTION_UI_PASSWORD adds Gradio's login.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio import utils as gr_utils
from starlette.middleware import Middleware

from agent.approvals import ApprovalError
from agent.settings import Settings
from ui import views
from ui.guard import Gate, new_key

# The handlers and the context live in ui.handlers; imported here for the wiring below, and so
# they stay importable from ui.app as before.
from ui.handlers import (
    AppContext,
    arm_bulk,
    confirm_consent,
    consent_status,
    error_message,
    banner_for,
    progress_callback,
    bulk_approve,
    chat_turn,
    customer_rows,
    draft_for,
    draft_rows,  # noqa: F401  (importable from ui.app, as before)
    export_drafts,
    make_brief,
    open_chat_drafts,
    people_line,
    register_person,
    save_settings,
    settings_values,
    show_draft,
    store_line,
    shown_rows,
    upload_store,
)

PRIVATE = {"api_name": False}
"""Every event: not in Gradio's API page. (That alone does not refuse a call, gradio-app/gradio#13051:
the launch key in ui.guard does.)"""


# --- the layout ------------------------------------------------------------------------------


def build_app(ctx: AppContext) -> gr.Blocks:
    with gr.Blocks(title="Retention analyst", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        gr.Markdown("# Retention analyst\nScores your customers, finds retention plays, drafts "
                    "outreach that **you** approve. Nothing is ever sent.")
        store_md = gr.Markdown(store_line(ctx), elem_id="store-line")
        with gr.Tabs() as tabs:
            open_btn, chat_ids = _assistant_tab(ctx)
            _brief_tab(ctx)
            _customers_tab(ctx)
            queue_ui = _approvals_tab(ctx)
            _data_tab(ctx, store_md)
            consent_msg, settings_fields = _settings_tab(ctx)
        # the link from a chat turn's drafts to the Approvals tab, filtered to those drafts
        open_btn.click(lambda ids: open_chat_drafts(ctx, ids), [chat_ids],
                       [tabs] + [queue_ui[k] for k in ("only", "state", "table", "msg", "draft_id",
                                                       "subject", "body", "info", "view", "confirm",
                                                       "armed")], **PRIVATE)
        # what the workspace says now, each time the page is opened (not as it was at launch):
        # the store in use, who decides, the consent confirmations, the settings as saved
        app.load(lambda: (store_line(ctx), people_line(ctx), consent_status(ctx)) + settings_values(ctx), None,
                 [store_md, queue_ui["people"], consent_msg, *settings_fields], **PRIVATE)
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
            trigger(user_turn, [msg, chat], [msg, chat, send], queue=False, **PRIVATE).then(
                bot_turn, [chat], [chat, send, banner, open_btn, chat_ids], concurrency_limit=1, **PRIVATE)
        starters.click(lambda s: s[0], [starters], [msg], **PRIVATE)
    return open_btn, chat_ids


def _brief_tab(ctx: AppContext) -> None:
    with gr.Tab("Weekly brief", id="brief"):
        with gr.Row():
            week = gr.Textbox(label="Week ending (YYYY-MM-DD; empty = last order date)", elem_id="brief-week")
            cac = gr.Number(label="Customer acquisition cost (optional)", value=None, minimum=0)
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

        go.click(make, [week, cac], [status, cards, clv_img, churn_img, mig_img, cohort_plot, body,
                                     dl_html, dl_md], concurrency_limit=1, trigger_mode="once", **PRIVATE)


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
        load.click(refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1, **PRIVATE)
        for f in (seg, tier, reason, consent):
            f.input(refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1, **PRIVATE)
        top.release(refresh, [seg, tier, reason, consent, top], outs, concurrency_limit=1, **PRIVATE)

        def pick(evt: gr.SelectData, tab):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return str(tab.iloc[row]["customer_id"])

        table.select(pick, [table], [cid], **PRIVATE)

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

        open_btn.click(open_customer, [cid], [detail, history], concurrency_limit=1, **PRIVATE)
        cid.submit(open_customer, [cid], [detail, history], concurrency_limit=1, **PRIVATE)

        def draft(customer_id, progress=gr.Progress()):
            return draft_for(ctx, customer_id, progress)

        draft_btn.click(draft, [cid], [draft_out], concurrency_limit=1, trigger_mode="once", **PRIVATE)


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
        with gr.Row():
            people = gr.Markdown(people_line(ctx), elem_id="people-list")
            person = gr.Textbox(label="Register a person who decides on drafts", elem_id="person-name")
            add_person = gr.Button("Register", elem_id="person-add")
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
            confirm = gr.Checkbox(label="Yes, approve every pending and edited draft shown in the table",
                                  elem_id="bulk-confirm")
            bulk = gr.Button("Approve all pending", elem_id="bulk-approve")
        with gr.Row():
            export = gr.Button("Export approved drafts (CSV)", elem_id="export")
            export_file = gr.File(label="Export", elem_id="export-file")
        # kept on the server, never sent by the page: what the table shows, and which of those
        # drafts the merchant's tick confirmed for "Approve all pending"
        view = gr.State({"state": views.ALL, "only": "", "ids": []})
        armed = gr.State(None)
        shown = [table, view, confirm, armed]

        def rows(st, ids):
            return shown_rows(ctx, st, ids)

        def show(i):
            return show_draft(ctx, i)

        refresh.click(rows, [state, only], shown, **PRIVATE)
        state.input(rows, [state, only], shown, **PRIVATE)
        only.submit(rows, [state, only], shown, **PRIVATE)

        def pick(evt: gr.SelectData, tab):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return int(tab.iloc[row]["id"])

        table.select(pick, [table], [draft_id], **PRIVATE).then(show, [draft_id], [subject, body, info], **PRIVATE)
        draft_id.submit(show, [draft_id], [subject, body, info], **PRIVATE)

        def act(kind, i, who, subj, text, why, v):
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
            v = v or {}
            return (m,) + rows(v.get("state", views.ALL), v.get("only", "")) + show(i)

        outs = [msg, *shown, subject, body, info]
        ins = [draft_id, actor, subject, body, reason, view]
        approve.click(lambda *a: act("approve", *a), ins, outs, concurrency_limit=1, **PRIVATE)
        reject.click(lambda *a: act("reject", *a), ins, outs, concurrency_limit=1, **PRIVATE)
        save.click(lambda *a: act("edit", *a), ins, outs, concurrency_limit=1, **PRIVATE)

        add_person.click(lambda name, who: register_person(ctx, name, who), [person, actor], [msg, people],
                         concurrency_limit=1, **PRIVATE)

        # the tick is noted on the server with the drafts it confirms; the button reads only that
        confirm.input(lambda ticked, v: arm_bulk(ctx, ticked, v), [confirm, view], [armed, msg], **PRIVATE)
        bulk.click(lambda a, who, v: bulk_approve(ctx, a, who, v), [armed, actor, view],
                   [msg, table, view, confirm, armed], concurrency_limit=1, **PRIVATE)

        export.click(lambda who, v: export_drafts(ctx, who, v), [actor, view],
                     [msg, table, export_file, view, confirm, armed], concurrency_limit=1, trigger_mode="once",
                     **PRIVATE)
    return {"only": only, "state": state, "table": table, "msg": msg, "draft_id": draft_id,
            "subject": subject, "body": body, "info": info, "view": view, "confirm": confirm, "armed": armed,
            "people": people}


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
                 trigger_mode="once", **PRIVATE)


def _settings_tab(ctx: AppContext):
    """The settings and the consent confirmations; returns the consent line and the settings
    fields, in `settings_values` order (filled in again each time the page is opened)."""
    with gr.Tab("Settings", id="settings"):
        s = ctx.settings
        gr.Markdown("Your store's settings are kept in the workspace (the same after a reload or a "
                    "restart), and every change is written to the audit log. The model connection is "
                    "for this session only; the API key is write-only: it is never shown back, and a "
                    "changed model endpoint clears it.")
        with gr.Row():
            store_name = gr.Textbox(label="Store name (drafts are signed with it)", value=s.store_name or "",
                                    max_length=80, elem_id="settings-store-name")
            sender = gr.Textbox(label="Sender (who signs the drafts, e.g. Maria)", value=s.sender_name or "",
                                max_length=80, elem_id="settings-sender")
            sign_off = gr.Textbox(label="Sign-off (e.g. Warm wishes)", value=s.sign_off or "", max_length=120,
                                  elem_id="settings-sign-off")
        with gr.Row():
            base = gr.Textbox(label="Model endpoint (OpenAI-compatible base URL)", value=s.openai_base_url or "",
                              elem_id="settings-base")
            model = gr.Textbox(label="Model name (empty = offline)", value=s.model or "", elem_id="settings-model")
            key = gr.Textbox(label="API key", type="password", value="", placeholder="unchanged",
                             elem_id="settings-key")
        with gr.Row():
            cap = gr.Slider(0, 0.5, value=s.discount_cap, step=0.01, label="Discount cap", elem_id="settings-cap")
            budget = gr.Number(label="Weekly contact budget", value=s.weekly_contact_budget, precision=0,
                               elem_id="settings-budget")
            control = gr.Slider(0, 0.5, value=s.control_share, step=0.01, label="Control-group share",
                                elem_id="settings-control")
            margin = gr.Slider(0, 1, value=s.margin, step=0.01, label="Margin", elem_id="settings-margin")
            currency = gr.Textbox(label="Currency when the files do not say (e.g. GBP)", value=s.currency or "",
                                  elem_id="settings-currency")
        with gr.Row():
            by = gr.Textbox(label="Your name (recorded in the audit log)", value="merchant",
                            elem_id="settings-by")
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
        record.click(lambda ch, by_, ok: (confirm_consent(ctx, ch, by_, ok), False), [channel, who, ticked],
                     [consent_msg, ticked], concurrency_limit=1, **PRIVATE)
        withdraw.click(lambda ch, by_: confirm_consent(ctx, ch, by_, True, action="withdraw"), [channel, who],
                       [consent_msg], concurrency_limit=1, **PRIVATE)

        save.click(lambda *a: save_settings(ctx, *a), [base, model, key, cap, budget, control, margin, currency, by,
                                                        store_name, sender, sign_off],
                   [out, key], concurrency_limit=1, **PRIVATE)
    return consent_msg, [base, model, cap, budget, control, margin, currency, store_name, sender, sign_off]


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


def launch(store_dir: str | Path, workspace: str | Path, *, port: int = 7860, block: bool = True,
           settings: Settings | None = None, loaded=None, password: str | None = None) -> RunningApp:
    """Start the app on 127.0.0.1:`port` (no share link, no analytics, no API page, no
    monitoring, no server-side rendering) behind ui.guard.Gate; prints the address to open,
    which carries this launch's key. `password` (default: RETENTION_UI_PASSWORD) adds Gradio's
    login, any user name. `loaded`: the store as `load_store` gave it already (not read again)."""
    ctx = AppContext(store_dir, workspace, settings=settings, loaded=loaded)
    app = build_app(ctx)
    port, key = int(port), new_key()
    password = password if password is not None else (os.environ.get(PASSWORD_ENV) or None)
    blocked = [str(p) for p in (ctx.ws.root.resolve(), Path(store_dir).resolve())
               if not _contains(p, Path(gr_utils.get_upload_folder()))]
    app.launch(server_name="127.0.0.1", server_port=port, share=False, inbrowser=False,
               prevent_thread_lock=True, show_error=False, quiet=True, ssr_mode=False, pwa=False,
               mcp_server=False, enable_monitoring=False, run_history=False, strict_cors=True,
               footer_links=["gradio", "settings"], allowed_paths=[], blocked_paths=blocked,
               auth=password_check(password) if password else None,
               auth_message="Enter the app's password (RETENTION_UI_PASSWORD); any user name." if password else None,
               app_kwargs={"middleware": [Middleware(Gate, port=port, key=key, downloads=ctx.downloads)],
                           "docs_url": None, "redoc_url": None})
    base = f"http://127.0.0.1:{port}"
    running = RunningApp(app, f"{base}/?key={key}", base, key, ctx)
    print(f"Retention analyst running at {running.url} (store {store_dir}); open that address: it carries "
          f"this launch's key{', then the password' if password else ''}. Ctrl+C stops it.", flush=True)
    if block:
        app.block_thread()
    return running


def _contains(outer: Path, inner: Path) -> bool:
    try:
        inner.resolve().relative_to(outer.resolve())
        return True
    except ValueError:
        return False
