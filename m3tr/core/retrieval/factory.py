"""Open the configured vector store from an explicit config (the caller reads settings).

Backends: ``qdrant-edge`` (the embedded default: Qdrant's engine in-process, one shard per
collection under ``path``), ``qdrant`` (a Qdrant server through qdrant-client when ``qdrant_url``
is set; without a URL, qdrant-client's local mode, kept only to open workspaces built before
Edge became the default), ``faiss`` and ``numpy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from m3tr.core.retrieval.edge_store import EdgeStore, EdgeStoreConfig
from m3tr.core.retrieval.faiss_store import FaissConfig, FaissStore
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.qdrant_store import QdrantConfig, QdrantStore
from m3tr.core.retrieval.store import VectorStore

Backend = Literal["qdrant-edge", "qdrant", "faiss", "numpy"]
BACKENDS: tuple[str, ...] = ("qdrant-edge", "qdrant", "faiss", "numpy")


@dataclass(frozen=True)
class StoreConfig:
    """Which backend and where. ``path`` is the store's folder (None = in memory only)."""

    backend: Backend = "qdrant-edge"
    path: Path | None = None
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    faiss: FaissConfig = field(default_factory=FaissConfig)
    edge: EdgeStoreConfig = field(default_factory=EdgeStoreConfig)


def open_store(config: StoreConfig) -> VectorStore:
    """Open (creating folders as needed) the store ``config`` names."""
    if config.backend == "qdrant-edge":
        return EdgeStore(config.path, config.edge)
    if config.backend == "qdrant":
        return QdrantStore(
            QdrantConfig(path=config.path, url=config.qdrant_url, api_key=config.qdrant_api_key)
        )
    if config.backend == "faiss":
        return FaissStore(config.path, config.faiss)
    if config.backend == "numpy":
        return NumpyStore(config.path)
    raise ValueError(f"unknown vector backend {config.backend!r}; use {', '.join(BACKENDS)}")
