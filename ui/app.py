"""The Gradio app: layout and event wiring only. Every action is an agent/ call the CLI makes too.

    from ui.app import launch
    launch(store_dir, workspace, port=7860)     # prints http://127.0.0.1:7860/?key=..., offline unless a model is set

Who can drive it (ui.guard): only requests to 127.0.0.1 / localhost carrying this launch's key;
no event is part of Gradio's public API (every one is `api_name=False`), and the only files
served are the downloads just made. RETENTION_UI_PASSWORD adds Gradio's login.

`build_app` lays out the header, the six tabs (each laid out and wired in its module of
ui.tabs, over the handlers of ui.handlers) and what the page fills in when it is opened;
`launch` starts it behind ui.guard.Gate.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio import utils as gr_utils
from starlette.middleware import Middleware

from agent.settings import Settings
from ui import views
from ui.guard import PRIVATE, Gate, new_key
from ui.handlers import (
    AppContext,
    consent_status,
    home_view,
    open_chat_drafts,
    people_line,
    queue_results,
    shown_rows,
    store_line,
)
from ui.tabs.approvals import approvals_tab
from ui.tabs.assistant import assistant_tab
from ui.tabs.brief import brief_tab
from ui.tabs.customers import customers_tab
from ui.tabs.data import data_tab
from ui.tabs.settings import page_settings, settings_tab

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
            open_btn, chat_ids, home = assistant_tab(ctx)
            brief_tab(ctx)
            customers_tab(ctx)
            queue_ui = approvals_tab(ctx)
            uploaded = data_tab(ctx, store_md)
            consent_msg, settings_fields = settings_tab(ctx)
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
    password = password if password is not None else (ctx.settings.ui_password or None)
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
