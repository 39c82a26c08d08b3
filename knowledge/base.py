"""The knowledge base: index playbooks into Chroma incrementally, search them hybrid-style.

Before a search the question is understood (`knowledge.query.understand`): the segments, CLV
tiers and churn reasons a merchant's words imply ("best customer" = tier high, "hasn't ordered
in 4 months" = lapsed) add a short expansion to the query and a bonus to playbooks tagged with
them. Search then combines the cosine similarity of the local embedding with BM25 keyword
scores (weighted sum, BM25 scaled by the best keyword score of the query) over every chunk,
the front-matter questions included, blends each playbook's best passage with its best question
(`QUESTION_WEIGHT`) and adds the intent bonus. A hit's passage is always playbook text (its best
section), never a synthetic question.
It knows nothing about customers or the agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.chunking import Chunk, chunk_playbook
from knowledge.embeddings import Embedder, default_embedder
from knowledge.keyword import KeywordIndex
from knowledge.parse import (
    PlaybookError,
    PlaybookParseError,
    builtin_playbook_dir,
    load_playbooks,
    parse_playbook,
)
from knowledge.query import QueryIntent, understand
from knowledge.schema import Playbook
from knowledge.store import (
    KnowledgeError,
    collection_name,
    filter_keys,
    flat_metadata,
    get_collection,
    make_client,
    playbook_metadata,
    where_clause,
)

Progress = Callable[[int, int, str], None]
"""progress(done, total, message) during indexing."""

VECTOR_WEIGHT = 0.7
KEYWORD_WEIGHT = 0.3
INTENT_WEIGHT = 0.2
"""Weight of the query-understanding bonus (0..1 tag overlap); 0 turns it off."""
QUESTION_WEIGHT = 0.3
"""A playbook's score: (1 - w) x its best passage + w x its best front-matter question (its best
passage again when it has none). Blending, rather than the best of the two, keeps one short
question of another playbook that shares a merchant's phrasing from outranking the text."""
EMBED_BATCH = 32
MAX_VECTOR_CANDIDATES = 600
"""Chunks asked of the vector index per query; chunks beyond it get the lowest similarity seen."""


@dataclass(frozen=True)
class Hit:
    """One search result: the best-matching passage of one playbook."""

    playbook_id: str
    title: str
    section: str
    passage: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook_id": self.playbook_id,
            "title": self.title,
            "section": self.section,
            "score": round(self.score, 4),
            "passage": self.passage,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class IndexReport:
    playbooks: int
    chunks: int
    embedded: int
    skipped_unchanged: int
    metadata_updated: int
    removed: int
    errors: tuple[PlaybookError, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbooks": self.playbooks,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "skipped_unchanged": self.skipped_unchanged,
            "metadata_updated": self.metadata_updated,
            "removed": self.removed,
            "errors": [str(e) for e in self.errors],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }

    def __str__(self) -> str:
        head = (
            f"Indexed {self.playbooks} playbooks, {self.chunks} chunks: {self.embedded} "
            f"embedded, {self.skipped_unchanged} unchanged, {self.metadata_updated} "
            f"metadata updated, {self.removed} removed ({self.seconds:.1f} s)."
        )
        lines = [head]
        lines += [f"  skipped {e}" for e in self.errors]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class _Corpus:
    """Every chunk in the collection, held in memory for BM25 and filtering."""

    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    keyword: KeywordIndex
    position: dict[str, int]


class KnowledgeBase:
    """Retention playbooks in a Chroma collection.

    persist_dir: the Chroma folder (the app passes `<workspace>/chroma`); ignored when
    CHROMA_HOST/CHROMA_PORT point at a server. playbook_dirs: extra folders of merchant
    playbooks, indexed with the built-in ones. embedder: defaults to the local MiniLM (or
    OpenAI when RETENTION_EMBEDDINGS=openai and OPENAI_API_KEY are set). collection: the
    Chroma collection name (default: one per embedder, e.g. one per merchant on a shared server).
    intent_weight / understand_queries: the query-understanding bonus and whether questions are
    understood at all (False searches the words exactly as given). question_weight: the share of
    a playbook's score that comes from its front-matter questions.
    """

    def __init__(
        self,
        persist_dir: str | Path | None,
        playbook_dirs: list[str | Path] | None = None,
        embedder: Embedder | None = None,
        *,
        include_builtin: bool = True,
        client=None,
        collection: str | None = None,
        vector_weight: float = VECTOR_WEIGHT,
        keyword_weight: float = KEYWORD_WEIGHT,
        intent_weight: float = INTENT_WEIGHT,
        question_weight: float = QUESTION_WEIGHT,
        understand_queries: bool = True,
    ) -> None:
        self.persist_dir = Path(persist_dir) if persist_dir is not None else None
        dirs = [builtin_playbook_dir()] if include_builtin else []
        self.playbook_dirs: tuple[Path, ...] = tuple(dirs + [Path(d) for d in playbook_dirs or []])
        self._embedder = embedder
        self._client = client
        self._collection = None
        self._collection_name = collection
        self._corpus: _Corpus | None = None
        self._playbooks: dict[str, Playbook] | None = None
        self.vector_weight = vector_weight
        self.keyword_weight = keyword_weight
        self.intent_weight = intent_weight
        self.question_weight = question_weight
        self.understand_queries = understand_queries

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    @property
    def collection(self):
        if self._collection is None:
            if self._client is None:
                self._client = make_client(self.persist_dir)
            name = self._collection_name or collection_name(self.embedder.name)
            try:
                self._collection = get_collection(self._client, name, self.embedder.name)
            except KnowledgeError:
                raise
            except Exception as exc:
                raise KnowledgeError(f"cannot open the Chroma collection {name!r}: {exc}") from exc
        return self._collection

    def count(self) -> int:
        """Chunks in the index."""
        return self.collection.count()

    # --- playbooks ----------------------------------------------------------------------------

    def playbooks(self) -> list[Playbook]:
        """The parsed playbooks from the folders (malformed ones are left out; see index())."""
        if self._playbooks is None:
            self._playbooks = {pb.id: pb for pb in load_playbooks(self.playbook_dirs).playbooks}
        return list(self._playbooks.values())

    def get_playbook(self, playbook_id: str) -> Playbook:
        """The parsed playbook (metadata and sections); KeyError naming the known ids.
        A playbook indexed from a folder this instance was not given is read from the path
        stored with its chunks."""
        self.playbooks()
        assert self._playbooks is not None
        if playbook_id in self._playbooks:
            return self._playbooks[playbook_id]
        try:
            found = self.collection.get(
                where={"playbook_id": playbook_id}, limit=1, include=["metadatas"]
            )
            path = Path(str((found["metadatas"] or [{}])[0].get("path", "")))
            if path.is_file():
                pb = parse_playbook(path)
                self._playbooks[pb.id] = pb
                return pb
        except (KnowledgeError, PlaybookParseError, OSError):
            pass
        known = ", ".join(sorted(self._playbooks))
        raise KeyError(f"no playbook {playbook_id!r}; known: {known}")

    # --- indexing -----------------------------------------------------------------------------

    def index(self, progress: Progress | None = None) -> IndexReport:
        """Bring the index in line with the playbook folders. Chunks whose content hash is
        already stored are not embedded again; chunks of deleted playbooks are removed."""
        start = time.perf_counter()
        loaded = load_playbooks(self.playbook_dirs)
        self._playbooks = {pb.id: pb for pb in loaded.playbooks}
        chunks: list[Chunk] = [c for pb in loaded.playbooks for c in chunk_playbook(pb)]
        col = self.collection
        stored = col.get(include=["metadatas"])
        existing = dict(zip(stored["ids"], stored["metadatas"] or []))
        to_embed: list[tuple[Chunk, dict]] = []
        to_update: list[tuple[Chunk, dict]] = []
        skipped = 0
        for c in chunks:
            meta = flat_metadata(c)
            old = existing.get(c.id)
            if old is not None and old.get("hash") == c.content_hash:
                if dict(old) != meta:
                    to_update.append((c, meta))
                else:
                    skipped += 1
            else:
                to_embed.append((c, meta))
        # batches of similar length: each batch is padded to its longest text, so mixing short
        # questions with long sections costs several times the work
        to_embed.sort(key=lambda cm: len(cm[0].embed_text))
        total = len(to_embed)
        if progress:
            progress(0, total, f"{total} chunks to embed, {skipped} unchanged")
        for i in range(0, total, EMBED_BATCH):
            batch = to_embed[i : i + EMBED_BATCH]
            vectors = self.embedder.embed([c.embed_text for c, _ in batch])
            col.upsert(
                ids=[c.id for c, _ in batch],
                embeddings=vectors,
                documents=[c.text for c, _ in batch],
                metadatas=[m for _, m in batch],
            )
            if progress:
                progress(min(i + EMBED_BATCH, total), total, "embedding")
        if to_update:
            # same text (same hash): only the metadata changed, so nothing is embedded
            col.update(ids=[c.id for c, _ in to_update], metadatas=[m for _, m in to_update])
        current = {c.id for c in chunks}
        stale = [cid for cid in existing if cid not in current]
        if stale:
            col.delete(ids=stale)
        self._corpus = None
        return IndexReport(
            playbooks=len(loaded.playbooks),
            chunks=len(chunks),
            embedded=total,
            skipped_unchanged=skipped,
            metadata_updated=len(to_update),
            removed=len(stale),
            errors=loaded.errors,
            notes=loaded.notes,
            seconds=time.perf_counter() - start,
        )

    # --- search -------------------------------------------------------------------------------

    def _load_corpus(self) -> _Corpus:
        n = self.collection.count()
        if self._corpus is None or len(self._corpus.ids) != n:
            got = self.collection.get(include=["documents", "metadatas"])
            ids, docs, metas = got["ids"], got["documents"] or [], got["metadatas"] or []
            texts = [
                f"{m.get('title', '')}. {m.get('section', '')}: {d}" for d, m in zip(docs, metas)
            ]
            self._corpus = _Corpus(
                list(ids),
                list(docs),
                [dict(m) for m in metas],
                KeywordIndex(texts),
                {cid: i for i, cid in enumerate(ids)},
            )
        return self._corpus

    def understand(self, query: str) -> QueryIntent:
        """What the search reads into a question (segments, tiers, churn reasons, expansion)."""
        return understand(query) if self.understand_queries else QueryIntent(query=query)

    def search(
        self,
        query: str,
        k: int = 3,
        segment: str | None = None,
        reason: str | None = None,
        channel: str | None = None,
    ) -> list[Hit]:
        """The k best playbooks for a question, best first, one hit (its best passage) each.
        segment / reason / channel keep only playbooks tagged with that value; the segments,
        tiers and reasons the question's own words imply only re-rank (see `understand`)."""
        query = (query or "").strip()
        if not query:
            raise KnowledgeError("the search query is empty")
        if k < 1:
            raise KnowledgeError(f"k must be at least 1, got {k}")
        keys = filter_keys(segment, reason, channel)
        corpus = self._load_corpus()
        if not corpus.ids:
            return []
        allowed = [i for i, m in enumerate(corpus.metadatas) if all(m.get(key) for key in keys)]
        if not allowed:
            return []
        intent = self.understand(query)
        text = intent.search_text
        qvec = self.embedder.embed([text])[0]
        res = self.collection.query(
            query_embeddings=[qvec],
            n_results=min(len(allowed), MAX_VECTOR_CANDIDATES),
            where=where_clause(keys),
            include=["distances"],
        )
        vector = {cid: 1.0 - float(d) for cid, d in zip(res["ids"][0], res["distances"][0])}
        bm25 = corpus.keyword.scores(text)
        top_kw = max((bm25[i] for i in allowed), default=0.0)
        floor = min(vector.values(), default=0.0)
        question: dict[str, float] = {}  # playbook -> best front-matter question
        passage: dict[str, tuple[float, int]] = {}  # playbook -> best chunk of playbook text
        for i in allowed:
            vsim = vector.get(corpus.ids[i], floor)
            kw = bm25[i] / top_kw if top_kw > 0 else 0.0
            score = self.vector_weight * vsim + self.keyword_weight * max(kw, 0.0)
            m = corpus.metadatas[i]
            pid = m.get("playbook_id", corpus.ids[i].split("::")[0])
            if m.get("kind") == "question":
                question[pid] = max(score, question.get(pid, score))
            elif pid not in passage or score > passage[pid][0]:
                passage[pid] = (score, i)
        scored = []
        for pid, (text_score, shown) in passage.items():
            q = question.get(pid, text_score)
            score = (1 - self.question_weight) * text_score + self.question_weight * q
            meta = playbook_metadata(corpus.metadatas[shown])
            if intent and self.intent_weight:
                score += self.intent_weight * intent.match(meta)
            scored.append((score, pid, shown, meta))
        scored.sort(key=lambda t: (-t[0], t[1]))
        hits = []
        for score, pid, i, meta in scored[:k]:
            m = corpus.metadatas[i]
            hits.append(
                Hit(
                    playbook_id=pid,
                    title=m.get("title", pid),
                    section=m.get("section", ""),
                    passage=corpus.documents[i],
                    score=score,
                    metadata=meta,
                )
            )
        return hits
