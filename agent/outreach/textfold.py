"""Text as a check sees it, whatever it looks like (guardrails and redaction).

Store text and model text can dress a word or a number up so that a pattern misses it: capitals,
accents ("José" / "jose"), zero-width characters ("pass\\u200bword"), full-width or other
scripts' digits ("９０%", "٩٠٪"), letters of another script that look Latin (a Cyrillic "а" in
"аssistant"), letters for digits ("9O% off") and digits for letters ("passw0rd"). The views here
undo that, one character at a time, and keep where each character came from so that a match
can be replaced in the original text:

    folded = fold("José NÚÑEZ")      # folded.text == "jose nunez"
    folded.span(0, 4)                # (0, 4): the original characters of folded.text[0:4]
    numeric(folded.text)             # "9o%" -> "90%", "٩٠٪" -> "90%" (same length as its input)
    lettered(folded.text)            # "passw0rd" -> "password", "p@ss" -> "pass" (same length)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# letters of other scripts (after casefold) that look like Latin ones, and Latin letters that
# no decomposition reaches
CONFUSABLE = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "һ": "h",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ӏ": "l",
    "ү": "y",
    "ɡ": "g",
    # Greek
    "α": "a",
    "β": "b",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "γ": "y",
    "ω": "w",
    "ς": "s",
    "σ": "o",
    # Latin letters without a decomposition
    "ı": "i",
    "ł": "l",
    "ø": "o",
    "đ": "d",
    "ħ": "h",
    "ŧ": "t",
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "þ": "th",
    "ð": "d",
    "ŀ": "l",
    # punctuation that stands for a dot, an at sign or a percent sign
    "。": ".",
    "｡": ".",
    "․": ".",
    "٫": ".",
    "٪": "%",
    "⁒": "%",
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "−": "-",
    "’": "'",
    "‘": "'",
    "ʼ": "'",
}


@dataclass(frozen=True)
class Folded:
    """A text folded for matching, and for each of its characters the original's index."""

    text: str
    index: tuple[int, ...]
    original: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span behind folded.text[start:end] (end > start)."""
        return self.index[start], self.index[end - 1] + 1

    def source(self, start: int, end: int) -> str:
        a, b = self.span(start, end)
        return self.original[a:b]


def fold(text: str) -> Folded:
    """Lower case, no accents (NFKD without combining marks), no invisible format characters
    (zero-width spaces and joiners, soft hyphens, direction marks), compatibility forms
    (full-width letters and digits, ligatures) spelled plainly, look-alike letters of other
    scripts as the Latin letter they imitate."""
    text = str(text or "")
    if text.isascii():
        return Folded(text.lower(), tuple(range(len(text))), text)
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cf":
            continue
        for d in unicodedata.normalize("NFKD", ch):
            if unicodedata.combining(d):
                continue
            for c in d.casefold():
                for m in CONFUSABLE.get(c, c):
                    out.append(m)
                    index.append(i)
    return Folded("".join(out), tuple(index), text)


_DIGITISH = re.compile(r"(?<![a-z])[0-9oli|]*[0-9][0-9oli|]*(?![a-z])")
_DIGIT_FOR = str.maketrans({"o": "0", "l": "1", "i": "1", "|": "1"})


def numeric(folded: str) -> str:
    """A folded text with every decimal digit of any script as its ASCII digit, and the letters
    that imitate digits inside a number ("9o", "l0", "1oo") as the digits; same length."""
    if not folded.isascii():
        folded = "".join(
            str(unicodedata.digit(c)) if unicodedata.category(c) == "Nd" else c for c in folded
        )
    return _DIGITISH.sub(lambda m: m.group(0).translate(_DIGIT_FOR), folded)


_LEET_TOKEN = re.compile(r"[a-z0-9@$]*[a-z][a-z0-9@$]*")
_LETTER_FOR = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)


def lettered(folded: str) -> str:
    """A folded text with the digits and signs that stand for letters inside a word as the
    letters ("passw0rd", "p@ssword", "pa55word"); words without a letter stay; same length."""
    return _LEET_TOKEN.sub(lambda m: m.group(0).translate(_LETTER_FOR), folded)


def mixed_script_words(text: str) -> list[str]:
    """Words that mix Latin letters with Cyrillic or Greek ones: a look-alike spelling (a word
    wholly in one script is ordinary text in that language)."""
    out = []
    for w in re.findall(r"[^\W\d_]+", str(text or "")):
        if w.isascii():
            continue
        scripts = {unicodedata.name(c, "?").split(" ")[0] for c in w}
        if "LATIN" in scripts and scripts & {"CYRILLIC", "GREEK"}:
            out.append(w)
    return out
