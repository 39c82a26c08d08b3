"""Split a playbook into chunks, one per `## ` section (long sections at paragraph breaks), plus
one per question of its front matter (`questions:`).

Each chunk carries the playbook id, title, section and text plus the playbook's metadata, and
a content hash of exactly what gets embedded, so re-indexing can skip unchanged chunks. A
question chunk embeds the question alone: a merchant's question is compared with the questions
the playbook answers (question-to-question matching, as retrieval knowledge bases with
synthetic questions do), while the passage shown for a hit always comes from the playbook text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from knowledge.schema import Playbook, slug

MAX_WORDS = 170
"""all-MiniLM-L6-v2 reads 256 word pieces; longer sections are split at paragraph breaks."""

OVERVIEW = "Overview"
QUESTIONS = "Questions"
"""The section name of question chunks (never a passage shown to the merchant)."""


@dataclass(frozen=True)
class Chunk:
    id: str
    playbook_id: str
    title: str
    section: str
    text: str
    meta: dict = field(compare=False, hash=False)

    @property
    def is_question(self) -> bool:
        return self.section == QUESTIONS and "::q-" in self.id

    @property
    def embed_text(self) -> str:
        """What the embedding model reads: the title and section give the passage its context;
        a question is read on its own, the way a merchant's question will be."""
        if self.is_question:
            return self.text
        return f"{self.title}. {self.section}: {self.text}"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()[:32]


def chunk_playbook(pb: Playbook) -> list[Chunk]:
    """One chunk for the overview (title, summary, intro), one per section part and one per
    front-matter question (ids `<playbook>::q-1`, `::q-2`, ...)."""
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
    for n, question in enumerate(pb.meta.questions, 1):
        chunks.append(Chunk(f"{pb.id}::q-{n}", pb.id, pb.title, QUESTIONS, question, meta))
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
