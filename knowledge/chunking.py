"""Split a playbook into chunks, one per `## ` section (long sections at paragraph breaks).

Each chunk carries the playbook id, title, section and text plus the playbook's metadata, and
a content hash of exactly what gets embedded, so re-indexing can skip unchanged chunks.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from knowledge.schema import Playbook, slug

MAX_WORDS = 170
"""all-MiniLM-L6-v2 reads 256 word pieces; longer sections are split at paragraph breaks."""

OVERVIEW = "Overview"


@dataclass(frozen=True)
class Chunk:
    id: str
    playbook_id: str
    title: str
    section: str
    text: str
    meta: dict = field(compare=False, hash=False)

    @property
    def embed_text(self) -> str:
        """What the embedding model reads: the title and section give the passage its context."""
        return f"{self.title}. {self.section}: {self.text}"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()[:32]


def chunk_playbook(pb: Playbook) -> list[Chunk]:
    """One chunk for the overview (title, summary, intro) and one per section part."""
    meta = {**pb.meta.model_dump(mode="python"), "path": str(pb.path)}
    chunks: list[Chunk] = []
    overview = " ".join(t for t in (pb.meta.summary, pb.intro) if t).strip()
    if overview:
        chunks.append(Chunk(f"{pb.id}::overview", pb.id, pb.title, OVERVIEW, overview, meta))
    seen: dict[str, int] = {}
    for section in pb.sections:
        if not section.text:
            continue
        base = slug(section.heading) or "section"
        for part in _split(section.text):
            n = seen.get(base, 0)
            seen[base] = n + 1
            cid = f"{pb.id}::{base}" + (f"-{n + 1}" if n else "")
            chunks.append(Chunk(cid, pb.id, pb.title, section.heading, part, meta))
    return chunks


def _split(text: str, max_words: int = MAX_WORDS) -> list[str]:
    if len(text.split()) <= max_words:
        return [text]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) == 1:
        paragraphs = [ln for ln in text.splitlines() if ln.strip()]
    parts: list[str] = []
    buf: list[str] = []
    count = 0
    for p in paragraphs:
        words = len(p.split())
        if buf and count + words > max_words:
            parts.append("\n\n".join(buf))
            buf, count = [], 0
        buf.append(p)
        count += words
    if buf:
        parts.append("\n\n".join(buf))
    return parts
