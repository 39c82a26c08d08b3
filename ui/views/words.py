"""The merchant's words: no command-line flags, environment variables or formulas in the app's
text (`merchant_words` folds them away under "Details"), and codes ("cycle_overdue") in words."""

from __future__ import annotations

import html
import re

_CLI_BITS = re.compile(
    r"--[a-z][a-z-]+|\bretention (?:approvals|chat|brief|score|ui|kb|campaigns|demo-data|"
    r"backtest|eval|consent)\b|\b(?:OPENAI|RETENTION|DATABASE|CHROMA|GRADIO|HF)_[A-Z_]+\b|"
    r"\b\d+(?:\.\d+)? = \d"
)


_MAP_HINT = re.compile(
    r"(Rename the column|Check that this is the \S+ column),? or pass --map \S+?=<[^>]*>", re.I
)


def merchant_words(text: str) -> tuple[str, str]:
    """(text for the merchant, details): sentences that name a command-line flag, a command,
    an environment variable or a formula are taken out of the text and given back as details
    (the app shows them folded away). "Rename the column or pass --map x=<col>" keeps its
    first half."""
    text = _MAP_HINT.sub(
        lambda m: m.group(1) + " in your file and upload it again", str(text or "")
    )
    lines, left = [], []
    for line in text.split("\n"):
        if not _CLI_BITS.search(line):  # a line without any is kept exactly as it is
            lines.append(line)
            continue
        parts = re.split(r"(?<=[.;])\s+", line)
        kept = [p for p in parts if not _CLI_BITS.search(p)]
        left += [p for p in parts if _CLI_BITS.search(p)]
        out = " ".join(kept).rstrip()
        if out.endswith(";"):
            out = out[:-1] + "."
        if out.strip():
            lines.append(out)
    out = "\n".join(lines)
    if not out.strip():
        return text, ""
    return out, " ".join(left)


def with_details(text: str, details: str = "") -> str:
    """Markdown: `text`, and `details` in a fold a person opens when they want them."""
    if not details:
        return text
    return f"{text}\n\n<details><summary>Details</summary>\n\n{html.escape(details)}\n\n</details>"


def merchant_text(text: str) -> str:
    """`merchant_words` as Markdown: the text, its technical part folded away."""
    return with_details(*merchant_words(text))


def reason_parts(reason: str) -> tuple[str, str]:
    """A plan's reason for a draft ("57% likely to lapse (...); ...; expected value 4.72 = 0.57 x
    55 x ...") as (words, the calculation) for the detail view."""
    text = str(reason or "")
    m = re.search(r";?\s*expected value ([^;=]+?)\s*=\s*([^;]+)", text)
    if not m:
        return text, ""
    words = (text[: m.start()] + f"; expected value {m.group(1).strip()}" + text[m.end() :]).strip(
        "; "
    )
    return words, f"expected value {m.group(1).strip()} = {m.group(2).strip()}"


def codes_in_words(text: str) -> str:
    """Codes in a text ("personal_email", "cycle_overdue") in the merchant's words."""
    from agent.display import CHANNEL_LABEL, REASON_LABEL

    for vocab in (CHANNEL_LABEL, REASON_LABEL):
        for code, words in vocab.items():
            if "_" in code:
                text = re.sub(rf"\b{re.escape(code)}\b", words, text)
    return text
