"""The Settings tab's handlers: the settings as saved (checked whatever the page sent, kept in
the workspace, every change in the audit log) and the consent confirmations per channel."""

from __future__ import annotations

import json
import math
from typing import Any

from agent.approvals.errors import ApprovalError
from agent.settings import save_store_settings
from ui.handlers.context import AppContext, error_message


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
        f"Recorded in the audit log (entry {row.id}): {(row.after or {}).get('statement')}. "
        + consent_status(ctx)
    )


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
        values: dict[str, Any] = {
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
