"""Is an answer grounded in its tool results? Numbers and personal data, checked as text.

`stray_numbers(text, results)` lists the numbers in an answer that no tool result of the same
turn holds, in any of the ways a number is usually written (4.93, 4.9, 197, 1,234, 67%, 0.67,
+3), or the length of a list a tool returned ("top 10"). Numbers inside a tool result's strings
count too (a playbook passage, the brief's
Markdown), and so do numbers the merchant wrote in the request ("top 3", "$40"). Dates,
customer and order ids, list numbering and the constants of the definitions the tools state
(`DEFINITIONS`) are not numbers to check. `agent.reports.narrator.stray_numbers` is the brief's stricter
cousin over its own named facts.

`check_answer(text, trace, request=...)` grounds an LLM answer when it is produced (agent.assistant.llm):
sentences with stray numbers, or claiming an action (drafted, queued, approved, exported, sent)
that no tool of the turn did, are removed, and the report says which.

`personal_leaks(text, personal)` lists the personal strings (emails, phones, names) found in a
text, whole words only.
"""

from __future__ import annotations

import contextlib
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
                with contextlib.suppress(ValueError):
                    out.update(number_forms(float(_norm(tok))))

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


def stray_numbers(
    text: str, results: Iterable, *, request: str = "", allowed: Iterable[str] = DEFINITIONS
) -> list[str]:
    """Numbers in `text` that neither the tool results nor the request hold."""
    known = tool_numbers(list(results) + [request]) | {_norm(a) for a in allowed}
    return [t for t in numbers_in(text) if _norm(t) not in known]


def personal_leaks(text: str, personal: Iterable[str]) -> list[str]:
    """The personal strings (emails, phones, names) that occur in `text` as whole words."""
    blob = text if isinstance(text, str) else json.dumps(text, default=str)
    return [p for p in personal if p and re.search(rf"(?<![\w@.]){re.escape(p)}(?![\w@])", blob)]


# --- an LLM answer, checked when it is produced ------------------------------------------------

ACTIONS = {  # what an answer may claim was done -> the words that claim it
    "drafted": r"drafted|(?:created|wrote) (?:a |the |\d+ )?(?:new )?(?:drafts?|messages?|emails?)",
    "queued": r"queued|added to the (?:approval )?queue",
    "approved": r"approved",
    "exported": r"exported",
    "sent": r"sent|emailed|texted|messaged|delivered|scheduled|launched",
}
CLAIM = {k: re.compile(rf"\b(?:{v})\b", re.I) for k, v in ACTIONS.items()}
NEGATION = re.compile(
    r"\b(?:not|no|nothing|never|none|n't|cannot|can't|won't|until|once|before|"
    r"only a person|needs? (?:a person|your)|waiting|pending|awaiting|if you|"
    r"you can|to be)\b|n't\b",
    re.I,
)
DISCOUNT = re.compile(
    r"(\d+(?:\.\d+)?)\s*%\s*(?:off|discount)|discount of (\d+(?:\.\d+)?)\s*%", re.I
)


def sentences(text: str) -> list[str]:
    """The sentences (and lines) of a text, each with its trailing whitespace, in order; joined
    they give the text back."""
    out, pos = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+|\n+", text):
        out.append(text[pos : m.end()])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def actions_done(trace) -> set[str]:
    """The actions the tools of a turn did (drafted, queued, approved, exported, sent)."""
    done: set[str] = set()
    for step in trace:
        r = step.result if isinstance(step.result, dict) else {}
        if not step.ok:
            continue
        if step.tool == "draft_message" and r.get("drafted"):
            done.add("drafted")
        if step.tool == "queue_drafts" and r.get("queued"):
            done |= {"drafted", "queued"}
        for act in ("approve", "export", "send"):
            if act in step.tool:
                done.add({"approve": "approved", "export": "exported", "send": "sent"}[act])
    return done


def claimed_actions(sentence: str) -> set[str]:
    """The actions a sentence says were done (not those it says were not, or are to come)."""
    if NEGATION.search(sentence):
        return set()
    return {k for k, pat in CLAIM.items() if pat.search(sentence)}


def check_answer(text: str, trace, *, request: str = "") -> tuple[str, dict]:
    """An LLM answer, grounded: each sentence with a number no tool result of the turn (or the
    request) holds, a discount no tool offered, or a claim of an action (drafted, queued,
    approved, exported, sent) no tool did, is removed. Returns the text the merchant sees and
    what was checked: {"unverified_numbers", "unsupported_claims", "removed"}."""
    results = [s.result for s in trace]
    done = actions_done(trace)
    offered = tool_numbers(results + [request])
    report: dict = {"unverified_numbers": [], "unsupported_claims": [], "removed": []}
    kept = []
    for sent in sentences(text):
        stray = stray_numbers(sent, results, request=request)
        stray += [
            d
            for m in DISCOUNT.finditer(sent)
            for d in m.groups()
            if d and _norm(d) not in offered and d not in stray
        ]
        claims = sorted(claimed_actions(sent) - done)
        if stray or claims:
            report["unverified_numbers"] += stray
            report["unsupported_claims"] += claims
            report["removed"].append(sent.strip())
        else:
            kept.append(sent)
    if not report["removed"]:
        return text, report
    body = "".join(kept).strip()
    what = []
    if report["unverified_numbers"]:
        what.append("numbers that no tool result of this turn holds")
    if report["unsupported_claims"]:
        what.append(
            "claims that something was "
            + " or ".join(sorted(set(report["unsupported_claims"])))
            + ", which no tool did"
        )
    many = "statements" if len(report["removed"]) > 1 else "a statement"
    note = f"(Unverified: I left out {many} with {' and '.join(what)}; the tool trace lists them.)"
    if not body:
        body = (
            "I could not check the model's answer against this turn's tool results, so I "
            "left it out. Ask again, or ask for one figure or one customer."
        )
    return f"{body}\n\n{note}", report


def safe_prefix(
    partial: str, results: Iterable, *, request: str = "", known: set[str] | None = None
) -> str:
    """The part of a sentence still being written that may be shown: up to its first number no
    tool result holds, or its first word that claims an action. `known`: the results' numbers
    (`tool_numbers`), when already computed."""
    if known is None:
        known = tool_numbers(list(results) + [request])
    known = known | {_norm(a) for a in DEFINITIONS}
    skip = [m.span() for pat in (DATE, IDS) for m in pat.finditer(partial)]
    cut = len(partial)
    for m in NUMBER.finditer(partial):
        if not any(a <= m.start() < b for a, b in skip) and _norm(m.group()) not in known:
            cut = min(cut, m.start())
            break
    for pat in CLAIM.values():
        if (claim := pat.search(partial)) is not None:
            cut = min(cut, claim.start())
    return partial[:cut]
