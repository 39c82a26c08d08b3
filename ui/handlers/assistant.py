"""The Assistant tab's handlers: the chat turn streamed (with the link that opens the drafts it
queued in Approvals), the mode banner, and the first screen (the start-up's progress, then the
greeting and the store's numbers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import gradio as gr

from ui import views
from ui.handlers.approvals import show_draft, shown_rows
from ui.handlers.context import AppContext, error_message

log = logging.getLogger(__name__)


def still_scoring(warm: dict) -> str:
    """A chat status while the start-up scores the store: its step and how far it is."""
    step = str(warm.get("step") or "starting")
    return (
        f"Still scoring: {step[:1].lower() + step[1:]}, about {float(warm.get('fraction') or 0) * 100:.0f}% "
        "done. I'll answer as soon as it's ready."
    )


def chat_turn(ctx: AppContext, history: list) -> Iterator[tuple]:
    """The Assistant tab's answer to the last user message, streamed: yields (chat history,
    send-button update, mode banner, "open the drafts" button update, the drafts' ids) as the
    work goes on; the last yield holds the answer and its expandable tool trace, exactly as a
    non-streamed `Assistant.ask` would give them, and, when the turn queued drafts, shows the
    button that opens them in the Approvals tab (`open_chat_drafts`)."""
    from agent.assistant.streaming import stream_answer

    history = list(history or [])
    message = views.message_text(history[-1]["content"]) if history else ""
    busy = gr.update(interactive=False)
    statuses: list[str] = []
    ids: list[int] = []
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


def banner_for(ctx: AppContext) -> str:
    return views.mode_banner("llm" if ctx.settings.model else "offline", ctx.settings.model)


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
            views.greeting(ctx.settings.store_name, True, n["customers"] if n else None),
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
