"""Train the offline planner's intent model (`agent.assistant.intent_model`) and write it to
`agent/data/intent_model.npz`.

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
import sys
import tempfile
from pathlib import Path

import numpy as np

TRAIN_SPLITS = ("dev", "dev 2", "dev 3", "dev 4")
"""The phrasing splits the intent model learns from (besides the planner's examples)."""
OUT = Path(__file__).resolve().parent.parent / "agent" / "data"


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


def train_model(workdir: Path, progress=print):
    from agent.assistant.intent_model import IntentModel, train, training_digest
    from agent.assistant.router import _normalised
    from agent.assistant.session import StoreSession
    from agent.settings import Settings
    from knowledge import KnowledgeBase, default_embedder
    from tools.demo.store import generate_store

    pairs = training_pairs()
    progress(f"{len(pairs)} labelled requests; building the demo store their ids name")
    store = workdir / "store"
    generate_store(store, customers=1500, seed=3)
    session = StoreSession(
        store,
        workdir / "ws",
        kb=KnowledgeBase(workdir / "chroma"),
        settings=Settings().model_copy(update={"model": None}),
    )
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
    from agent.assistant.intent_model import MODEL_FILE, IntentModel, training_digest

    if args.check:
        shipped = IntentModel.load()
        fresh = shipped is not None and shipped.digest == training_digest(training_pairs())
        print(
            "the intent model is up to date"
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
