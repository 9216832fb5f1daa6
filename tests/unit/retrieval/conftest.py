"""Store fixtures: every store test runs on each backend (NumPy reference, FAISS, Qdrant Edge,
Qdrant through qdrant-client: a server where ``M3TR_TEST_QDRANT_URL`` is set, else local mode)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from m3tr.core.retrieval.edge_store import EdgeStore
from m3tr.core.retrieval.faiss_store import FaissStore
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.qdrant_store import QdrantConfig, QdrantStore
from m3tr.core.retrieval.store import VectorStore

BACKENDS = ["numpy", "faiss", "qdrant-edge", "qdrant-local", "qdrant-server"]
QDRANT_URL = os.environ.get("M3TR_TEST_QDRANT_URL")
NO_SERVER = (
    "M3TR_TEST_QDRANT_URL is not set: no Qdrant server can be installed on this machine (no "
    "Docker, no qdrant binary); set it (e.g. http://127.0.0.1:6333) to run this suite on a server"
)


def open_backend(backend: str, path: Path) -> VectorStore:
    if backend == "numpy":
        return NumpyStore(path)
    if backend == "faiss":
        return FaissStore(path)
    if backend == "qdrant-edge":
        return EdgeStore(path)
    if backend == "qdrant-server":  # the same requests on a server; collections prefixed per test
        if not QDRANT_URL:
            pytest.skip(NO_SERVER)
        return QdrantStore(QdrantConfig(url=QDRANT_URL, collection_prefix=_server_prefix(path)))
    return QdrantStore(QdrantConfig(path=path))


def _server_prefix(path: Path) -> str:
    marker = path.parent / ".qdrant-prefix"
    if not marker.exists():
        marker.write_text(f"t{uuid.uuid4().hex[:8]}_")
    return marker.read_text()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_factory(backend: str, tmp_path: Path) -> Iterator[Callable[[], VectorStore]]:
    """Opens the backend on one folder; a second call after ``close`` reopens the same data."""
    opened: list[VectorStore] = []

    def _open() -> VectorStore:
        s = open_backend(backend, tmp_path / backend)
        opened.append(s)
        return s

    yield _open
    for s in opened:
        try:
            if backend == "qdrant-server":  # leave nothing behind on a shared server
                for name in s.list_collections():
                    s.drop_collection(name)
            s.close()
        except Exception:  # already closed
            pass


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)  # (n, d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
