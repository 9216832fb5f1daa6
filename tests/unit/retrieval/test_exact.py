"""The whole-bank Eq. 3 reference and the prefetch recall curve."""

from __future__ import annotations

import numpy as np

from m3tr.core.retrieval.exact import exact_eq3_top, prefetch_recall_curve, recall_at
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.similarity import retrieve
from m3tr.core.retrieval.synthetic_bank import ClusteredSpec, clustered_vectors


def test_exact_reference_equals_retrieve_with_exhaustive_prefetch() -> None:
    spec = ClusteredSpec(semantic_dim=16, temporal_dim=8, semantic_clusters=5, temporal_clusters=3)
    sem, tem, qs, qt = clustered_vectors(150, spec, seed=1, n_queries=5)
    has_t = np.arange(150) % 7 != 0
    store = NumpyStore()
    store.create_collection("b", {"semantic": 16, "temporal": 8})
    store.upsert(
        "b", list(range(150)), {"semantic": sem, "temporal": tem}, [{}] * 150, {"temporal": has_t}
    )
    truth = exact_eq3_top(sem, tem, has_t, np.arange(150), qs, qt, top_s=10)
    for j in range(5):
        assert retrieve(store, "b", qs[j], qt[j], prefetch_n=150).video_ids == truth[j]


def test_recall_curve_reaches_one_with_exhaustive_prefetch() -> None:
    spec = ClusteredSpec(semantic_dim=16, temporal_dim=8, semantic_clusters=8, temporal_clusters=4)
    sem, tem, _, _ = clustered_vectors(200, spec, seed=2)
    curve = prefetch_recall_curve(sem, tem, np.ones(200, bool), [5, 200], query_rows=range(20))
    assert curve[200] == 1.0
    assert 0.0 < curve[5] <= 1.0
    assert recall_at([[1, 2]], [[2, 3]]) == 0.5
