"""The app's server-side state (`AppContext`) and its event handlers: plain functions of the
context, so tests call them without a browser. `ui.app` lays them out and wires them to events.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from agent.approvals.queue import ApprovalError, open_queue
from agent.display import date_words, plain_words
from agent.settings import Settings, save_store_settings, with_workspace
from agent.workspace import Workspace
from ui import views
from ui.guard import Downloads

log = logging.getLogger(__name__)


class JobRunning(RuntimeError):
    """A second click on a job that is still running: refused, the first one carries on."""


class AppContext:
    """The app's server-side state: one workspace, the current store and its session."""

    def __init__(
        self,
        store_dir: str | Path,
        workspace: str | Path,
        *,
        settings: Settings | None = None,
        session=None,
        loaded=None,
    ):
        self.ws = Workspace.at(workspace)
        self.store_dir = Path(store_dir)
        # the store settings the merchant saved in this workspace, under explicit ones
        self.settings = with_workspace(settings or Settings(), self.ws.root)
        self._session = (
            session  # an agent.assistant.session.StoreSession of store_dir, when one is at hand
        )
        self._loaded = loaded  # store_dir as load_store gave it (the CLI's summary), not read again
        self._queue = None
        self._assistant = None
        self._names: dict | None = None
        self._lock = threading.Lock()
        self._jobs_lock = threading.Lock()
        self._running: set[str] = set()
        self.downloads = Downloads()  # the only files the app serves (ui.guard)
        self.warm = {
            "fraction": 0.0,
            "step": "waiting to start",
            "done": False,
            "error": None,
            "started": None,
            "seconds": None,
        }
        """The start-up work (`start_warmup`): how far it is, the step it is at, when it ended."""
        self._warm_thread: threading.Thread | None = None

    # --- start-up: the store scored in the background, so the first question is quick ----------
    WARM_STEPS = 12

    def start_warmup(self) -> threading.Thread:
        """Load and score the store, and get the assistant ready (its embedding model, the
        playbooks, the store's headline numbers), in a background thread started at launch;
        `warm` says how far it is and names the step. Idempotent: one thread per store."""
        with self._jobs_lock:
            if self._warm_thread is not None and self._warm_thread.is_alive():
                return self._warm_thread
            self.warm = {
                "fraction": 0.0,
                "step": "starting",
                "done": False,
                "error": None,
                "started": time.perf_counter(),
                "seconds": None,
                "timings": [],
            }
            self._warm_thread = threading.Thread(
                target=self._warmup, name="retention-warmup", daemon=True
            )
            self._warm_thread.start()
            return self._warm_thread

    def _step(self, message: str) -> None:
        w = self.warm
        if w["done"]:
            return
        w["i"] = w.get("i", 0) + 1
        w["fraction"] = min(0.97, w["i"] / self.WARM_STEPS)
        w["step"] = _step_words(message)
        w.setdefault("timings", []).append((w["step"], time.perf_counter()))  # when each step began

    def _preload_embedder(self) -> None:
        """What needs no scores, done while the store is scored: the embedding model loaded
        (knowledge.default_embedder is one instance per process, so the assistant uses the one
        loaded here) and the playbooks indexed into the workspace (the session's index then
        finds every chunk stored: `KnowledgeBase.index` embeds only new content). Their
        seconds go to warm["parallel"]."""
        t = time.perf_counter()
        try:
            from knowledge import KnowledgeBase, default_embedder

            emb = default_embedder()
            emb.embed(["overview of my store"])
            t1 = time.perf_counter()
            done = [("loading the embedding model (beside the scoring)", t1 - t)]
            from agent.assistant.session import index_playbooks

            index_playbooks(KnowledgeBase(self.ws.chroma, embedder=emb))
            done.append(("indexing the playbooks (beside the scoring)", time.perf_counter() - t1))
            self.warm["parallel"] = done
        except Exception:  # the assistant loads them on first use instead
            log.exception("preparing the assistant beside the scoring failed")

    def _warmup(self) -> None:
        try:
            side = None
            if self._session is None:  # a session given by the caller brings its own embedder
                side = threading.Thread(
                    target=self._preload_embedder, name="retention-embedder", daemon=True
                )
                side.start()
            self._step("loading the store")
            self.session(self._step)
            self._step("getting the assistant ready")
            assistant = self.assistant()
            planner = getattr(assistant, "planner", None)
            if planner is not None:
                planner.classify("overview of my store")  # loads the embedding model once
            self._step("counting the store's numbers")
            self.runner().call("store_overview", {})
            if side is not None:
                self._step("indexing the retention playbooks")
                side.join()  # one index at a time in the workspace
            self._step("reading the playbooks")
            try:
                _ = self.session().kb
            except Exception:  # the playbooks are indexed on first use instead
                log.exception("playbook index at start-up failed")
            self.warm.setdefault("timings", []).append(("ready", time.perf_counter()))
            self.warm.update(
                done=True,
                fraction=1.0,
                step="ready",
                seconds=time.perf_counter() - (self.warm["started"] or time.perf_counter()),
            )
        except Exception as exc:
            log.exception("start-up scoring failed")
            self.warm.update(error=error_message(exc), step="could not load the store")

    def step_seconds(self) -> list[tuple[str, float]]:
        """The start-up's steps and the seconds each took (from its start to the next one's)."""
        t = self.warm.get("timings") or []
        return [(step, b - a) for (step, a), (_, b) in zip(t, t[1:])] + list(
            self.warm.get("parallel") or []
        )

    @property
    def warming(self) -> bool:
        """Whether the start-up work is running now."""
        t = self._warm_thread
        return t is not None and t.is_alive()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the start-up work (when it was started); whether it is done."""
        t = self._warm_thread
        if t is not None:
            t.join(timeout)
        return bool(self.warm["done"])

    @property
    def loaded(self) -> bool:
        """Whether the current store is loaded and scored already (the slow part)."""
        return self._session is not None and self._session.store_dir == self.store_dir

    # the session is built once per store (loading + scoring is the slow part)
    def session(self, progress=None):
        with self._lock:
            if self._session is None or self._session.store_dir != self.store_dir:
                from agent.assistant.session import StoreSession

                loaded = (
                    self._loaded
                    if self._loaded is not None and self._loaded.path == self.store_dir
                    else None
                )
                self._loaded = None
                self._session = StoreSession(
                    self.store_dir,
                    self.ws,
                    settings=self.settings,
                    horizon_days=self.settings.horizon_days,
                    progress=progress,
                    loaded=loaded,
                )
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
            from agent.assistant.chat import Assistant

            self._assistant = Assistant(self.session(), settings=self.settings)
        return self._assistant

    def runner(self):
        from agent.toolbox.tools import ToolRunner

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
                raise JobRunning(
                    f"{what} is already running: this click was ignored, the first one carries on"
                )
            self._running.add(what)
        try:
            yield
        finally:
            with self._jobs_lock:
                self._running.discard(what)

    def queue(self):
        if self._queue is None:  # one engine per workspace (it never changes)
            self._queue = open_queue(self.ws.root)
        return self._queue

    @property
    def currency(self) -> str | None:
        """The current store's currency (its files', else the setting), without loading it."""
        from agent.display import store_currency

        if self.loaded:
            return self._session.currency
        loaded = (
            self._loaded
            if self._loaded is not None and self._loaded.path == self.store_dir
            else None
        )
        return store_currency(getattr(loaded, "currency", None), self.settings)

    def set_currency(self, code: str | None) -> None:
        """The currency setting (None clears it): used where the store's files do not say."""
        self.settings = self.settings.model_copy(update={"currency": code})
        if self._session is not None:
            self._session.settings = self.settings
        self._assistant = None

    def set_settings(self, **values) -> None:
        clean = {k: v for k, v in values.items() if v is not None}
        self.settings = self.settings.model_copy(update=clean)
        if self._session is not None:
            self._session.settings = self.settings
        self._assistant = None


def _no_progress(*_args, **_kwargs) -> None:
    pass


def _step_words(message: str) -> str:
    """A progress step as the merchant reads it: "scoring: building features" -> "Scoring:
    building features"; a store's folder is not named."""
    text = re.sub(
        r"^loading (/|\.|[A-Za-z]:\\)\S*$", "loading the store's files", str(message or "").strip()
    )
    return text[:1].upper() + text[1:]


def still_scoring(warm: dict) -> str:
    """A chat status while the start-up scores the store: its step and how far it is."""
    step = str(warm.get("step") or "starting")
    return (
        f"Still scoring: {step[:1].lower() + step[1:]}, about {float(warm.get('fraction') or 0) * 100:.0f}% "
        "done. I'll answer as soon as it's ready."
    )


def progress_callback(progress, steps: int = 8):
    state = {"i": 0}
    progress = progress or _no_progress

    def cb(message: str) -> None:
        state["i"] += 1
        progress(min(0.95, state["i"] / steps), desc=message)

    return cb


def error_message(exc: Exception) -> str:
    """One line for the merchant. Errors written for a person (bad store data, a refused
    approval, a missing model setting, a second click) say what they say; anything else is a
    bug: its text (an internal check) is not the merchant's error, and its traceback is in
    the app's log (`log.exception` at the caller)."""
    from agent.approvals.queue import ApprovalError
    from agent.assistant.llm import ModelConfigError
    from knowledge.store import KnowledgeError
    from tools.errors import DataError

    if isinstance(
        exc, (DataError, ApprovalError, ModelConfigError, KnowledgeError, JobRunning)
    ) or (type(exc) in (ValueError, LookupError)):
        text, details = views.merchant_words((str(exc).splitlines() or [""])[0])
        return views.with_details("**Could not do that:** " + _sentence(text), details)
    return (
        f"**Something went wrong inside the app** ({type(exc).__name__}); your store files "
        "are unchanged. The details are in the app's log: please report it."
    )


def _sentence(text: str) -> str:
    """A message as a sentence: a capital first letter, a full stop at the end."""
    text = str(text or "").strip()
    if text.split(" ", 1)[0].isalpha():  # a word, not a file name ("orders.csv") or a code
        text = text[:1].upper() + text[1:]
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def chat_turn(ctx: AppContext, history: list) -> Iterator[tuple]:
    """The Assistant tab's answer to the last user message, streamed: yields (chat history,
    send-button update, mode banner, "open the drafts" button update, the drafts' ids) as the
    work goes on; the last yield holds the answer and its expandable tool trace, exactly as a
    non-streamed `Assistant.ask` would give them, and, when the turn queued drafts, shows the
    button that opens them in the Approvals tab (`open_chat_drafts`)."""
    from agent.assistant.streaming import stream_answer

    history = list(history or [])
    message = views.message_text(history[-1]["content"]) if history else ""
    busy, statuses, ids = gr.update(interactive=False), [], []
    no_link = gr.update(visible=False)
    try:
        if not ctx.loaded and ctx.warming:  # the start-up is scoring: say how far, answer when done
            while ctx.warming and not ctx.loaded:
                yield (
                    history + views.working_messages(statuses + [still_scoring(ctx.warm)]),
                    busy,
                    banner_for(ctx),
                    no_link,
                    [],
                )
                ctx.wait_ready(
                    0.5
                )  # a failed start-up: the store is loaded below, and its error shown
        if not ctx.loaded:
            statuses.append("loading and scoring the store (first question only)")
            yield history + views.working_messages(statuses), busy, banner_for(ctx), no_link, []
        assistant = ctx.assistant()
        who = f"model {ctx.settings.model}" if assistant.mode == "llm" else "offline planner"
        statuses.append(f"thinking ({who})")
        yield history + views.working_messages(statuses), busy, banner_for(ctx), no_link, []
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
            yield (
                history + views.working_messages(statuses, text),
                busy,
                banner_for(ctx),
                no_link,
                [],
            )
    except Exception as exc:  # shown as one line, logged with its traceback
        log.exception("assistant failed")
        history = history + [{"role": "assistant", "content": error_message(exc)}]
    link = gr.update(visible=True, value=views.open_drafts_label(ids)) if ids else no_link
    yield history, gr.update(interactive=True), banner_for(ctx), link, ids


def open_chat_drafts(ctx: AppContext, ids: list[int]) -> tuple:
    """The Assistant tab's "Open these N drafts in Approvals": switch to the Approvals tab with
    the queue filtered to those drafts and the first one open. (tabs, id filter, state filter,
    message, subject, body, detail, preview, *shown_rows: the picker on the first)"""
    ids = [int(i) for i in ids or []]
    only = ", ".join(map(str, ids))
    first = ids[0] if ids else None
    msg = (
        f"Showing the {len(ids)} draft(s) written in chat (ids {only}); clear the id filter to see "
        "the whole queue."
        if ids
        else "No drafts were written in that chat turn."
    )
    return (
        (gr.Tabs(selected="approvals"), only, views.ALL, msg)
        + show_draft(ctx, first)
        + shown_rows(ctx, views.ALL, only, first)
    )


def show_draft(ctx: AppContext, draft_id) -> tuple:
    """One draft for the Approvals editor: (subject, body, detail, preview as the customer will
    see it: the name filled in from the store's customers file, on this machine)."""
    if draft_id is None or draft_id == "":
        return "", "", "Pick a draft: click a row of the table or choose it in «Draft».", ""
    try:
        d = ctx.queue().get(int(draft_id)).to_dict()
    except Exception as exc:
        return "", "", error_message(exc), ""
    from agent.outreach.guardrails import render

    person = people_of(ctx, [d]).get(int(d["id"]))
    subject, body = render(d, person or {})
    to = (person or {}).get("phone" if d["channel"] == "sms" else "email") or ""
    return (
        d["subject"],
        d["body"],
        views.draft_detail(d, ctx.currency, person),
        views.draft_preview(subject, body, d["channel"], str(to)),
    )


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


def draft_rows(ctx: AppContext, state: str, only: str = ""):
    """The approval queue's table, by state and, when `only` names draft ids, just those."""
    return views.drafts_table([d.to_dict() for d in _listed(ctx, state, only)])


def _listed(ctx: AppContext, state: str, only: str = "") -> list:
    ids = set(views.parse_ids(only))
    return [
        d
        for d in ctx.queue().list_drafts(state=None if state in (views.ALL, None, "") else state)
        if not ids or d.id in ids
    ]


def people_of(ctx: AppContext, drafts: list[dict]) -> dict[int, dict]:
    """draft id -> its customer's personal row (first and last name, email, phone) for the drafts planned
    on the current store, read from the store's own customers file on this machine: shown in
    the queue and the preview, never given to a model. Empty while the store is being scored,
    and for drafts of another store in the same workspace (the same id is another person)."""
    if not ctx.loaded or not drafts:
        return {}
    from agent.reports.campaigns import store_campaigns

    mine = set(store_campaigns(ctx.queue(), ctx.store_dir)[0])
    s = ctx.session()
    return {
        int(d["id"]): s.personal(str(d["customer_id"])) or {}
        for d in drafts
        if d.get("campaign_id") in mine
    }


SHOWN = 7
"""What `shown_rows` fills: table, view, bulk box, arming, draft picker, bulk approve and bulk
reject buttons."""


def shown_rows(ctx: AppContext, state: str, only: str = "", picked=None) -> tuple:
    """The queue's table as the merchant asked for it, and what it shows, kept on the server
    (a gr.State: {"state", "only", "ids"}); the bulk box is cleared and disarmed, since what
    it would approve has changed; the draft picker lists the drafts shown, and the bulk buttons
    say how many of them they would approve or reject; `picked` stays picked when it is still
    shown. (table, view, box, arming, picker, bulk approve button, bulk reject button)"""
    drafts = [d.to_dict() for d in _listed(ctx, state, only)]
    view = {"state": state, "only": only or "", "ids": [d["id"] for d in drafts]}
    people = people_of(ctx, drafts)
    n = sum(d["status"] in ("pending", "edited") for d in drafts)
    bulk = gr.update(value=bulk_label("Approve", n), interactive=n > 0)
    bulk_no = gr.update(value=bulk_label("Reject", n), interactive=n > 0)
    keep = int(picked) if picked not in (None, "") and int(picked) in view["ids"] else None
    return (
        views.drafts_view(drafts, people, ctx.currency),
        view,
        False,
        None,
        gr.update(choices=views.draft_choices(drafts, people), value=keep),
        bulk,
        bulk_no,
    )


def bulk_label(verb: str, n: int) -> str:
    """A bulk button's label with its count: "Approve the 2 pending drafts shown"."""
    return f"{verb} the {n} pending draft{'s' if n != 1 else ''} shown"


def queue_results(ctx: AppContext):
    """The campaign results beside the queue (agent.reports.campaigns.all_campaign_results), as shown."""
    if not ctx.loaded:
        return views.empty(views.CAMPAIGN_HEADINGS)
    from agent.reports.campaigns import all_campaign_results

    try:
        return views.campaigns_view(all_campaign_results(ctx.queue(), ctx.session().orders))
    except Exception:
        log.exception("campaign results failed")
        return views.empty(views.CAMPAIGN_HEADINGS)


def store_numbers(ctx: AppContext) -> dict | None:
    """The first screen's numbers, once the store is scored: active customers, at risk and
    their value at stake (the store_overview tool's), drafts waiting for approval, and the
    last campaign's result (agent.reports.campaigns.all_campaign_results). None before."""
    if not ctx.loaded:
        return None
    from agent.reports.campaigns import all_campaign_results

    o = ctx.runner().call("store_overview", {})
    if isinstance(o, str):
        return None
    waiting = sum(d.state in ("pending", "edited") for d in ctx.queue().list_drafts())
    try:
        res = all_campaign_results(ctx.queue(), ctx.session().orders)
        last = res.iloc[-1].to_dict() if len(res) else None
    except Exception:
        log.exception("campaign results failed")
        last = None
    return {
        "customers": o["customers"],
        "active": o["active_customers_last_90_days"],
        "at_risk": o["at_risk_customers"],
        "value_at_stake": o["at_risk_value_at_stake"],
        "horizon_days": o.get("horizon_days", 365),
        "drafts_waiting": waiting,
        "last_campaign": views.campaign_headline(last),
    }


def home_view(ctx: AppContext) -> tuple:
    """The first screen, as far as the start-up has got: (progress bar, greeting, the store's
    numbers, whether to keep polling). Called by the page's timer and on each page open."""
    w = ctx.warm
    done = bool(w.get("done")) or (ctx.loaded and w.get("started") is None)
    if done:
        secs = w.get("seconds")
        step = (
            f"Ready: {len(ctx.session().scores):,} customers scored"
            + (f" in {secs:.0f} s" if secs else "")
            + "."
        )
        bar = views.startup_bar(1.0, step, done=True)
        n = store_numbers(ctx)
        return (
            bar,
            views.greeting(ctx.settings.store_name, True, n and n["customers"]),
            views.store_numbers(n, ctx.currency),
            False,
        )
    bar = views.startup_bar(w.get("fraction", 0.0), w.get("step", "starting"), error=w.get("error"))
    return (
        bar,
        views.greeting(ctx.settings.store_name, False),
        views.store_numbers(None),
        not w.get("error"),
    )


def _approvable(ctx: AppContext, view: dict | None) -> list[int]:
    """The pending and edited drafts among those the table shows (the server's view)."""
    shown = set((view or {}).get("ids") or [])
    return [
        d.id
        for d in ctx.queue().list_drafts()
        if d.id in shown and d.state in ("pending", "edited")
    ]


def arm_bulk(ctx: AppContext, ticked: bool, view: dict | None) -> tuple:
    """The bulk confirmation box ticked (or unticked) by the merchant: the server notes which
    drafts it confirms, the pending and edited drafts the table shows now; the bulk approve
    (or reject) button acts on those and no other. (arming, message)"""
    if not ticked:
        return None, "Bulk approval not confirmed."
    ids = _approvable(ctx, view)
    if not ids:
        return None, "None of the drafts shown is pending or edited: nothing to approve or reject."
    return (
        {"ids": ids, "view": list((view or {}).get("ids") or [])},
        f"Confirmed for the {len(ids)} pending and edited draft(s) shown (ids {_id_list(ids)}): "
        f"press «{bulk_label('Approve', len(ids))}» or «{bulk_label('Reject', len(ids))}».",
    )


def _id_list(ids: list[int], most: int = 20) -> str:
    words = ", ".join(map(str, ids[:most]))
    return words + (f" and {len(ids) - most} more" if len(ids) > most else "")


def bulk_approve(ctx: AppContext, armed: dict | None, actor: str, view: dict | None) -> tuple:
    """Approve the pending and edited drafts the table shows, only when the merchant's tick
    (`arm_bulk`, kept on the server) confirmed them for the same table; drafts that appeared or
    changed since are left alone. The box is cleared afterwards, so the next bulk approval needs
    a new tick. (message, *shown_rows)"""
    return _bulk(ctx, "approve", armed, actor, view)


def bulk_reject(
    ctx: AppContext, armed: dict | None, actor: str, view: dict | None, reason: str = ""
) -> tuple:
    """Reject the pending and edited drafts the table shows, on the same terms as
    `bulk_approve` (the tick, the same table), each with the reason typed for the single
    reject (optional), through the queue's `reject_many`: the audit log gets one row per
    draft, as a single reject writes it. (message, *shown_rows)"""
    return _bulk(ctx, "reject", armed, actor, view, reason)


def _bulk(
    ctx: AppContext, kind: str, armed: dict | None, actor: str, view: dict | None, reason: str = ""
) -> tuple:
    verb, done_word = {"approve": ("approve", "approved"), "reject": ("reject", "rejected")}[kind]
    view = view or {"state": views.ALL, "only": "", "ids": []}

    def after(message: str) -> tuple:
        return (message,) + shown_rows(ctx, view.get("state", views.ALL), view.get("only", ""))

    if not armed or not armed.get("ids"):
        return after(f"Tick the confirmation box to {verb} the pending drafts shown.")
    if list(armed.get("view") or []) != list(view.get("ids") or []):
        return after(
            f"The drafts shown changed since the box was ticked: nothing {done_word}; tick it again."
        )
    ids = [i for i in _approvable(ctx, view) if i in set(armed["ids"])]
    if not ids:
        return after(
            f"None of the confirmed drafts is still pending or edited: nothing {done_word}."
        )
    try:
        q = ctx.queue()
        done = (
            q.approve(ids, actor=actor)
            if kind == "approve"
            else q.reject_many(ids, actor=actor, reason=(reason or "").strip())
        )
        changed = [t.draft_id for t in done if t.changed]
        m = f"{len(changed)} drafts {done_word} by {actor} (ids {_id_list(changed)})."
    except (ApprovalError, LookupError, ValueError) as exc:
        m = error_message(exc)
    return after(m)


def people_line(ctx: AppContext) -> str:
    """Who may decide on drafts in this workspace (agent.approvals.queue: a registered person)."""
    try:
        names = [p.name for p in ctx.queue().people()]
    except Exception as exc:
        return error_message(exc)
    if not names:
        return (
            "Nobody is registered yet to decide on drafts in this workspace: register yourself "
            "(the name you give in «Your name»), then approve."
        )
    return "People who decide on drafts here: " + ", ".join(names) + "."


def register_person(ctx: AppContext, name: str | None, by: str | None) -> tuple:
    """Register a person who may approve, edit and reject drafts: the first one registers
    themselves, later ones are added by a registered person (`by`, «Your name»). (message, people)"""
    try:
        row, added = ctx.queue().add_person(name or "", by=(by or "").strip() or None)
    except (ApprovalError, ValueError) as exc:
        return error_message(exc), people_line(ctx)
    return (
        f"Registered {row.name} to decide on drafts."
        if added
        else f"{row.name} is registered already."
    ), people_line(ctx)


def export_drafts(ctx: AppContext, actor: str, view: dict | None = None, picked=None) -> tuple:
    """Approved drafts to CSV (agent.reports.campaigns.export_approved): the export, and next to it the
    same drafts as Klaviyo's profile import and Shopify's customer-tag import; those three
    files are the downloads the app then serves for exports. (message, table, export file,
    view, box, arming, picker, bulk approve and reject buttons, the Klaviyo and Shopify files)"""
    from agent.outreach.drafts import format_paths
    from agent.reports.campaigns import export_approved

    view = view or {"state": views.ALL, "only": ""}

    def out(message, file, platform):
        table, v, box, armed, picker, bulk, bulk_no = shown_rows(
            ctx, view.get("state", views.ALL), view.get("only", ""), picked
        )
        return message, table, file, v, box, armed, picker, bulk, bulk_no, platform

    try:
        with ctx.job("the export"):
            res = export_approved(
                ctx.ws, ctx.queue(), store=ctx.store_dir, actor=actor or "merchant"
            )
    except JobRunning as exc:
        return out(str(exc), gr.update(), gr.update())
    except Exception as exc:
        log.exception("export failed")
        ctx.downloads.withdraw("export")
        return out(error_message(exc), None, None)
    paths = [res.path, *format_paths(res.path).values()] if res.path else []
    served = ctx.downloads.offer("export", [p for p in paths if p.exists()])
    msg = "Done: " + (res.message.replace(f" to {res.path}", "") if res.path else res.message) + "."
    if res.path:
        msg += (
            " Three files: the export, and the same drafts for **Klaviyo** (Lists & segments › Import "
            "contacts; subject, message and offer code become profile properties) and for **Shopify** "
            "(Customers › Import, with «Overwrite existing customers»: tags each customer with the campaign)."
        )
    if res.skipped:
        msg += (
            f" Held back: {'; '.join(res.skipped[:5])}"
            + (" …" if len(res.skipped) > 5 else "")
            + "."
        )
    return out(msg, served[0] if served else None, served[1:] or None)


def make_brief(ctx: AppContext, week_ending: str | None, cac, progress=None) -> tuple:
    """The Weekly brief tab: (status, KPI cards, 3 charts as embedded HTML, cohort plot, Markdown,
    HTML file, Markdown file). The charts are data: URIs in the page, so nothing but the two
    downloads is served; the HTML file carries them too. A second click while one is being made
    is refused, not run twice."""
    from agent.reports.brief import charts_html, weekly_brief
    from ui.charts import cohort_retention

    try:
        with ctx.job("the weekly brief"):
            cost = _amount(cac, "the customer acquisition cost")
            s = ctx.session(progress_callback(progress))
            b = weekly_brief(
                s.store,
                workspace=ctx.ws,
                week_ending=(week_ending or "").strip() or None,
                cac=cost,
                settings=ctx.settings,
                horizon_days=getattr(s, "horizon_days", 365),
                progress=progress_callback(progress),
            )
    except JobRunning as exc:  # the first click's brief carries on: what it shows stays
        return (str(exc),) + (gr.update(),) * 8
    except Exception as exc:  # a failed brief clears the old one: nothing on screen it did not make
        if type(exc) is not ValueError:
            log.exception("brief failed")
        ctx.downloads.withdraw("brief")
        return (error_message(exc), "", "", "", "", None, "", None, None)
    p = b.paths
    html_, md = ctx.downloads.offer("brief", [p.get("html"), p.get("md")])
    images = getattr(b, "images", None) or {}
    clv, churn, mig = (
        charts_html({k: images[k]}) if k in images else ""
        for k in ("clv_distribution", "churn_by_segment", "segment_migration")
    )
    return (
        f"Brief for the week ending **{date_words(b.week_ending)}** is ready (download it below).",
        views.kpi_cards(
            b.facts.get("kpi", {}), b.facts.get("kpi_change", {}), b.facts.get("currency")
        ),
        clv,
        churn,
        mig,
        cohort_retention(s.orders),
        plain_words(_without_images(b.markdown)),
        html_,
        md,
    )


def _amount(value, what: str) -> float | None:
    """An optional amount the merchant typed ("35", "35.50", "1,200"); None when left empty."""
    text = str(value if value is not None else "").strip().replace(",", "")
    if not text:
        return None
    try:
        n = float(text)
    except ValueError:
        raise ValueError(
            f"{what} must be an amount such as 35 or 35.50; got {str(value)!r}"
        ) from None
    if not math.isfinite(n) or n < 0:
        raise ValueError(f"{what} must be an amount of 0 or more; got {str(value)!r}")
    return n or None


def _without_images(markdown: str) -> str:
    """The brief's Markdown as the tab shows it: its charts are the images above it, so its
    image links (file names next to the .md file in the workspace, not served) are left out."""
    return re.sub(r"!\[[^\]]*\]\([^)]*\)[ \t]*\n?", "", markdown or "")


def upload_store(ctx: AppContext, paths, store_name: str | None, progress=None) -> tuple:
    """The Data tab: copy the files into a new store folder, load, validate and score it, and
    use it from now on. (status, load report, rejected-rows files, store line)"""
    if not paths:
        return "**Could not do that:** choose at least an orders file.", None, None, gr.update()
    try:
        with ctx.job("loading and scoring a store"):
            safe = (
                "".join(ch for ch in (store_name or "uploaded") if ch.isalnum() or ch in "-_")
                or "uploaded"
            )
            folder = (
                ctx.ws.sub("stores")
                / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
            )
            folder.mkdir(parents=True)
            for p in paths:
                p = Path(p if isinstance(p, str) else p.name)
                shutil.copy(p, folder / p.name)
            (progress or _no_progress)(0.05, desc="loading and validating")
            s = ctx.use_store(folder, progress_callback(progress))
    except JobRunning as exc:
        return str(exc), gr.update(), gr.update(), gr.update()
    except Exception as exc:  # DataError and friends: the CLI's one-line message
        log.info("upload refused: %s", exc)
        ctx.downloads.withdraw("rejects")
        return error_message(exc), None, None, gr.update()
    reps = list(s.reports)
    rej = ctx.downloads.offer(
        "rejects", [r.rejects_path for r in reps if r.rejects_path and r.rows_rejected]
    )
    notes = "".join(f" Note: {plain_words(w)}" for w in s.params.get("warnings", []))
    cur = getattr(s, "currency", None)
    notes += (
        f" Amounts are in {cur}."
        if cur
        else " The files do not say which currency the store uses: set it in Settings."
    )
    return (
        views.merchant_text(
            views.load_summary(reps) + f" Scored {len(s.scores):,} customers; the app now "
            f"uses this store." + notes
        ),
        views.load_report_view(reps),
        rej or None,
        store_line(ctx),
    )


def store_line(ctx: AppContext) -> str:
    """The header's line: the store the app works on now (its name as set in Settings), its
    folder and the workspace; filled in again each time the page is opened."""
    name = ctx.settings.store_name
    where = f"`{ctx.store_dir}` · workspace: `{ctx.ws.root}`"
    return f"Store: **{_md_text(name)}** · files: {where}" if name else f"Store: {where}"


def _md_text(text: str) -> str:
    """Merchant text shown in Markdown as typed (no markup of its own)."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~-])", r"\\\1", text)


def settings_values(ctx: AppContext) -> tuple:
    """The Settings tab's fields as the settings are now (shown again after a reload): (model
    endpoint, model, discount cap, weekly budget, control share, margin, currency, store name,
    sender, sign-off). The API key is never shown back."""
    s = ctx.settings
    return (
        s.openai_base_url or "",
        s.model or "",
        s.discount_cap,
        s.weekly_contact_budget,
        s.control_share,
        s.margin,
        s.currency or "",
        s.store_name or "",
        s.sender_name or "",
        s.sign_off or "",
    )


def draft_for(ctx: AppContext, customer_id: str | None, progress=None) -> tuple:
    """The Customers tab's "Draft outreach": one draft queued for approval (queue_drafts),
    shown next to the button as the customer will see it. (message, preview)"""
    customer_id = (customer_id or "").strip()
    if not customer_id:
        return "Enter a customer id first (or click a row of the table).", ""
    try:
        with ctx.job(f"drafting for {customer_id}"):
            (progress or _no_progress)(0.2, desc="drafting")
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


def consent_status(ctx: AppContext) -> str:
    """The Settings tab's consent line: the confirmations in force for the current store."""
    try:
        conf = ctx.queue().consent_confirmations(ctx.store_dir)
    except Exception as exc:
        return error_message(exc)
    if not conf:
        return (
            f"No consent confirmation for `{ctx.store_dir}`: customers whose data does not say are "
            "not contacted."
        )
    return (
        "Consent confirmations for this store: " + "; ".join(c.words() for c in conf.values()) + "."
    )


def confirm_consent(
    ctx: AppContext, channel: str, by: str, ticked: bool, action: str = "confirm"
) -> str:
    """The Settings tab's consent confirmation (or withdrawal) for one channel of the current
    store, recorded in the audit log with the name given; only with the box ticked."""
    if action == "confirm" and not ticked:
        return "Tick the box to confirm that you hold this consent; nothing was recorded."
    try:
        q = ctx.queue()
        if action == "confirm":
            row = q.confirm_consent(ctx.store_dir, channel, actor=by)
        else:
            row = q.withdraw_consent(ctx.store_dir, channel, actor=by)
    except (ApprovalError, ValueError) as exc:
        return error_message(exc)
    return (
        f"Recorded in the audit log (entry {row.id}): {row.after['statement']}. "
        + consent_status(ctx)
    )


def banner_for(ctx: AppContext) -> str:
    return views.mode_banner("llm" if ctx.settings.model else "offline", ctx.settings.model)


# --- settings ------------------------------------------------------------------------------------

LIMITS = {"discount_cap": (0.0, 0.5), "control_share": (0.0, 0.5), "margin": (0.0, 1.0)}
LIMIT_WORDS = {
    "discount_cap": "largest discount",
    "control_share": "control group",
    "margin": "gross margin",
}


def settings_log(ctx: AppContext) -> list[dict]:
    """The settings changes made in the app, oldest first, from the approval queue's audit log:
    when, by whom, each changed field before and after (the API key only as set / not set,
    never its value)."""
    return [
        {
            "at": r.at.isoformat() if r.at else None,
            "by": r.actor,
            "action": "settings changed",
            "changes": {
                k: {"before": (r.before or {}).get(k), "after": v}
                for k, v in (r.after or {}).items()
            },
            "note": r.note,
        }
        for r in ctx.queue().settings_changes()
    ]


def _log_settings(ctx: AppContext, by: str, changes: dict, note: str = "") -> None:
    ctx.queue().record_settings_change(
        actor=by, changes=json.loads(json.dumps(changes, default=str)), note=note
    )


def save_settings(
    ctx: AppContext,
    base: str | None,
    model: str | None,
    key: str | None,
    cap,
    budget,
    control,
    margin,
    currency: str | None,
    by: str | None = None,
    store_name: str | None = None,
    sender: str | None = None,
    sign_off: str | None = None,
) -> tuple:
    """The Settings tab's "Save settings", checked here whatever the page sent: numbers within
    their limits, an http(s) endpoint. A changed model endpoint clears the stored API key (a
    key meant for one server is never sent to another) unless a new key comes with it. Every
    change is written to the audit log (`settings_log`); the store settings (name, sender,
    sign-off, currency, cap, budget, control share, margin) are kept in the workspace
    (agent.settings.save_store_settings), so they are the same after a reload or a restart.
    `store_name`, `sender`, `sign_off`: None leaves them as they are, "" clears them.
    (message, key box)"""
    from tools.schema import currency_code

    who = (by or "").strip() or "merchant"
    try:
        code = currency_code(currency)
        values = {
            "discount_cap": float(cap),
            "control_share": float(control),
            "margin": float(margin),
        }
        for name, (lo, hi) in LIMITS.items():
            if not (math.isfinite(values[name]) and lo <= values[name] <= hi):
                raise ValueError(
                    f"the {LIMIT_WORDS[name]} must be between {lo * 100:g}% and {hi * 100:g}%; "
                    f"got {values[name] * 100:g}%"
                )
        n = float(budget or 0)
        if not math.isfinite(n) or n < 0 or n != int(n):
            raise ValueError(
                f"the weekly contact budget must be a whole number of customers, 0 or more; got {budget}"
            )
        values["weekly_contact_budget"] = int(n)
        new_base = (base or "").strip() or None
        if new_base and not new_base.lower().startswith(("http://", "https://")):
            raise ValueError(
                f"the model endpoint must be an http:// or https:// address; got {new_base!r}"
            )
        for name, text, most in (
            ("store_name", store_name, 80),
            ("sender_name", sender, 80),
            ("sign_off", sign_off, 120),
        ):
            if text is not None:
                text = " ".join(str(text).split())
                if len(text) > most:
                    raise ValueError(
                        f"the {name.replace('_', ' ')} may have at most {most} characters; "
                        f"got {len(text)}"
                    )
                values[name] = text or None
    except ValueError as exc:
        return error_message(exc), ""
    before = ctx.settings
    new_key = (key or "").strip() or None
    values.update(openai_base_url=new_base, model=(model or "").strip() or None)
    note = ""
    if new_key:
        values["openai_api_key"] = new_key
    elif new_base != before.openai_base_url and before.openai_api_key:
        values["openai_api_key"] = None
        note = (
            "The model endpoint changed, so the stored API key was cleared: enter the key for "
            f"{new_base or 'the default endpoint'} if it needs one."
        )
    ctx.settings = before.model_copy(update=values)
    ctx.set_settings()  # the session and the assistant get the new settings
    ctx.set_currency(code)  # last: the session gets the settings as saved
    after = ctx.settings
    save_store_settings(ctx.ws.root, after)
    changes = {}
    for name in (
        "openai_base_url",
        "model",
        "discount_cap",
        "weekly_contact_budget",
        "control_share",
        "margin",
        "currency",
        "store_name",
        "sender_name",
        "sign_off",
    ):
        if getattr(before, name) != getattr(after, name):
            changes[name] = {"before": getattr(before, name), "after": getattr(after, name)}
    if new_key or before.openai_api_key != after.openai_api_key:
        word = lambda k: "set" if k else "not set"  # noqa: E731
        changes["openai_api_key"] = {
            "before": word(before.openai_api_key),
            "after": "replaced"
            if new_key and before.openai_api_key
            else word(after.openai_api_key),
        }
    if changes:
        _log_settings(ctx, who, changes, note)
    mode = f"model `{after.model}`" if after.model else "offline: no language model in use"
    cur = f" Currency: {ctx.currency or 'not known'}."
    logged = (
        f" Recorded in the audit log ({len(changes)} change(s), by {who})."
        if changes
        else " Nothing changed."
    )
    return (
        f"Saved. Mode: {mode}. API key: {'set' if after.openai_api_key else 'not set'}.{cur}"
        + (f" {note}" if note else "")
        + logged
    ), ""
