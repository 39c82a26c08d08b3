"""Train the offline planner's intent model (`agent.assistant.intent_model`) and write it to
`agent/data/intent_model.npz`, then the ask-split model (`agent.assistant.asks`) to
`agent/data/ask_split.json`.

    python -m evals.quality.train_router            # retrain after a change to the dev phrasings or examples
    python -m evals.quality.train_router --check    # exit 1 when the shipped model is stale

It learns from the planner's intent examples and the single-ask phrasings of TRAIN_SPLITS: the
dev splits only. The held-out splits (`evals.quality.agent.PHRASING_SPLITS`) are never read here,
so they stay a measure. Requests are normalised as the planner normalises them (each customer it
names written as C000123, shorthand written out), on the 1,500-customer demo store the phrasings'
ids refer to, and embedded with the local MiniLM.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from tools.demo.store import generate_store

TRAIN_SPLITS = ("dev", "dev 2", "dev 3", "dev 4", "dev 5", "dev 6", "dev 7", "dev 8", "dev 9")
"""The phrasing splits the intent model learns from (besides the planner's examples)."""
OUT = Path(__file__).resolve().parents[2] / "agent" / "data"


def training_pairs() -> list[tuple[str, str]]:
    """(text, intent) for every intent example and every single-ask dev phrasing; a request no
    tool answers is labelled `agent.assistant.intent_model.NONE`."""
    from agent.assistant.intent_model import NONE
    from agent.assistant.prompts import INTENT_EXAMPLES
    from evals.quality.agent import load_phrasings

    pairs = [(t, intent) for intent, xs in INTENT_EXAMPLES.items() for t in xs]
    for split in TRAIN_SPLITS:
        pairs += [
            (c["text"], c["intent"] or NONE)
            for c in load_phrasings(split)
            if not isinstance(c["intent"], list)
        ]
    return pairs


def split_digest() -> str:
    """What the ask-split model learns from: every dev phrasing with its expected intents."""
    from agent.assistant.intent_model import training_digest
    from evals.quality.agent import load_phrasings

    return training_digest(
        [(c["text"], json.dumps(c["intent"])) for s in TRAIN_SPLITS for c in load_phrasings(s)]
    )


def split_examples(router, progress=print) -> tuple[list[list[float]], list[int]]:
    """One row per boundary of a dev phrasing (`agent.assistant.asks.boundaries`, within each
    part the router's strong separators leave) that the router weighs (`Router._weighed`: both
    sides read confidently as distinct intents a tool answers, and each is an ask of its own): 1 when the phrasing asks
    several things and the sides read as two of them in order, else 0."""
    from agent.assistant.asks import features
    from evals.quality.agent import load_phrasings

    X, y = [], []
    for split in TRAIN_SPLITS:
        for c in load_phrasings(split):
            want = c["intent"] if isinstance(c["intent"], list) else [c["intent"]]
            for part in router._parts(c["text"]):
                for a, sep, b, sa, sb, whole in router._boundary_sides(part):
                    if not router._weighed(a, b, sa, sb):
                        continue
                    apart = (
                        len(want) > 1
                        and sa.intent in want
                        and sb.intent in want
                        and want.index(sa.intent) < len(want) - 1 - want[::-1].index(sb.intent)
                    )
                    X.append(features(sep, a, b, sa, sb, whole))
                    y.append(int(apart))
    progress(f"{len(y)} boundaries, {sum(y)} between two asks")
    return X, y


def _demo_session(workdir: Path):
    """The offline session on the 1,500-customer demo store (seed 3) the phrasings' ids name."""
    from agent.assistant.session import StoreSession
    from agent.settings import Settings
    from knowledge import KnowledgeBase

    store = workdir / "store"
    if not store.exists():
        generate_store(store, customers=1500, seed=3)
    return StoreSession(
        store,
        workdir / "ws",
        kb=KnowledgeBase(workdir / "chroma"),
        settings=Settings().model_copy(update={"model": None}),
    )


def train_split_model(workdir: Path, progress=print):
    """The ask-split model (`agent.assistant.asks`), on what the shipped intent model reads."""
    from agent.assistant import router as R
    from agent.assistant.asks import train
    from knowledge import default_embedder

    R._intent_model.cache_clear()
    embedder = default_embedder()
    X, y = split_examples(R.Router(_demo_session(workdir), embedder), progress)
    return train(X, y, embedder=embedder.name, digest=split_digest())


def train_model(workdir: Path, progress=print):
    from agent.assistant.intent_model import IntentModel, train, training_digest
    from agent.assistant.router import _normalised
    from knowledge import default_embedder

    pairs = training_pairs()
    progress(f"{len(pairs)} labelled requests; building the demo store their ids name")
    session = _demo_session(workdir)
    texts = [_normalised(session, t) for t, _ in pairs]
    embedder = default_embedder()
    progress(f"embedding {len(texts)} requests with {embedder.name}")
    emb = np.asarray(embedder.embed(texts), dtype=float)
    model: IntentModel = train(
        texts, [lab for _, lab in pairs], emb, embedder=embedder.name, digest=training_digest(pairs)
    )
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check", action="store_true", help="only say whether the shipped model is stale"
    )
    args = ap.parse_args(argv)
    from agent.assistant.asks import MODEL_FILE as SPLIT_FILE
    from agent.assistant.asks import SplitModel
    from agent.assistant.intent_model import MODEL_FILE, IntentModel, training_digest

    if args.check:
        shipped, split = IntentModel.load(), SplitModel.load()
        fresh = shipped is not None and shipped.digest == training_digest(training_pairs())
        fresh = fresh and split is not None and split.digest == split_digest()
        print(
            "the intent and ask-split models are up to date"
            if fresh
            else "the intent model is stale: run python -m evals.quality.train_router"
        )
        return 0 if fresh else 1
    with tempfile.TemporaryDirectory() as tmp:
        model = train_model(Path(tmp))
        OUT.mkdir(parents=True, exist_ok=True)
        model.save(OUT / MODEL_FILE)
        print(
            f"wrote {OUT / MODEL_FILE}: {len(model.classes)} intents, "
            f"{model.coef.shape[1]} features, trained with {model.embedder}"
        )
        split = train_split_model(Path(tmp))
        split.save(OUT / SPLIT_FILE)
        print(f"wrote {OUT / SPLIT_FILE}: {len(split.coef)} boundary features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
