"""What exporting approved drafts writes: the export CSV's rows and the files next to it.

`exportable` keeps the drafts whose customer has an email and still may be contacted on the
channel; `export_table` renders each approved draft locally with the customer's row
(EXPORT_COLUMNS: Klaviyo and Shopify Email import email and first_name, the rest as custom
properties); `klaviyo_table` and `shopify_tags_table` give the same drafts as Klaviyo's
profile import and Shopify's customer-tag import; `write_export` writes the three files
(`format_paths`), each inert in a spreadsheet and atomic (tools.csvout). The approval queue's
exports (agent.approvals.exporting) call these; nothing is sent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from agent.outreach.render import clean_fact, render

EXPORT_COLUMNS = [
    "email",
    "first_name",
    "subject",
    "body",
    "offer_code",
    "campaign_id",
    "channel",
    "phone",
    "customer_id",
    "draft_id",
]
"""The export CSV: Klaviyo and Shopify Email import email and first_name, the rest as custom
properties; subject and body are rendered (no placeholders left), their paragraphs kept
(blank lines), never hard-wrapped; the offer code is the one in the final (edited) text; the
phone is filled wherever the customer has one."""

KLAVIYO_COLUMNS = [
    "Email",
    "First Name",
    "Last Name",
    "Phone Number",
    "Retention Subject",
    "Retention Message",
    "Offer Code",
    "Retention Campaign",
    "Retention Channel",
]
"""Klaviyo's profile import (Lists & segments > Import contacts): Email, First Name, Last Name and
Phone Number are its own profile fields (the phone in E.164, +441234567890, as the store has it);
every other column becomes a custom profile property of that name, which a template uses as
{{ person|lookup:'Retention Message' }}."""

SHOPIFY_TAG_COLUMNS = ["First Name", "Last Name", "Email", "Phone", "Tags"]
"""Shopify's customer CSV import (Customers > Import, "Overwrite existing customers"): headers are
case sensitive and the Email column is required; Tags replaces a customer's tags, so the
column carries the tags the store's customers file gives them plus this campaign's tag
(`shopify_tag`). Columns left out of the file are not touched."""

_GENERATED_CODE = re.compile(r"\b(?:SAVE\d{1,2}|SHIPFREE)-[0-9A-F]{6}\b")
_CODE_AFTER_WORD = re.compile(r"\b(?i:code)\s*:?\s+([A-Z0-9][A-Z0-9_-]{3,31})\b")


def final_offer_code(subject: str, body: str, generated: str = "") -> str:
    """The offer code the customer will read: the one in the final (possibly edited) text.
    The generated code when the text still carries it; else an upper-case code the text
    gives after the word "code" ("use the code WELCOME10"), else a generated-looking one;
    "" when the merchant took the offer out."""
    text = f"{subject}\n{body}"
    if generated and re.search(rf"\b{re.escape(generated)}\b", text):
        return generated
    m = _CODE_AFTER_WORD.search(text)
    if m:
        return m.group(1)
    m = _GENERATED_CODE.search(text)
    return m.group(0) if m else ""


def shopify_tag(campaign_id: str) -> str:
    """The customer tag of a campaign in Shopify: "retention-<campaign id>", letters, digits
    and dashes only (a tag is at most 255 characters, commas separate tags)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(campaign_id or "")).strip("-").lower()[:60]
    return f"retention-{slug}" if slug else "retention"


def customer_rows(customers: pd.DataFrame | None) -> dict[str, dict]:
    if customers is None or not len(customers):
        return {}
    c = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates(
        "customer_id"
    )
    return {r["customer_id"]: r for r in c.to_dict("records")}


def exportable(
    drafts: list, customers: pd.DataFrame | None, *, confirmed=None
) -> tuple[list, list[str]]:
    """The drafts whose customer has an email and still may be contacted on the channel (their
    data says yes, or says nothing and the merchant confirmed the channel: agent.outreach.consent),
    and why the others are held back. A customer whose data now says no is held back."""
    from agent.outreach.consent import allows, state
    from agent.outreach.guardrails import CONSENT

    rows = customer_rows(customers)
    ok, why = [], []
    for d in drafts:
        c = rows.get(str(d.customer_id))
        if c is None or not str(c.get("email") or "").strip():
            why.append(f"draft {d.id}: no email for customer {d.customer_id}")
            continue
        value = c.get(CONSENT.get(d.channel, ""))
        allowed, _, reason = allows(value, d.channel, confirmed)
        if allowed:
            ok.append(d)
        elif state(value) is False:
            why.append(f"draft {d.id}: customer {d.customer_id} no longer consents to {d.channel}")
        else:
            why.append(f"draft {d.id}: customer {d.customer_id}: {reason}")
    return ok, why


def export_table(drafts: list, customers: pd.DataFrame | None) -> pd.DataFrame:
    """One CSV row per draft (objects with id, customer_id, channel, subject, body,
    offer_code, campaign_id), rendered locally with the customer's row."""
    rows = customer_rows(customers)
    out = []
    for d in drafts:
        c = rows.get(str(d.customer_id), {})
        subject, body = render({"subject": d.subject, "body": d.body}, c)
        body = body.replace("\r\n", "\n").strip()
        out.append(
            {
                "email": _text(c.get("email")),
                "first_name": clean_fact(c.get("first_name"), 40),
                "subject": subject,
                "body": body,
                "offer_code": final_offer_code(subject, body, getattr(d, "offer_code", "") or ""),
                "campaign_id": d.campaign_id,
                "channel": d.channel,
                "phone": _text(c.get("phone")),
                "customer_id": d.customer_id,
                "draft_id": d.id,
            }
        )
    return pd.DataFrame(out, columns=EXPORT_COLUMNS)


def _text(value) -> str:
    """A cell of the customers file as text ("" for nothing)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def klaviyo_table(export: pd.DataFrame, customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The export (`export_table`) as Klaviyo's profile CSV (KLAVIYO_COLUMNS)."""
    rows = customer_rows(customers)
    last = [clean_fact(rows.get(str(c), {}).get("last_name"), 40) for c in export["customer_id"]]
    return pd.DataFrame(
        {
            "Email": export["email"],
            "First Name": export["first_name"],
            "Last Name": last,
            "Phone Number": export["phone"],
            "Retention Subject": export["subject"],
            "Retention Message": export["body"],
            "Offer Code": export["offer_code"],
            "Retention Campaign": export["campaign_id"],
            "Retention Channel": export["channel"],
        },
        columns=KLAVIYO_COLUMNS,
    )


def shopify_tags_table(export: pd.DataFrame, customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The export (`export_table`) as Shopify's customer CSV that tags each customer with the
    campaign (SHOPIFY_TAG_COLUMNS): one row per customer, the tags they have in the store's
    customers file kept, the campaign's tag added."""
    rows = customer_rows(customers)
    out: dict[str, dict] = {}
    for r in export.itertuples():
        c = rows.get(str(r.customer_id), {})
        key = str(r.email).lower()
        if key not in out:
            have = [t.strip() for t in _text(c.get("tags")).split(",") if t.strip()]
            out[key] = {
                "First Name": r.first_name,
                "Last Name": clean_fact(c.get("last_name"), 40),
                "Email": r.email,
                "Phone": r.phone,
                "Tags": have,
            }
        tag = shopify_tag(r.campaign_id)
        if tag not in out[key]["Tags"]:
            out[key]["Tags"].append(tag)
    table = [{**v, "Tags": ", ".join(v["Tags"])} for v in out.values()]
    return pd.DataFrame(table, columns=SHOPIFY_TAG_COLUMNS)


EXPORT_FORMATS = {"klaviyo": klaviyo_table, "shopify_tags": shopify_tags_table}
"""The files written with each export CSV, in a folder of their own next to it:
klaviyo/klaviyo_<export>.csv and shopify/shopify_tags_<export>.csv (so the exports folder
itself holds the exports only)."""
FORMAT_FOLDERS = {"klaviyo": "klaviyo", "shopify_tags": "shopify"}


def format_paths(path: Path) -> dict[str, Path]:
    """Where the Klaviyo and Shopify files of the export at `path` are."""
    path = Path(path)
    return {
        name: path.parent / FORMAT_FOLDERS[name] / f"{name}_{path.name}" for name in EXPORT_FORMATS
    }


def write_export(table: pd.DataFrame, path: Path, customers: pd.DataFrame | None = None) -> None:
    """The export CSV at `path`, then its Klaviyo and Shopify files next to it (`format_paths`),
    each through `tools.csvout.write_csv`: inert, atomic."""
    atomic_csv(table, path)
    for name, target in format_paths(path).items():
        frame = EXPORT_FORMATS[name](table, customers)
        if target.exists() and not _same_header(target, list(frame.columns)):
            import logging

            logging.getLogger(__name__).warning(
                "%s exists and is not an export's %s file: left as it is", target, name
            )
            continue  # a file of the merchant's own next to an --out file is never overwritten
        atomic_csv(frame, target)


def _same_header(path: Path, columns: list[str]) -> bool:
    try:
        return list(pd.read_csv(path, nrows=0).columns) == columns
    except (OSError, ValueError):
        return False


def atomic_csv(table: pd.DataFrame, path: Path) -> None:
    """Write an export CSV with `tools.csvout.write_csv`: inert in a spreadsheet (a cell
    starting with =, +, -, @, tab or CR gets a leading apostrophe; numbers stay numbers), and
    through a temporary file and a rename, so never half a file."""
    from tools.csvout import write_csv

    write_csv(table, path)
