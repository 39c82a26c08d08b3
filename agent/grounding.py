"""Is an answer grounded in its tool results? Numbers and personal data, checked as text.

`stray_numbers(text, results)` lists the numbers in an answer that no tool result of the same
turn holds, in any of the ways a number is usually written (4.93, 4.9, 197, 1,234, 67%, 0.67,
+3), or the length of a list a tool returned ("top 10"). Numbers inside a tool result's strings count too (a playbook passage, the brief's
Markdown), and so do numbers the merchant wrote in the request ("top 3", "$40"). Dates,
customer and order ids, list numbering and the constants of the definitions the tools state
(`DEFINITIONS`) are not numbers to check. `agent.brief.stray_numbers` is the brief's stricter
cousin over its own named facts.

`personal_leaks(text, personal)` lists the personal strings (emails, phones, names) found in a
text, whole words only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

DEFINITIONS = frozenset({"0", "3", "12", "50", "90", "91", "275", "365"})
"""Constants of the definitions the tools and answers state: the 90% interval, the 50% at-risk
threshold, the 3x LTV:CAC rule, the 12-month horizon, the 90-day active window and the 91-365
(275-day) engagement window."""
NUMBER = re.compile(r"(?<![\w.])[+\-−]?\d+(?:,\d{3})*(?:\.\d+)?(?![\w])(?:%| pts)?")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b")
IDS = re.compile(r"\b[A-Za-z]{1,4}[-_]?\d{3,}\b")
LIST_ITEM = re.compile(r"(?m)^\s*\d{1,2}[.)]\s")


def _norm(token: str) -> str:
    return token.replace("−", "-").lstrip("+-").replace(",", "").removesuffix(" pts").rstrip("%")


def number_forms(x: float) -> set[str]:
    """The ways a number is commonly written, normalised (no sign, commas or %)."""
    x = float(x)
    out = {repr(x), f"{x:g}", f"{x:.0f}", f"{x:.1f}", f"{x:.2f}", f"{x:.3f}"}
    if x == int(x):
        out.add(str(int(x)))
    if abs(x) <= 1:
        out |= {f"{x * 100:.0f}", f"{x * 100:.1f}", f"{x * 100:.2f}", f"{x * 100:g}"}
    out |= {s.rstrip("0").rstrip(".") for s in list(out) if "." in s}
    return {_norm(s) for s in out}


def tool_numbers(results: Iterable) -> set[str]:
    """Every normalised way the numbers in these tool results (and in their strings) may be written."""
    out: set[str] = set()

    def walk(obj) -> None:
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (list, tuple)):
            out.add(str(len(obj)))  # "top 10": how many rows the tool returned
            for v in obj:
                walk(v)
        elif isinstance(obj, bool) or obj is None:
            return
        elif isinstance(obj, (int, float)):
            out.update(number_forms(obj))
        elif isinstance(obj, str):
            for tok in NUMBER.findall(_strip(obj)):
                out.add(_norm(tok))
                try:
                    out.update(number_forms(float(_norm(tok))))
                except ValueError:
                    pass

    for r in results:
        walk(r)
    return out


def _strip(text: str) -> str:
    text = DATE.sub(" ", text)
    text = IDS.sub(" ", text)
    return LIST_ITEM.sub(" ", text)


def numbers_in(text: str) -> list[str]:
    """The numbers of a text as written, without dates, ids and list numbering."""
    return NUMBER.findall(_strip(text))


def stray_numbers(text: str, results: Iterable, *, request: str = "",
                  allowed: Iterable[str] = DEFINITIONS) -> list[str]:
    """Numbers in `text` that neither the tool results nor the request hold."""
    known = tool_numbers(list(results) + [request]) | {_norm(a) for a in allowed}
    return [t for t in numbers_in(text) if _norm(t) not in known]


def personal_leaks(text: str, personal: Iterable[str]) -> list[str]:
    """The personal strings (emails, phones, names) that occur in `text` as whole words."""
    blob = text if isinstance(text, str) else json.dumps(text, default=str)
    return [p for p in personal if p and re.search(rf"(?<![\w@.]){re.escape(p)}(?![\w@])", blob)]
