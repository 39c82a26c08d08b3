"""The Assistant tab's layout and wiring: the first screen (greeting, start-up bar, the store's
numbers), the mode banner, the chat and its starters, and the button that opens a turn's drafts."""

from __future__ import annotations

import gradio as gr

from ui import views
from ui.guard import PRIVATE
from ui.handlers import AppContext, banner_for, chat_turn, home_view


def assistant_tab(ctx: AppContext) -> tuple:
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
