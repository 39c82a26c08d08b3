"""The app's server-side state, `AppContext` (one workspace, the current store, its session,
the approval queue, the start-up scoring in the background, one long job of a kind at a time),
and what every handler shares: the merchant's one-line error message and the progress callback.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.approvals.errors import ApprovalError
from agent.approvals.queue import ApprovalQueue, open_queue
from agent.settings import Settings, with_workspace
from agent.workspace import Workspace
from ui import views
from ui.guard import Downloads

if TYPE_CHECKING:  # imported where they are used: the app starts without loading them
    from agent.assistant.chat import Assistant
    from agent.assistant.session import StoreSession
    from agent.toolbox.tools import ToolRunner

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
        session: StoreSession | None = None,
        loaded=None,
    ):
        self.ws = Workspace.at(workspace)
        self.store_dir = Path(store_dir)
        # the store settings the merchant saved in this workspace, under explicit ones
        self.settings = with_workspace(settings or Settings(), self.ws.root)
        self._session = session  # a session of store_dir, when one is at hand
        self._loaded = loaded  # store_dir as load_store gave it (the CLI's summary), not read again
        self._queue: ApprovalQueue | None = None
        self._assistant: Assistant | None = None
        self._names: dict | None = None
        self._lock = threading.Lock()
        self._jobs_lock = threading.Lock()
        self._running: set[str] = set()
        self.downloads = Downloads()  # the only files the app serves (ui.guard)
        self.warm: dict[str, Any] = {
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
    def session(self, progress=None) -> StoreSession:
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

    def use_store(self, store_dir: Path, progress=None) -> StoreSession:
        """Switch to another store; on a load error the current store stays in use."""
        before = self.store_dir
        self.store_dir = Path(store_dir)
        try:
            return self.session(progress)
        except Exception:
            self.store_dir = before
            raise

    def assistant(self) -> Assistant:
        if self._assistant is None:
            from agent.assistant.chat import Assistant

            self._assistant = Assistant(self.session(), settings=self.settings)
        return self._assistant

    def runner(self) -> ToolRunner:
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

    def queue(self) -> ApprovalQueue:
        if self._queue is None:  # one engine per workspace (it never changes)
            self._queue = open_queue(self.ws.root, url=self.settings.database_url)
        return self._queue

    @property
    def currency(self) -> str | None:
        """The current store's currency (its files', else the setting), without loading it."""
        from agent.display import store_currency

        if self.loaded and self._session is not None:
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


def no_progress(*_args, **_kwargs) -> None:
    """The progress bar of a call made without one (a test, the CLI): shows nothing."""


def _step_words(message: str) -> str:
    """A progress step as the merchant reads it: "scoring: building features" -> "Scoring:
    building features"; a store's folder is not named."""
    text = re.sub(
        r"^loading (/|\.|[A-Za-z]:\\)\S*$", "loading the store's files", str(message or "").strip()
    )
    return text[:1].upper() + text[1:]


def progress_callback(progress, steps: int = 8):
    state = {"i": 0}
    progress = progress or no_progress

    def cb(message: str) -> None:
        state["i"] += 1
        progress(min(0.95, state["i"] / steps), desc=message)

    return cb


def error_message(exc: Exception) -> str:
    """One line for the merchant. Errors written for a person (bad store data, a refused
    approval, a missing model setting, a second click) say what they say; anything else is a
    bug: its text (an internal check) is not the merchant's error, and its traceback is in
    the app's log (`log.exception` at the caller)."""
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
