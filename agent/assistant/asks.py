"""Where one ask of a message ends and the next begins, when no clear separator says so.

"revenue by segment and AOV", "overview, kpis", "brief and campaign results": an "and", a comma,
a "+", "&" or "then" may join two asks or sit inside one ("at-risk Champions and their reasons").
Each such boundary is scored by a small logistic regression (scikit-learn) over what the router
reads on either side of it: the separator and the word after it, the length of each side, the
intent each side classifies as and how confidently, how much better the two sides fit than the
whole, and whether the right side refers back. It is trained on the dev phrasings only (a
boundary of a phrasing with one expected intent does not split; one of a multi-ask phrasing
splits when its two sides read as two of the expected intents, in order), by
`python -m evals.quality.train_router`, and shipped as JSON in `agent/data/ask_split.json`
(`agent.assistant.router.Router.route` uses it; without it, or with another embedder, the
router keeps its fixed "and the ..." rule).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

MODEL_FILE = "ask_split.json"
BOUNDARY = re.compile(
    r"\s*,\s*(?:and\s+|then\s+|plus\s+)?|\s+(?:and|then|plus|&|\+)\s+|\s+and\s+then\s+", re.I
)
"""A place two asks may meet: a comma, "and", "then", "plus", "&" or "+"."""
THRESHOLD = 0.7
"""The boundary's probability above which the message is split there (chosen on dev 2: the
single asks "overview of my customers and what they're worth" and "who is C000999? segment,
value, all that" score 0.5-0.65, the dev splits' multi-asks 0.73 and above)."""
MIN_SIDE = 0.55
"""The score each side's intent needs before a boundary is weighed at all."""
_DET = re.compile(r"^(?:the|their|his|her|my|our|its|each|every|all)\b", re.I)
_QUESTION = re.compile(
    r"^(?:what|whats|what's|how|who|whos|who's|which|why|when|where|is|are|did|do|does|any)\b", re.I
)
_VERB = re.compile(
    r"^(?:show|list|give|tell|draft|write|pull|suggest|recommend|get|send|make|prep|compare|find)\b",
    re.I,
)
_BACK = re.compile(
    r"\b(?:that|it|this|those|these|they|them|he|she|him|her|his|their|ones?)\b", re.I
)
FEATURES = (
    "comma", "and", "comma_and", "plus", "then", "next_det", "next_question", "next_verb",
    "log_words_left", "log_words_right", "short_side", "distinct", "both_known", "score_left",
    "score_right", "margin_left", "margin_right", "score_whole", "whole_is_a_side", "gain",
    "back_ref_right", "cross_left", "cross_right", "id_left_only",
)  # fmt: skip
KNOWN_OFF = (None, "help")


@dataclass(frozen=True)
class Side:
    """What the router read in one side of a boundary (or the whole message)."""

    intent: str | None
    scores: dict[str, float]
    has_id: bool = False

    @property
    def top(self) -> float:
        return self.scores[self.intent] if self.intent else max(self.scores.values())

    @property
    def margin(self) -> float:
        s = sorted(self.scores.values(), reverse=True)
        return s[0] - s[1] if len(s) > 1 else s[0]


def boundaries(text: str) -> list[tuple[str, str, str]]:
    """(left, separator, right) at each place two asks may meet, both sides non-empty."""
    out = []
    for m in BOUNDARY.finditer(text):
        left, right = text[: m.start()].strip(" ,."), text[m.end() :].strip(" ,.")
        if left and right:
            out.append((left, m.group(0), right))
    return out


def features(sep: str, left: str, right: str, a: Side, b: Side, whole: Side) -> list[float]:
    """The boundary's feature vector, in the order of `FEATURES`."""
    s = sep.strip().lower()
    kind = (
        "comma_and"
        if s.startswith(",") and len(s) > 1
        else "comma"
        if s == ","
        else "plus"
        if s in ("+", "&", "plus")
        else "then"
        if "then" in s
        else "and"
    )
    wl, wr = len(left.split()), len(right.split())
    known = a.intent not in KNOWN_OFF and b.intent not in KNOWN_OFF
    return [
        *(float(kind == k) for k in ("comma", "and", "comma_and", "plus", "then")),
        float(bool(_DET.search(right))),
        float(bool(_QUESTION.search(right))),
        float(bool(_VERB.search(right))),
        math.log1p(wl),
        math.log1p(wr),
        float(min(wl, wr) < 3),
        float(a.intent != b.intent),
        float(known),
        a.top,
        b.top,
        a.margin,
        b.margin,
        whole.top,
        float(whole.intent in (a.intent, b.intent)),
        (a.top + b.top) / 2 - whole.top,
        float(bool(_BACK.search(" ".join(right.split()[:4])))),
        a.scores.get(b.intent, 0.0) if b.intent else 0.0,
        b.scores.get(a.intent, 0.0) if a.intent else 0.0,
        float(a.has_id and not b.has_id),
    ]


def weighed(a: Side, b: Side) -> bool:
    """Whether a boundary may separate two asks at all: both sides read as distinct intents a
    tool answers, each with a score of `MIN_SIDE` or more."""
    return (
        a.intent not in KNOWN_OFF
        and b.intent not in KNOWN_OFF
        and a.intent != b.intent
        and min(a.top, b.top) >= MIN_SIDE
    )


@dataclass(frozen=True)
class SplitModel:
    """A standardised logistic regression over `FEATURES`, as plain numbers."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    embedder: str
    digest: str

    @classmethod
    def load(cls, path=None) -> SplitModel | None:
        """The shipped model, or None when there is none (or it was fitted on other features)."""
        src = Path(path) if path is not None else files("agent") / "data" / MODEL_FILE
        try:
            d = json.loads(src.read_text())
        except FileNotFoundError:
            return None
        if tuple(d["features"]) != FEATURES:
            return None
        return cls(
            tuple(d["mean"]),
            tuple(d["scale"]),
            tuple(d["coef"]),
            float(d["intercept"]),
            d["embedder"],
            d["digest"],
        )

    def save(self, path) -> None:
        d = {"features": list(FEATURES), **self.__dict__}
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        Path(path).write_text(json.dumps(d, indent=1) + "\n")

    def fits(self, embedder) -> bool:
        return getattr(embedder, "name", None) == self.embedder

    def proba(self, x: list[float]) -> float:
        """P(the boundary separates two asks)."""
        z = self.intercept + sum(
            c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def train(X: list[list[float]], y: list[int], *, embedder: str, digest: str) -> SplitModel:
    """Fit the scaler and the logistic regression (scikit-learn, lbfgs, balanced classes)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(np.asarray(X, dtype=float))
    lr = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
    lr.fit(sc.transform(np.asarray(X, dtype=float)), np.asarray(y))
    scale = np.where(sc.scale_ > 0, sc.scale_, 1.0)
    return SplitModel(
        tuple(float(v) for v in sc.mean_),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in lr.coef_[0]),
        float(lr.intercept_[0]),
        embedder,
        digest,
    )
