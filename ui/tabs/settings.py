"""The Settings tab's layout and wiring: the store's settings (the shares shown as percentages)
and the consent confirmations per channel."""

from __future__ import annotations

import gradio as gr

from ui.guard import PRIVATE
from ui.handlers import AppContext, confirm_consent, consent_status, save_settings, settings_values


def settings_tab(ctx: AppContext):
    """The settings and the consent confirmations; returns the consent line and the settings
    fields, in `settings_values` order (filled in again each time the page is opened)."""
    with gr.Tab("Settings", id="settings"):
        s = ctx.settings
        gr.Markdown(
            "Your store's settings are kept in the workspace (the same after a reload or a "
            "restart), and every change is written to the audit log. The model connection is "
            "for this session only; the API key is write-only: it is never shown back, and a "
            "changed model endpoint clears it."
        )
        with gr.Row():
            store_name = gr.Textbox(
                label="Store name (drafts are signed with it)",
                value=s.store_name or "",
                max_length=80,
                elem_id="settings-store-name",
            )
            sender = gr.Textbox(
                label="Sender (who signs the drafts, e.g. Maria)",
                value=s.sender_name or "",
                max_length=80,
                elem_id="settings-sender",
            )
            sign_off = gr.Textbox(
                label="Sign-off (e.g. Warm wishes)",
                value=s.sign_off or "",
                max_length=120,
                elem_id="settings-sign-off",
            )
        with gr.Row():
            base = gr.Textbox(
                label="Model endpoint (OpenAI-compatible base URL)",
                value=s.openai_base_url or "",
                elem_id="settings-base",
            )
            model = gr.Textbox(
                label="Model name (empty = offline)", value=s.model or "", elem_id="settings-model"
            )
            key = gr.Textbox(
                label="API key",
                type="password",
                value="",
                placeholder="unchanged",
                elem_id="settings-key",
            )
        with gr.Row():
            cap = gr.Slider(
                0,
                50,
                value=_pct(s.discount_cap),
                step=1,
                label="Largest discount offered (%)",
                elem_id="settings-cap",
            )
            budget = gr.Number(
                label="Customers contacted per week, at most",
                value=s.weekly_contact_budget,
                precision=0,
                elem_id="settings-budget",
            )
            control = gr.Slider(
                0,
                50,
                value=_pct(s.control_share),
                step=1,
                label="Control group, not contacted, to measure the result (%)",
                elem_id="settings-control",
            )
            margin = gr.Slider(
                0,
                100,
                value=_pct(s.margin),
                step=1,
                label="Gross margin (%)",
                elem_id="settings-margin",
            )
            currency = gr.Textbox(
                label="Currency when the files do not say (e.g. GBP)",
                value=s.currency or "",
                elem_id="settings-currency",
            )
        with gr.Row():
            by = gr.Textbox(
                label="Your name (recorded in the audit log)",
                value="merchant",
                elem_id="settings-by",
            )
            save = gr.Button("Save settings", elem_id="settings-save")
        out = gr.Markdown(elem_id="settings-msg")

        gr.Markdown(
            "### Consent\nCustomers whose data does not say whether they accept email or SMS are "
            "not contacted. If you hold their consent elsewhere (a double opt-in list, your "
            "shop's own records), confirm it here once per channel: it is recorded in the audit "
            "log with your name and the time. A customer whose data says no stays refused."
        )
        with gr.Row():
            channel = gr.Dropdown(
                ["email", "sms"], value="email", label="Channel", elem_id="consent-channel"
            )
            who = gr.Textbox(label="Your name (recorded in the audit log)", elem_id="consent-by")
            ticked = gr.Checkbox(
                label="I confirm that I hold these customers' consent for this channel",
                elem_id="consent-tick",
            )
        with gr.Row():
            record = gr.Button("Record confirmation", elem_id="consent-confirm")
            withdraw = gr.Button("Withdraw confirmation", elem_id="consent-withdraw")
        consent_msg = gr.Markdown(consent_status(ctx), elem_id="consent-msg")
        record.click(
            lambda ch, by_, ok: (confirm_consent(ctx, ch, by_, ok), False),
            [channel, who, ticked],
            [consent_msg, ticked],
            concurrency_limit=1,
            **PRIVATE,
        )
        withdraw.click(
            lambda ch, by_: confirm_consent(ctx, ch, by_, True, action="withdraw"),
            [channel, who],
            [consent_msg],
            concurrency_limit=1,
            **PRIVATE,
        )

        def save_(
            base_, model_, key_, cap_, budget_, control_, margin_, *rest
        ):  # the sliders say %
            return save_settings(
                ctx,
                base_,
                model_,
                key_,
                _share(cap_),
                budget_,
                _share(control_),
                _share(margin_),
                *rest,
            )

        save.click(
            save_,
            [
                base,
                model,
                key,
                cap,
                budget,
                control,
                margin,
                currency,
                by,
                store_name,
                sender,
                sign_off,
            ],
            [out, key],
            concurrency_limit=1,
            **PRIVATE,
        )
    return consent_msg, [
        base,
        model,
        cap,
        budget,
        control,
        margin,
        currency,
        store_name,
        sender,
        sign_off,
    ]


def _pct(share) -> float:
    """A share (0.15) as the percentage a slider shows (15)."""
    return round(float(share or 0) * 100, 2)


def _share(pct) -> float:
    """A slider's percentage (15) as the share the settings keep (0.15)."""
    return round(float(pct or 0) / 100, 4)


def page_settings(ctx: AppContext) -> tuple:
    """`settings_values` as the Settings tab shows them (the shares as percentages)."""
    base, model, cap, budget, control, margin, *rest = settings_values(ctx)
    return (base, model, _pct(cap), budget, _pct(control), _pct(margin), *rest)
