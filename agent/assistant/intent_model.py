"""The learned half of the offline planner's intent routing.

A multinomial logistic regression over two views of a request: its sentence embedding (the
local MiniLM, the vector the planner already computes) and its character 2-5-grams (TF-IDF,
which carry typos and shorthand the embedding misses). It is trained on the labelled merchant
phrasings the planner is tuned on (the dev splits, never a held-out one) and the planner's own
intent examples, by `python -m evals.quality.train_router`, and shipped as plain arrays in
`agent/data/intent_model.npz` (no pickle: nothing in it runs). The planner adds
`WEIGHT` x the model's probability of each intent to that intent's score, so its rules still
decide what they must (a question never writes, a customer intent needs a customer, a request
outside the tools gets none) and the model decides among the phrasings no rule foresaw.

The model knows the embedder it was trained with; with another one (OpenAI embeddings, a test's
hashing embedder) it is not used and the planner routes by its rules and examples alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

MODEL_FILE = "intent_model.npz"
WEIGHT = 1.0
"""How much the model's probability adds to an intent's score (the examples' cosine is on the
same 0-1 scale); chosen on dev 3 before held-out 4 was scored."""
NGRAMS = (2, 5)
REGULARISATION = 16.0
"""The logistic regression's C (inverse L2 strength); chosen on dev 3 with WEIGHT."""
NONE = "none"
"""The label of a request no tool answers (an empty intent in the phrasing files)."""


def training_digest(pairs: list[tuple[str, str]]) -> str:
    """sha256 of the (text, label) pairs a model is trained on, in a canonical order: the
    shipped model records it, so a changed phrasing file or example list shows it is stale."""
    blob = json.dumps(sorted(pairs), ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def char_vectoriser(vocabulary=None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=NGRAMS,
        sublinear_tf=True,
        min_df=1 if vocabulary is not None else 2,
        vocabulary=vocabulary,
    )


def features(vectoriser, texts: list[str], embeddings: np.ndarray):
    """The model's input: TF-IDF of the (normalised) texts beside their unit embeddings."""
    from scipy import sparse

    emb = np.asarray(embeddings, dtype=float)
    emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
    return sparse.hstack([vectoriser.transform(texts), sparse.csr_matrix(emb)]).tocsr()


@dataclass(frozen=True)
class IntentModel:
    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    vectoriser: TfidfVectorizer
    embedder: str
    digest: str

    @classmethod
    def load(cls, path=None) -> IntentModel | None:
        """The shipped model, or None when there is none (a checkout before it was trained)."""
        src = Path(path) if path is not None else files("agent") / "data" / MODEL_FILE
        try:
            with src.open("rb") as fh:
                z = np.load(fh, allow_pickle=False)
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError:
            return None
        vec = char_vectoriser(vocabulary=[str(t) for t in arrays["vocabulary"]])
        vec.idf_ = arrays["idf"]
        return cls(
            classes=tuple(str(c) for c in arrays["classes"]),
            coef=arrays["coef"].astype(float),
            intercept=arrays["intercept"],
            vectoriser=vec,
            embedder=str(arrays["embedder"]),
            digest=str(arrays["digest"]),
        )

    def save(self, path) -> None:
        """The arrays, float32 weights (cast back to float64 once, on load)."""
        vocab = sorted(self.vectoriser.vocabulary_, key=self.vectoriser.vocabulary_.get)
        np.savez_compressed(
            path,
            classes=np.array(self.classes),
            coef=self.coef.astype(np.float32),
            intercept=self.intercept,
            vocabulary=np.array(vocab),
            idf=self.vectoriser.idf_,
            embedder=np.array(self.embedder),
            digest=np.array(self.digest),
        )

    def fits(self, embedder) -> bool:
        return getattr(embedder, "name", None) == self.embedder

    def proba(self, text: str, embedding) -> dict[str, float]:
        """P(intent) for one normalised request and its embedding."""
        x = features(self.vectoriser, [text.lower()], np.asarray(embedding, dtype=float)[None, :])
        z = np.asarray(x @ self.coef.T).ravel() + self.intercept
        p = np.exp(z - z.max())
        return dict(zip(self.classes, (p / p.sum()).tolist()))


def train(
    texts: list[str],
    labels: list[str],
    embeddings: np.ndarray,
    *,
    embedder: str,
    digest: str,
    seed: int = 0,
) -> IntentModel:
    """Fit the vectoriser and the logistic regression (scikit-learn, lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    vec = char_vectoriser().fit([t.lower() for t in texts])
    X = features(vec, [t.lower() for t in texts], embeddings)
    lr = LogisticRegression(C=REGULARISATION, max_iter=5000, random_state=seed).fit(X, labels)
    return IntentModel(
        classes=tuple(str(c) for c in lr.classes_),
        coef=lr.coef_,
        intercept=lr.intercept_,
        vectoriser=vec,
        embedder=embedder,
        digest=digest,
    )
