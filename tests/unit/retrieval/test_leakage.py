"""Leakage rules: self-exclusion, train-only evaluation, maturity filter in service."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from m3tr.core.retrieval.leakage import LeakageError, check_hits, filter_for
from m3tr.core.retrieval.similarity import retrieve
from m3tr.core.retrieval.store import Filter, VectorStore
from tests.unit.retrieval.conftest import unit_rows

DIMS = {"semantic": 8, "temporal": 4}


def _bank(store: VectorStore) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 40
    sem, tem = unit_rows(rng, n, 8), unit_rows(rng, n, 4)
    payloads = [
        {"split": ("train", "val", "test", "live")[i % 4], "matured": i % 2 == 0} for i in range(n)
    ]
    store.create_collection("bank", DIMS)
    store.upsert("bank", list(range(n)), {"semantic": sem, "temporal": tem}, payloads)
    return sem, tem


def test_a_video_never_retrieves_itself(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    sem, tem = _bank(store)
    for vid in (0, 5, 13):
        res = retrieve(store, "bank", sem[vid], tem[vid], top_s=40, prefetch_n=40, query_id=vid)
        assert vid not in res.video_ids
        assert len(res.hits) == 39
        # and without the rule the video would be its own best neighbour
        assert retrieve(store, "bank", sem[vid], tem[vid], top_s=1).video_ids == [vid]


def test_evaluation_retrieves_only_from_training_bank(
    store_factory: Callable[[], VectorStore],
) -> None:
    store = store_factory()
    sem, tem = _bank(store)
    flt = filter_for("eval", query_id=2)
    res = retrieve(store, "bank", sem[2], tem[2], top_s=40, prefetch_n=40, filter=flt, query_id=2)
    assert res.hits and all(h.payload["split"] == "train" for h in res.hits)
    assert sorted(res.video_ids) == [i for i in range(40) if i % 4 == 0]


def test_service_uses_only_matured_neighbours(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    sem, tem = _bank(store)
    flt = filter_for("service", query_id=1)
    res = retrieve(store, "bank", sem[1], tem[1], top_s=40, prefetch_n=40, filter=flt)
    assert sorted(res.video_ids) == list(range(0, 40, 2))
    content_only = retrieve(store, "bank", sem[1], None, top_s=40, prefetch_n=40, filter=flt)
    assert all(h.payload["matured"] is True for h in content_only.hits)
    assert 1 not in content_only.video_ids


def test_filter_for_rejects_unknown_purpose_and_check_hits_raises() -> None:
    with pytest.raises(ValueError, match="purpose"):
        filter_for("serve")  # type: ignore[arg-type]
    flt = Filter(matured_only=True)
    check_hits(flt, [(1, {"matured": True})])
    with pytest.raises(LeakageError, match="video 2"):
        check_hits(flt, [(2, {"matured": False})])
