"""Retention playbooks and the vector store that serves them.

    kb = KnowledgeBase(workspace / "chroma", playbook_dirs=[merchant_dir])
    report = kb.index()            # incremental: unchanged chunks are not re-embedded
    hits = kb.search("customers angry about a late refund", k=3, segment="At risk")
    pb = kb.get_playbook(hits[0].playbook_id)   # metadata (prior_uplift, channels, ...) + sections
    understand("my best customer hasn't ordered in 4 months")  # tier high, lapsed: what search reads

Each playbook's front matter lists the questions it answers (`questions:`); they are embedded
one by one, and a search blends a playbook's best passage with its best question.

This package knows nothing about customers or the agent, and imports nothing from them.
"""

from knowledge.base import Hit, IndexReport, KnowledgeBase
from knowledge.chunking import Chunk, chunk_playbook
from knowledge.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder, default_embedder
from knowledge.parse import (
    LoadResult,
    PlaybookError,
    PlaybookParseError,
    builtin_playbook_dir,
    load_playbooks,
    parse_playbook,
)
from knowledge.query import QueryIntent, understand
from knowledge.schema import (
    CHANNELS,
    CHURN_REASONS,
    CLV_TIERS,
    SECTIONS,
    SEGMENTS,
    Playbook,
    PlaybookMeta,
    Section,
)
from knowledge.store import KnowledgeError

__all__ = [
    "CHANNELS",
    "CHURN_REASONS",
    "CLV_TIERS",
    "SECTIONS",
    "SEGMENTS",
    "Chunk",
    "Embedder",
    "Hit",
    "IndexReport",
    "KnowledgeBase",
    "KnowledgeError",
    "LoadResult",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "Playbook",
    "PlaybookError",
    "PlaybookMeta",
    "PlaybookParseError",
    "QueryIntent",
    "Section",
    "builtin_playbook_dir",
    "chunk_playbook",
    "default_embedder",
    "load_playbooks",
    "parse_playbook",
    "understand",
]
