"""The same calls on every store; results must agree with the NumPy reference (exact settings)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.store import CollectionNotFoundError, Filter, StoreError, VectorStore
from tests.unit.retrieval.conftest import unit_rows

DIMS = {"semantic": 16, "temporal": 8}


def _payload(i: int) -> dict:
    return {
        "split": ["train", "val", "test"][i % 3],
        "matured": i % 4 != 0,
        "published_at": 1_600_000_000.0 + i,
        "profile": "lite",
        "labels": {"like": i},
    }


def _fill(store: VectorStore, n: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.arange(100, 100 + n)
    sem = unit_rows(rng, n, DIMS["semantic"])
    tem = unit_rows(rng, n, DIMS["temporal"])
    has_t = np.arange(n) % 5 != 0  # every fifth point is a cold start: no temporal vector
    store.create_collection("bank", DIMS)
    store.upsert(
        "bank",
        ids.tolist(),
        {"semantic": sem, "temporal": tem},
        [_payload(int(i)) for i in ids],
        present={"temporal": has_t},
    )
    return {"ids": ids, "semantic": sem, "temporal": tem, "has_t": has_t}


def _reference(data: dict[str, np.ndarray]) -> NumpyStore:
    ref = NumpyStore()
    ref.create_collection("bank", DIMS)
    ref.upsert(
        "bank",
        data["ids"].tolist(),
        {"semantic": data["semantic"], "temporal": data["temporal"]},
        [_payload(int(i)) for i in data["ids"]],
        present={"temporal": data["has_t"]},
    )
    return ref


def _ids(hits) -> list[int]:  # noqa: ANN001
    return [h.video_id for h in hits]


def test_upsert_count_and_get_vectors(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    data = _fill(store)
    assert store.count("bank") == 60
    assert store.count("bank", "semantic") == 60
    assert store.count("bank", "temporal") == int(data["has_t"].sum())
    assert store.dims("bank") == DIMS
    assert "bank" in store.list_collections()
    vec, present = store.get_vectors("bank", [100, 101, 9999], "temporal")
    assert present.tolist() == [False, True, False]  # 100 is a cold start, 9999 unknown
    np.testing.assert_allclose(vec[1], data["temporal"][1], rtol=1e-6)
    assert not vec[2].any()
    payloads = store.get_payloads("bank", [101, 9999])
    assert payloads[0]["split"] == "test" and payloads[0]["labels"] == {"like": 101}
    assert payloads[1] is None


def test_upsert_is_idempotent_and_replaces(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    data = _fill(store)
    new_vec = np.zeros((1, 16), dtype=np.float32)
    new_vec[0, 0] = 1.0
    assert data["has_t"][6] and store.get_vectors("bank", [106], "temporal")[1][0]
    store.upsert("bank", [106], {"semantic": new_vec}, [{"split": "train", "matured": True}])
    store.upsert("bank", [106], {"semantic": new_vec}, [{"split": "train", "matured": True}])
    assert store.count("bank") == 60
    vec, _ = store.get_vectors("bank", [106], "semantic")
    np.testing.assert_allclose(vec[0], new_vec[0])
    # replacing drops the temporal vector the point had before (not given in this upsert)
    assert not store.get_vectors("bank", [106], "temporal")[1][0]
    assert 106 not in _ids(store.search("bank", "temporal", data["temporal"][6], 60))
    assert _ids(store.search("bank", "semantic", new_vec[0], 1)) == [106]
    assert store.get_payloads("bank", [106])[0] == {"split": "train", "matured": True}


def test_search_matches_numpy_reference(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    data = _fill(store)
    ref = _reference(data)
    rng = np.random.default_rng(1)
    queries = unit_rows(rng, 5, 16)
    got = store.search("bank", "semantic", queries, 7)
    want = ref.search("bank", "semantic", queries, 7)
    for g, w in zip(got, want, strict=True):
        assert _ids(g) == _ids(w)
        np.testing.assert_allclose([h.score for h in g], [h.score for h in w], rtol=1e-5, atol=1e-6)
    single = store.search("bank", "temporal", unit_rows(rng, 1, 8)[0], 5)
    assert all(data["has_t"][h.video_id - 100] for h in single)  # cold starts never returned
    assert [h.score for h in single] == sorted((h.score for h in single), reverse=True)


@pytest.mark.parametrize(
    "flt",
    [
        Filter(exclude_ids=frozenset({100, 101, 102})),
        Filter(matured_only=True),
        Filter(splits=("train",)),
        Filter(exclude_ids=frozenset({103}), matured_only=True, splits=("train", "val")),
        Filter(splits=("nonexistent",)),
    ],
)
def test_filtered_search_matches_reference(
    store_factory: Callable[[], VectorStore], flt: Filter
) -> None:
    store = store_factory()
    data = _fill(store)
    ref = _reference(data)
    q = data["semantic"][3]
    got = store.search("bank", "semantic", q, 10, flt)
    want = ref.search("bank", "semantic", q, 10, flt)
    assert _ids(got) == _ids(want)
    for h in got:
        assert flt.accepts(h.video_id, h.payload)


def test_delete(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    data = _fill(store)
    store.delete("bank", [103, 104, 424242])
    assert store.count("bank") == 58
    hits = store.search("bank", "semantic", data["semantic"][3], 60)
    assert 103 not in _ids(hits) and 104 not in _ids(hits)
    assert len(hits) == 58
    assert store.get_payloads("bank", [103]) == [None]


def test_reopen_after_restart_keeps_data(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    data = _fill(store)
    store.delete("bank", [111])  # has a temporal vector
    before = _ids(store.search("bank", "semantic", data["semantic"][0], 10))
    store.close()
    reopened = store_factory()
    assert reopened.count("bank") == 59
    assert reopened.count("bank", "temporal") == int(data["has_t"].sum()) - 1
    assert _ids(reopened.search("bank", "semantic", data["semantic"][0], 10)) == before
    assert reopened.get_payloads("bank", [112])[0]["published_at"] == 1_600_000_112.0


def test_collections_are_isolated_and_droppable(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    _fill(store)
    store.create_collection("other", DIMS)
    assert store.count("other") == 0
    assert store.search("other", "semantic", np.ones(16, np.float32), 5) == []
    with pytest.raises(StoreError):
        store.create_collection("other", DIMS)
    store.drop_collection("other")
    assert not store.has_collection("other")
    with pytest.raises(CollectionNotFoundError):
        store.count("other")
    assert store.count("bank") == 60


def test_bad_input_is_rejected_naming_the_problem(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    _fill(store)
    with pytest.raises(StoreError, match=r"bank\.semantic.*\(n, 16\)"):
        store.upsert("bank", [1], {"semantic": np.ones((1, 3), np.float32)}, [{}])
    with pytest.raises(StoreError, match="NaN"):
        store.upsert("bank", [1], {"semantic": np.full((1, 16), np.nan, np.float32)}, [{}])
    with pytest.raises(StoreError, match="unknown vector"):
        store.upsert("bank", [1], {"audio": np.ones((1, 16), np.float32)}, [{}])
    with pytest.raises(StoreError, match="payloads"):
        store.upsert("bank", [1, 2], {"semantic": np.ones((2, 16), np.float32)}, [{}])
    with pytest.raises(StoreError):
        store.search("bank", "semantic", np.ones(5, np.float32), 3)
    assert store.count("bank") == 60  # nothing half-written
