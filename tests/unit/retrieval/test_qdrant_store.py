"""Qdrant local-mode specifics: single-process folder lock, serialised concurrent writes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from m3tr_core.retrieval.qdrant_store import QdrantConfig, QdrantStore, StoreLockedError


def test_second_client_on_same_folder_is_refused_clearly(tmp_path: Path) -> None:
    first = QdrantStore(QdrantConfig(path=tmp_path / "q"))
    try:
        with pytest.raises(StoreLockedError, match="Qdrant server"):
            QdrantStore(QdrantConfig(path=tmp_path / "q"))
    finally:
        first.close()


def test_concurrent_upserts_from_threads_all_land(tmp_path: Path) -> None:
    store = QdrantStore(QdrantConfig(path=tmp_path / "q"))
    store.create_collection("c", {"semantic": 8})
    rng = np.random.default_rng(0)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for b in range(5):
                ids = list(range(offset + 20 * b, offset + 20 * (b + 1)))
                vecs = rng.standard_normal((20, 8)).astype(np.float32)
                store.upsert("c", ids, {"semantic": vecs}, [{"w": offset}] * 20)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(1000 * k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count("c") == 400
    store.close()
    reopened = QdrantStore(QdrantConfig(path=tmp_path / "q"))
    assert reopened.count("c") == 400
    reopened.close()
