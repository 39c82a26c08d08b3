"""Chroma plumbing: which client, the collection per embedder, flat metadata and filters.

Chroma metadata holds scalars only, so a playbook's lists are stored twice: one boolean key per
value (`seg_at_risk: True`, `reason_service_problems: True`, `channel_sms: True`) for filtering,
and a `|`-delimited string (`segments: "At risk|Lost"`) to read them back. `kind` tells a
front-matter question ("question") from playbook text ("passage").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from knowledge.chunking import Chunk
from knowledge.schema import CHANNELS, CHURN_REASONS, CLV_TIERS, SEGMENTS, slug

LIST_FIELDS = {  # metadata list -> (key prefix, vocabulary)
    "segments": ("seg", SEGMENTS),
    "churn_reasons": ("reason", CHURN_REASONS),
    "clv_tiers": ("tier", CLV_TIERS),
    "channels": ("channel", CHANNELS),
}
SEP = "|"


class KnowledgeError(ValueError):
    """A problem a person can fix (bad filter value, unreachable server); one line."""


def make_client(persist_dir: str | Path | None):
    """A Chroma client: `HttpClient` when CHROMA_HOST or CHROMA_PORT is set, else a
    `PersistentClient` in persist_dir. Telemetry is always off."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    host = os.environ.get("CHROMA_HOST", "").strip()
    port = os.environ.get("CHROMA_PORT", "").strip()
    if host or port:
        try:
            port_no = int(port or 8000)
        except ValueError:
            raise KnowledgeError(f"CHROMA_PORT must be a number, got {port!r}") from None
        try:
            return chromadb.HttpClient(host=host or "localhost", port=port_no, settings=settings)
        except Exception as exc:  # noqa: BLE001 - chromadb raises ValueError, httpx errors, ...
            raise KnowledgeError(
                f"cannot reach the Chroma server at {host or 'localhost'}:{port_no} "
                f"(CHROMA_HOST/CHROMA_PORT): {exc}"
            ) from None
    if persist_dir is None:
        raise KnowledgeError("no Chroma directory given and CHROMA_HOST is not set")
    Path(persist_dir).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(persist_dir), settings=settings)


def collection_name(embedder_name: str) -> str:
    return "playbooks-" + slug(embedder_name).replace("_", "-")


def get_collection(client, name: str, embedder_name: str):
    return client.get_or_create_collection(
        name,
        embedding_function=None,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedder": embedder_name, "schema": 1},
    )


def flat_metadata(chunk: Chunk) -> dict[str, Any]:
    """The Chroma metadata of one chunk (scalars only)."""
    m = chunk.meta
    out: dict[str, Any] = {
        "playbook_id": chunk.playbook_id,
        "title": chunk.title,
        "section": chunk.section,
        "hash": chunk.content_hash,
        "cost_level": m["cost_level"],
        "offer_type": m["offer_type"],
        "prior_uplift": float(m["prior_uplift"]),
        "sources": SEP.join(m["sources"]),
        "summary": m.get("summary", ""),
        "path": m.get("path", ""),
        "kind": "question" if chunk.is_question else "passage",
    }
    for field_name, (prefix, _) in LIST_FIELDS.items():
        values = list(m.get(field_name, ()))
        out[field_name] = SEP.join(values)
        for v in values:
            out[f"{prefix}_{slug(v)}"] = True
    return out


def playbook_metadata(flat: dict[str, Any]) -> dict[str, Any]:
    """The playbook's metadata read back from a chunk's flat metadata (lists restored)."""
    out = {
        k: flat.get(k)
        for k in ("playbook_id", "title", "cost_level", "offer_type", "prior_uplift", "summary")
    }
    for field_name in (*LIST_FIELDS, "sources"):
        raw = flat.get(field_name) or ""
        out[field_name] = [v for v in str(raw).split(SEP) if v]
    return out


def normalise(kind: str, value: str | None) -> str | None:
    """Map a user's filter value ("at risk", "At_risk", "SMS") onto the vocabulary, or raise."""
    if value is None or not str(value).strip():
        return None
    _, vocab = LIST_FIELDS[kind]
    want = slug(str(value))
    for v in vocab:
        if slug(v) == want:
            return v
    raise KnowledgeError(
        f"unknown {kind[:-1].replace('_', ' ')} {value!r}; one of: " + ", ".join(vocab)
    )


def filter_keys(segment: str | None, reason: str | None, channel: str | None) -> list[str]:
    """The boolean metadata keys a chunk must carry to pass the filters."""
    keys = []
    for kind, value in (("segments", segment), ("churn_reasons", reason), ("channels", channel)):
        v = normalise(kind, value)
        if v is not None:
            keys.append(f"{LIST_FIELDS[kind][0]}_{slug(v)}")
    return keys


def where_clause(keys: list[str]) -> dict | None:
    if not keys:
        return None
    clauses = [{k: True} for k in keys]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
