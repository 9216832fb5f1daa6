"""Open the configured vector store from an explicit config (the caller reads settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from m3tr_core.retrieval.faiss_store import FaissConfig, FaissStore
from m3tr_core.retrieval.numpy_store import NumpyStore
from m3tr_core.retrieval.qdrant_store import QdrantConfig, QdrantStore
from m3tr_core.retrieval.store import VectorStore

Backend = Literal["qdrant", "faiss", "numpy"]


@dataclass(frozen=True)
class StoreConfig:
    """Which backend and where. ``path`` is the store's folder (None = in memory only)."""

    backend: Backend = "qdrant"
    path: Path | None = None
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    faiss: FaissConfig = field(default_factory=FaissConfig)


def open_store(config: StoreConfig) -> VectorStore:
    """Open (creating folders as needed) the store ``config`` names."""
    if config.backend == "qdrant":
        return QdrantStore(
            QdrantConfig(path=config.path, url=config.qdrant_url, api_key=config.qdrant_api_key)
        )
    if config.backend == "faiss":
        return FaissStore(config.path, config.faiss)
    if config.backend == "numpy":
        return NumpyStore(config.path)
    raise ValueError(f"unknown vector backend {config.backend!r}; use qdrant, faiss or numpy")
