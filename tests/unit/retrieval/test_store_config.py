"""Settings -> vector store: Edge by default, a Qdrant URL switches to the server, knobs reach it."""

from __future__ import annotations

from pathlib import Path

import pytest

from m3tr.app.settings import Settings
from m3tr.core.retrieval.edge_store import EdgeStore
from m3tr.core.retrieval.factory import open_store
from m3tr.workers.context import store_config


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("M3TR_QDRANT_URL", "M3TR_VECTOR_BACKEND", "M3TR_FAISS_IVFPQ_MIN_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("M3TR_HOME", str(tmp_path / "home"))
    return tmp_path


def test_embedded_default_is_qdrant_edge(clean_env: Path) -> None:
    s = Settings()
    cfg = store_config(s)
    assert cfg.backend == "qdrant-edge"
    assert cfg.path == (clean_env / "home" / "qdrant-edge").resolve()
    store = open_store(cfg)
    try:
        assert isinstance(store, EdgeStore) and store.backend == "qdrant-edge"
    finally:
        store.close()


def test_qdrant_url_switches_to_the_server(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M3TR_QDRANT_URL", "http://qdrant:6333")
    cfg = store_config(Settings())
    assert cfg.backend == "qdrant" and cfg.qdrant_url == "http://qdrant:6333"
    monkeypatch.setenv("M3TR_VECTOR_BACKEND", "faiss")  # an explicit non-Qdrant choice wins
    assert store_config(Settings()).backend == "faiss"


def test_store_knobs_reach_the_store(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M3TR_VECTOR_BACKEND", "faiss")
    monkeypatch.setenv("M3TR_FAISS_IVFPQ_MIN_SIZE", "5000")
    monkeypatch.setenv("M3TR_EDGE_HNSW_EF", "256")
    monkeypatch.setenv("M3TR_EDGE_OPTIMIZE_AFTER", "0")
    cfg = store_config(Settings())
    assert cfg.faiss.ivfpq_min_size == 5000
    assert cfg.edge.hnsw_ef == 256 and cfg.edge.optimize_after is None
    store = open_store(cfg)
    try:
        assert store.config.ivfpq_min_size == 5000  # type: ignore[attr-defined]
    finally:
        store.close()
