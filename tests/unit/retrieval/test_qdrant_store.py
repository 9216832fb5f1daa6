"""Qdrant local-mode specifics: single-process folder lock, serialised concurrent writes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from m3tr.core.retrieval.qdrant_store import QdrantConfig, QdrantStore, StoreLockedError


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


@pytest.mark.integration
def test_server_mode_round_trip() -> None:
    """Against a real Qdrant server (M3TR_TEST_QDRANT_URL, e.g. http://127.0.0.1:6333)."""
    import os
    import uuid

    url = os.environ.get("M3TR_TEST_QDRANT_URL")
    if not url:
        pytest.skip("set M3TR_TEST_QDRANT_URL to run against a Qdrant server")
    store = QdrantStore(QdrantConfig(url=url))
    name = f"m3tr_test_{uuid.uuid4().hex[:8]}"
    try:
        store.create_collection(name, {"semantic": 4, "temporal": 2})
        store.upsert(
            name,
            [1, 2],
            {"semantic": np.eye(2, 4, dtype=np.float32), "temporal": np.ones((2, 2), np.float32)},
            [{"split": "train", "matured": True}, {"split": "test", "matured": False}],
        )
        from m3tr.core.retrieval.store import Filter

        hits = store.search(
            name, "semantic", np.array([1, 0, 0, 0], np.float32), 5, Filter(matured_only=True)
        )
        assert [h.video_id for h in hits] == [1]
    finally:
        store.drop_collection(name)
        store.close()
