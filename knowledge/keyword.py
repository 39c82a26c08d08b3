"""Keyword scores (BM25, rank-bm25) so exact terms such as "LTV:CAC" or "thank-you page" hit."""

from __future__ import annotations

import re

from rank_bm25 import BM25Okapi

_STOPWORDS = (
    "a an and are as at be but by can do does for from has have how i if in into is it its "
    "me my of on or our so that the their them then there these they this to was we what "
    "when which who why will with you your"
)
STOPWORDS = frozenset(_STOPWORDS.split())
_TOKEN = re.compile(r"[a-z0-9]+(?:[:'\-/][a-z0-9]+)*")


def _stem(word: str) -> str:
    """A deliberately light stemmer: plurals and the commonest verb endings."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: -len(suffix)] + keep
    return word


def tokenize(text: str) -> list[str]:
    """Lower-case tokens; a compound such as "ltv:cac" or "thank-you" is kept whole and also
    split into its parts, so both the exact term and its words match."""
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower().replace("’", "'")):
        parts = re.split(r"[:'\-/]", tok)
        if len(parts) > 1:
            out.append(tok)
        for part in parts:
            if part and part not in STOPWORDS:
                out.append(_stem(part))
    return out


class KeywordIndex:
    """BM25 over a fixed list of documents; scores come back in document order."""

    def __init__(self, documents: list[str]) -> None:
        self._tokens = [tokenize(d) for d in documents]
        self._bm25 = BM25Okapi(self._tokens) if documents else None

    def scores(self, query: str) -> list[float]:
        if self._bm25 is None:
            return []
        q = tokenize(query)
        if not q:
            return [0.0] * len(self._tokens)
        return [float(s) for s in self._bm25.get_scores(q)]
