"""The Data tab's handler (files uploaded into a new store folder, loaded, validated, scored and
used from then on) and the header's line naming the store in use."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path

import gradio as gr

from agent.display import plain_words
from ui import views
from ui.handlers.context import (
    AppContext,
    JobRunning,
    error_message,
    no_progress,
    progress_callback,
)

log = logging.getLogger(__name__)


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
            (progress or no_progress)(0.05, desc="loading and validating")
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
    return f"Store: **{views.md_escape(name)}** · files: {where}" if name else f"Store: {where}"
