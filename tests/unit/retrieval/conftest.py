"""Store fixtures: every store test runs on each backend (NumPy reference, FAISS, Qdrant)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from m3tr_core.retrieval.faiss_store import FaissStore
from m3tr_core.retrieval.numpy_store import NumpyStore
from m3tr_core.retrieval.qdrant_store import QdrantConfig, QdrantStore
from m3tr_core.retrieval.store import VectorStore

BACKENDS = ["numpy", "faiss", "qdrant"]


def open_backend(backend: str, path: Path) -> VectorStore:
    if backend == "numpy":
        return NumpyStore(path)
    if backend == "faiss":
        return FaissStore(path)
    return QdrantStore(QdrantConfig(path=path))


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
            s.close()
        except Exception:  # already closed
            pass


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)  # (n, d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
