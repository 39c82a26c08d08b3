"""The app's server-side state and its event handlers: plain functions of the context
(`context.AppContext`), so tests call them without a browser; `ui.app` and `ui.tabs` lay them
out and wire them to events. One module per tab: `assistant` (the chat and the first screen),
`customers`, `approvals`, `brief`, `data` and `settings`. This front door gives every handler
by name (`from ui.handlers import AppContext, chat_turn`).
"""

from __future__ import annotations

from ui.handlers.approvals import (
    SHOWN,
    arm_bulk,
    bulk_approve,
    bulk_label,
    bulk_reject,
    decide_draft,
    draft_rows,
    export_drafts,
    people_line,
    people_of,
    queue_results,
    register_person,
    show_draft,
    shown_rows,
)
from ui.handlers.assistant import (
    banner_for,
    chat_turn,
    home_view,
    open_chat_drafts,
    still_scoring,
    store_numbers,
)
from ui.handlers.brief import make_brief
from ui.handlers.context import (
    AppContext,
    JobRunning,
    error_message,
    no_progress,
    progress_callback,
)
from ui.handlers.customers import customer_rows, draft_for, open_customer
from ui.handlers.data import store_line, upload_store
from ui.handlers.settings import (
    LIMIT_WORDS,
    LIMITS,
    confirm_consent,
    consent_status,
    save_settings,
    settings_log,
    settings_values,
)

__all__ = [
    "AppContext",
    "JobRunning",
    "LIMITS",
    "LIMIT_WORDS",
    "SHOWN",
    "arm_bulk",
    "banner_for",
    "bulk_approve",
    "bulk_label",
    "bulk_reject",
    "chat_turn",
    "confirm_consent",
    "consent_status",
    "customer_rows",
    "decide_draft",
    "draft_for",
    "draft_rows",
    "error_message",
    "export_drafts",
    "home_view",
    "make_brief",
    "no_progress",
    "open_chat_drafts",
    "open_customer",
    "people_line",
    "people_of",
    "progress_callback",
    "queue_results",
    "register_person",
    "save_settings",
    "settings_log",
    "settings_values",
    "show_draft",
    "shown_rows",
    "still_scoring",
    "store_line",
    "store_numbers",
    "upload_store",
]
