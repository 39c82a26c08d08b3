"""The Gradio app: layout and event wiring only. Every action is an agent/ call the CLI makes too.

    from ui.app import launch
    launch(store_dir, workspace, port=7860)     # http://127.0.0.1:7860, offline unless a model is set
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# No analytics, no version check, no telemetry: set before Gradio is imported (and the Blocks
# say analytics_enabled=False too, whatever the environment says).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from agent.approvals import ApprovalError, open_queue  # noqa: E402
from agent.settings import Settings  # noqa: E402
from agent.workspace import Workspace  # noqa: E402
from ui import views  # noqa: E402

log = logging.getLogger(__name__)


class JobRunning(RuntimeError):
    """A second click on a job that is still running: refused, the first one carries on."""


class AppContext:
    """The app's server-side state: one workspace, the current store and its session."""

    def __init__(self, store_dir: str | Path, workspace: str | Path, *, settings: Settings | None = None,
                 session=None):
        self.ws = Workspace.at(workspace)
        self.store_dir = Path(store_dir)
        self.settings = settings or Settings()
        self._session = session  # an agent.session.StoreSession of store_dir, when one is at hand
        self._assistant = None
        self._names: dict | None = None
        self._lock = threading.Lock()
        self._jobs_lock = threading.Lock()
        self._running: set[str] = set()

    @property
    def loaded(self) -> bool:
        """Whether the current store is loaded and scored already (the slow part)."""
        return self._session is not None and self._session.store_dir == self.store_dir

    # the session is built once per store (loading + scoring is the slow part)
    def session(self, progress=None):
        with self._lock:
            if self._session is None or self._session.store_dir != self.store_dir:
                from agent.session import StoreSession

                self._session = StoreSession(self.store_dir, self.ws, settings=self.settings,
                                             progress=progress)
                self._assistant, self._names = None, None
            return self._session

    def use_store(self, store_dir: Path, progress=None):
        """Switch to another store; on a load error the current store stays in use."""
        before = self.store_dir
        self.store_dir = Path(store_dir)
        try:
            return self.session(progress)
        except Exception:
            self.store_dir = before
            raise

    def assistant(self):
        if self._assistant is None:
            from agent.chat import Assistant

            self._assistant = Assistant(self.session(), settings=self.settings)
        return self._assistant

    def runner(self):
        from agent.agent_tools import ToolRunner

        return ToolRunner(self.session())

    def first_names(self) -> dict:
        if self._names is None:
            s = self.session()
            ids = s.scores["customer_id"].astype(str)
            self._names = {c: (s.personal(c) or {}).get("first_name") or "" for c in ids}
        return self._names

    @contextmanager
    def job(self, what: str):
        """Run one long job of a kind at a time: a second start while it runs raises JobRunning."""
        with self._jobs_lock:
            if what in self._running:
                raise JobRunning(f"{what} is already running: this click was ignored, the first one "
                                 "carries on")
            self._running.add(what)
        try:
            yield
        finally:
            with self._jobs_lock:
                self._running.discard(what)

    def queue(self):
        return open_queue(self.ws.root)

    def set_settings(self, **values) -> None:
        clean = {k: v for k, v in values.items() if v is not None}
        self.settings = self.settings.model_copy(update=clean)
        if self._session is not None:
            self._session.settings = self.settings
        self._assistant = None


def _no_progress(*_args, **_kwargs) -> None:
    pass


def _progress_cb(progress, steps: int = 8):
    state = {"i": 0}
    progress = progress or _no_progress

    def cb(message: str) -> None:
        state["i"] += 1
        progress(min(0.95, state["i"] / steps), desc=message)
    return cb


def _err(exc: Exception) -> str:
    return f"error: {exc}".splitlines()[0]


# --- handlers: plain functions of the context, so tests call them without a browser -------------


def chat_turn(ctx: AppContext, history: list) -> Iterator[tuple]:
    """The Assistant tab's answer to the last user message, streamed: yields (chat history,
    send-button update, mode banner, "open the drafts" button update, the drafts' ids) as the
    work goes on; the last yield holds the answer and its expandable tool trace, exactly as a
    non-streamed `Assistant.ask` would give them, and, when the turn queued drafts, shows the
    button that opens them in the Approvals tab (`open_chat_drafts`)."""
    from agent.streaming import stream_answer

    history = list(history or [])
    message = views.message_text(history[-1]["content"]) if history else ""
    busy, statuses, ids = gr.update(interactive=False), [], []
    no_link = gr.update(visible=False)
    try:
        if not ctx.loaded:
            statuses.append("loading and scoring the store (first question only)")
            yield history + views.working_messages(statuses), busy, _mode(ctx), no_link, []
        assistant = ctx.assistant()
        who = f"model {ctx.settings.model}" if assistant.mode == "llm" else "offline planner"
        statuses.append(f"thinking ({who})")
        yield history + views.working_messages(statuses), busy, _mode(ctx), no_link, []
        for event in stream_answer(assistant, message):
            if event.kind == "answer":
                history = history + views.answer_messages(event.answer)
                ids = views.queued_draft_ids(event.answer)
                break
            if event.kind in ("status", "tool"):
                statuses.append(event.text)
                text = ""
            else:
                text = event.text
            yield history + views.working_messages(statuses, text), busy, _mode(ctx), no_link, []
    except Exception as exc:  # shown as one line, logged with its traceback
        log.exception("assistant failed")
        history = history + [{"role": "assistant", "content": _err(exc)}]
    link = gr.update(visible=True, value=views.open_drafts_label(ids)) if ids else no_link
    yield history, gr.update(interactive=True), _mode(ctx), link, ids


def open_chat_drafts(ctx: AppContext, ids: list[int]) -> tuple:
    """The Assistant tab's "Open these N drafts in Approvals": switch to the Approvals tab with
    the queue filtered to those drafts and the first one open. (tabs, id filter, state filter,
    table, message, draft id, subject, body, detail)"""
    ids = [int(i) for i in ids or []]
    only = ", ".join(map(str, ids))
    first = ids[0] if ids else None
    msg = (f"Showing the {len(ids)} draft(s) written in chat (ids {only}); clear the id filter to see "
           "the whole queue." if ids else "No drafts were written in that chat turn.")
    return ((gr.Tabs(selected="approvals"), only, views.ALL, draft_rows(ctx, views.ALL, only), msg, first)
            + show_draft(ctx, first))


def show_draft(ctx: AppContext, draft_id) -> tuple:
    """One draft for the Approvals editor: (subject, body, detail)."""
    if draft_id is None:
        return "", "", "Pick a draft (click a row or type its id)."
    try:
        d = ctx.queue().get(int(draft_id)).to_dict()
    except Exception as exc:
        return "", "", _err(exc)
    return d["subject"], d["body"], views.draft_detail(d)


def customer_rows(ctx: AppContext, segment: str, clv_tier: str, churn_reason: str, consent: str,
                  top_n: int, progress=None) -> tuple:
    """The Customers tab's table after the filters, the segment table, the filters' choices and
    how many customers the filters match. (table, segments, 3 dropdown updates, count line)"""
    s = ctx.session(_progress_cb(progress))
    ch = views.filter_choices(s.scores)
    matched = views.filter_scores(s.scores, s.customers, first_names=ctx.first_names(), segment=segment,
                                  clv_tier=clv_tier, churn_reason=churn_reason, consent=consent)
    tab = views.top_rows(matched, top_n)
    return (tab, views.segment_table(s.scores), gr.update(choices=ch["segment"]),
            gr.update(choices=ch["clv_tier"]), gr.update(choices=ch["churn_reason"]),
            views.match_count(len(matched), len(s.scores), len(tab)))


def draft_rows(ctx: AppContext, state: str, only: str = ""):
    """The approval queue's table, by state and, when `only` names draft ids, just those."""
    ids = set(views.parse_ids(only))
    drafts = [d.to_dict() for d in ctx.queue().list_drafts(state=None if state == views.ALL else state)
              if not ids or d.id in ids]
    return views.drafts_table(drafts)


def bulk_approve(ctx: AppContext, confirmed: bool, actor: str, state: str, only: str = "") -> tuple:
    """Approve every pending and edited draft, only with the confirmation box ticked; the box is
    cleared afterwards, so the next bulk approval needs a new tick. (message, table, box)"""
    if not confirmed:
        return "Tick the confirmation box to approve every pending draft.", draft_rows(ctx, state, only), False
    try:
        done = ctx.queue().approve_all_pending(actor=actor)
        m = f"{sum(t.changed for t in done)} drafts approved by {actor}."
    except ApprovalError as exc:
        m = _err(exc)
    return m, draft_rows(ctx, state, only), False


def export_drafts(ctx: AppContext, actor: str, state: str, only: str = "") -> tuple:
    """Approved drafts to CSV (agent.campaigns.export_approved). (message, table, file)"""
    from agent.campaigns import export_approved

    try:
        with ctx.job("the export"):
            res = export_approved(ctx.ws, ctx.queue(), store=ctx.store_dir, actor=actor or "merchant")
    except JobRunning as exc:
        return str(exc), draft_rows(ctx, state, only), gr.update()
    except Exception as exc:
        log.exception("export failed")
        return _err(exc), draft_rows(ctx, state, only), None
    return res.message, draft_rows(ctx, state, only), (str(res.path) if res.path else None)


def make_brief(ctx: AppContext, week_ending: str | None, cac, progress=None) -> tuple:
    """The Weekly brief tab: (status, KPI cards, 3 chart files, cohort plot, Markdown, HTML file,
    Markdown file). A second click while one is being made is refused, not run twice."""
    from agent.brief import weekly_brief
    from ui.charts import cohort_retention

    try:
        with ctx.job("the weekly brief"):
            s = ctx.session(_progress_cb(progress))
            b = weekly_brief(s.store, workspace=ctx.ws, week_ending=(week_ending or "").strip() or None,
                             cac=float(cac) if cac else None, settings=ctx.settings,
                             progress=_progress_cb(progress))
    except Exception as exc:
        if not isinstance(exc, JobRunning):
            log.exception("brief failed")
        return (_err(exc) if not isinstance(exc, JobRunning) else str(exc),) + (gr.update(),) * 8
    p = b.paths
    return (f"Brief for the week ending **{b.week_ending}** written to `{p.get('md')}`.",
            views.kpi_cards(b.facts.get("kpi", {}), b.facts.get("kpi_change", {})),
            p.get("clv_distribution"), p.get("churn_by_segment"), p.get("segment_migration"),
            cohort_retention(s.orders), b.markdown, p.get("html"), p.get("md"))


def upload_store(ctx: AppContext, paths, store_name: str | None, progress=None) -> tuple:
    """The Data tab: copy the files into a new store folder, load, validate and score it, and
    use it from now on. (status, load report, rejected-rows files, store line)"""
    if not paths:
        return "error: choose at least an orders file", None, None, gr.update()
    try:
        with ctx.job("loading and scoring a store"):
            safe = "".join(ch for ch in (store_name or "uploaded") if ch.isalnum() or ch in "-_") or "uploaded"
            folder = ctx.ws.sub("stores") / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
            folder.mkdir(parents=True)
            for p in paths:
                p = Path(p if isinstance(p, str) else p.name)
                shutil.copy(p, folder / p.name)
            (progress or _no_progress)(0.05, desc="loading and validating")
            s = ctx.use_store(folder, _progress_cb(progress))
    except JobRunning as exc:
        return str(exc), gr.update(), gr.update(), gr.update()
    except Exception as exc:  # DataError and friends: the CLI's one-line message
        log.info("upload refused: %s", exc)
        return _err(exc), None, None, gr.update()
    reps = list(s.reports)
    rej = [r.rejects_path for r in reps if r.rejects_path and r.rows_rejected]
    return (views.load_summary(reps) + f" Scored {len(s.scores):,} customers; the app now uses "
            f"this store.", views.load_report_table(reps), rej or None,
            f"Store: `{folder}` · workspace: `{ctx.ws.root}`")


def draft_for(ctx: AppContext, customer_id: str | None, progress=None) -> str:
    """The Customers tab's "Draft outreach": one draft queued for approval (queue_drafts)."""
    customer_id = (customer_id or "").strip()
    if not customer_id:
        return "Enter a customer id first."
    try:
        with ctx.job(f"drafting for {customer_id}"):
            (progress or _no_progress)(0.2, desc="drafting")
            res = ctx.runner().call("queue_drafts", {"customer_ids": [customer_id], "top_n": 1})
    except JobRunning as exc:
        return str(exc)
    if isinstance(res, str):
        return res
    if not res.get("queued"):
        why = "; ".join(f"{k}: {v}" for k, v in (res.get("not_drafted") or {}).items())
        return f"No draft queued for {customer_id}: {why or 'no play fits'}."
    return (f"Queued draft {res['draft_ids']} for {customer_id} (campaign `{res['campaign_id']}`). "
            "Review it in the **Approvals** tab; nothing is sent.")


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


def _mode(ctx: AppContext) -> str:
    return views.mode_banner("llm" if ctx.settings.model else "offline", ctx.settings.model)


def _assistant_tab(ctx: AppContext) -> tuple:
    """The chat; returns its "open the drafts" button and the state holding those draft ids."""
    with gr.Tab("Assistant", id="assistant"):
        banner = gr.Markdown(_mode(ctx), elem_id="mode-banner")
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
            consent = gr.Dropdown(["(all)", "email", "sms", "none"], value=views.ALL, label="Consent",
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
            ctx.session(_progress_cb(progress))
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
                m = _err(exc)
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
        save = gr.Button("Save settings", elem_id="settings-save")
        out = gr.Markdown(elem_id="settings-msg")

        def apply(base_, model_, key_, cap_, budget_, control_, margin_):
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
            mode = f"model `{ctx.settings.model}`" if ctx.settings.model else "offline: no language model in use"
            return f"Saved. Mode: {mode}. API key: {'set' if ctx.settings.openai_api_key else 'not set'}.", ""

        save.click(apply, [base, model, key, cap, budget, control, margin], [out, key])


# --- starting it -------------------------------------------------------------------------------


def launch(store_dir: str | Path, workspace: str | Path, *, port: int = 7860, block: bool = True,
           settings: Settings | None = None):
    """Start the app on 127.0.0.1:`port` (no share link, no analytics); prints the address."""
    ctx = AppContext(store_dir, workspace, settings=settings)
    app = build_app(ctx)
    app.launch(server_name="127.0.0.1", server_port=int(port), share=False, inbrowser=False,
               prevent_thread_lock=True, allowed_paths=[str(ctx.ws.root.resolve())],
               show_error=False, quiet=True)
    print(f"Retention analyst running at http://127.0.0.1:{port} (store {store_dir}); Ctrl+C stops it.",
          flush=True)
    if block:
        app.block_thread()
    return app
