"""The draft as the customer reads it: personal fields filled in locally.

A draft keeps its personal fields as placeholders ({first_name}, {last_name}); `render` fills
them from the customer's row at review or export time, so a language model never sees a name.
A name that is not a name (a web address, a request, digits: text from the customers file like
any other) renders as "there" (`name_or_blank`); `clean_fact` is a fact from store data as plain
text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent.outreach.scan import store_text_problems

PERSONAL_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def clean_fact(value: Any, limit: int = 80) -> str:
    """A fact from store data as plain text: no braces, angle brackets or line breaks."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = re.sub(r"[{}<>\r\n\t]+", " ", str(value)).strip()
    return text[:limit].strip()


def name_or_blank(value: Any) -> str:
    """A customer's first or last name for a message, or "" when it is not a name (a web
    address, a request, digits: text from the customers file like any other)."""
    name = clean_fact(value, 40)
    if not name or not re.fullmatch(r"[^\W\d_]+(?:[ .'’-]{1,2}[^\W\d_]+)*\.?", name):
        return ""
    return "" if store_text_problems(name) else name


def render(draft: Any, customer_row: Mapping | None) -> tuple[str, str]:
    """(subject, body) with the personal placeholders filled from the customer's row; done
    locally, at review or export time. A missing first name becomes "there" ("Hi there,")."""
    get = draft.get if isinstance(draft, Mapping) else (lambda k, d=None: getattr(draft, k, d))
    subject, body = get("subject", "") or "", get("body", "") or ""
    row = customer_row or {}
    name = name_or_blank(row.get("first_name")) if row else ""
    if not name:
        subject = re.sub(r"^\{first_name\},\s*", "", subject)
        subject = re.sub(r",\s*\{first_name\}", "", subject)
        subject = subject[:1].upper() + subject[1:]
    values = {
        "first_name": name or "there",
        "last_name": name_or_blank(row.get("last_name")) if row else "",
    }

    def sub(m: re.Match) -> str:
        key = m.group(1)
        return values[key] if key in values and values[key] else m.group(0)

    return PERSONAL_PLACEHOLDER.sub(sub, subject), PERSONAL_PLACEHOLDER.sub(sub, body)
