"""FAISS specifics: IVF-PQ past the configured size, exact refine, filters, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from m3tr.core.retrieval.faiss_store import FaissConfig, FaissStore
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.store import Filter


def _clustered(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((32, d))
    x = centers[rng.integers(0, 32, n)] + 0.5 * rng.standard_normal((n, d))  # (n, d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_switches_to_ivfpq_past_min_size_and_keeps_recall(tmp_path: Path) -> None:
    cfg = FaissConfig(
        ivfpq_min_size=1500, nlist=16, nprobe=8, refine_factor=10, train_sample=2000, exact_below=50
    )
    store, ref = FaissStore(tmp_path / "f", cfg), NumpyStore()
    x = _clustered(3000, 32, 0)
    payloads = [{"split": "train" if i % 2 else "test", "matured": True} for i in range(3000)]
    for s in (store, ref):
        s.create_collection("c", {"semantic": 32})
    for start in range(0, 3000, 1000):  # crosses the threshold during the second batch
        ids = list(range(start, start + 1000))
        for s in (store, ref):
            s.upsert(
                "c", ids, {"semantic": x[start : start + 1000]}, payloads[start : start + 1000]
            )
    assert store.index_kind("c", "semantic") == "ivfpq"
    queries = _clustered(20, 32, 1)
    flt = Filter(splits=("train",), exclude_ids=frozenset({1}))
    got = store.search("c", "semantic", queries, 10, flt)
    want = ref.search("c", "semantic", queries, 10, flt)
    recall = np.mean(
        [
            len({h.video_id for h in g} & {h.video_id for h in w}) / 10
            for g, w in zip(got, want, strict=True)
        ]
    )
    assert recall >= 0.9
    for hits in got:
        assert all(h.video_id % 2 == 1 and h.video_id != 1 for h in hits)
        for h in hits:  # scores are exact dot products, not PQ approximations
            assert abs(h.score - float(x[h.video_id] @ queries[got.index(hits)])) < 1e-5
    store.close()
    reopened = FaissStore(tmp_path / "f", cfg)
    assert reopened.index_kind("c", "semantic") == "ivfpq"
    again = reopened.search("c", "semantic", queries, 10, flt)
    assert [[h.video_id for h in hits] for hits in again] == [
        [h.video_id for h in hits] for hits in got
    ]


def test_selective_filter_scans_exactly(tmp_path: Path) -> None:
    cfg = FaissConfig(ivfpq_min_size=500, nlist=8, nprobe=1, train_sample=600, exact_below=100)
    store, ref = FaissStore(None, cfg), NumpyStore()
    x = _clustered(1000, 16, 2)
    payloads = [{"matured": i < 30} for i in range(1000)]  # only 30 matured points
    for s in (store, ref):
        s.create_collection("c", {"semantic": 16})
        s.upsert("c", list(range(1000)), {"semantic": x}, payloads)
    q = _clustered(1, 16, 3)[0]
    flt = Filter(matured_only=True)
    got = [h.video_id for h in store.search("c", "semantic", q, 10, flt)]
    assert got == [h.video_id for h in ref.search("c", "semantic", q, 10, flt)]


def test_filters_reach_faiss_as_id_selectors() -> None:
    """FAISS itself returns only allowed ids: asked for every point, it gives exactly those."""
    cfg = FaissConfig(ivfpq_min_size=10_000, exact_below=0)
    store = FaissStore(None, cfg)
    x = _clustered(400, 16, 4)
    payloads = [{"matured": i % 3 != 0, "split": ["train", "val"][i % 2]} for i in range(400)]
    store.create_collection("c", {"semantic": 16})
    store.upsert("c", list(range(400)), {"semantic": x}, payloads)
    col = store._col("c")
    for flt in (
        Filter(matured_only=True),  # 2/3 allowed: "not these ids"
        Filter(matured_only=True, splits=("val",), exclude_ids=frozenset({1, 5})),  # 1/3: "these"
    ):
        params = store._search_params(col, "semantic", flt)
        _, labels = col.indexes["semantic"].search(x[:1], 400, params=params)
        returned = {int(i) for i in labels[0] if i >= 0}
        assert returned == {i for i in range(400) if flt.accepts(i, payloads[i])}
        hits = store.search("c", "semantic", x[7], 10, flt)
        assert len(hits) == 10 and all(flt.accepts(h.video_id, h.payload) for h in hits)
    store.upsert("c", [4], {"semantic": x[4:5]}, [{"matured": False}])  # a write: new selector
    params = store._search_params(col, "semantic", Filter(matured_only=True))
    _, labels = col.indexes["semantic"].search(x[:1], 400, params=params)
    assert 4 not in set(labels[0].tolist()) and 2 in set(labels[0].tolist())
