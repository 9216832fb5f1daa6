"""Eq. 3 against a plain brute force, the weight slider, the content-only fallback."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.similarity import (
    combine,
    eq3_scores,
    min_max,
    retrieve,
    retrieve_batch,
)
from m3tr.core.retrieval.store import Filter, VectorStore
from tests.unit.retrieval.conftest import unit_rows

DIMS = {"semantic": 12, "temporal": 6}


def brute_force_eq3(sem, tem, ids, q_sem, q_tem, top_s, exclude=()):  # noqa: ANN001, ANN201
    """Eq. 3 written out plainly, over every allowed bank item."""
    rows = [i for i in range(len(ids)) if ids[i] not in exclude]
    c = {i: sum(float(a) * float(b) for a, b in zip(sem[i], q_sem, strict=True)) for i in rows}
    s = {i: sum(float(a) * float(b) for a, b in zip(tem[i], q_tem, strict=True)) for i in rows}
    c_lo, c_hi = min(c.values()), max(c.values())
    s_lo, s_hi = min(s.values()), max(s.values())
    score = {}
    for i in rows:
        cn = (c[i] - c_lo) / (c_hi - c_lo)
        sn = (s[i] - s_lo) / (s_hi - s_lo)
        score[ids[i]] = math.sqrt(cn**2 + sn**2)
    return sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:top_s]


def _bank(store: VectorStore, n: int = 80, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    sem, tem = unit_rows(rng, n, 12), unit_rows(rng, n, 6)
    payloads = [
        {"split": "train" if i % 4 else "test", "matured": i % 3 != 0, "labels": {"like": int(i)}}
        for i in ids
    ]
    store.create_collection("bank", DIMS)
    store.upsert("bank", ids.tolist(), {"semantic": sem, "temporal": tem}, payloads)
    return {"ids": ids, "semantic": sem, "temporal": tem}


def test_min_max_handles_all_equal_and_empty() -> None:
    np.testing.assert_allclose(min_max(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    assert min_max(np.array([0.7, 0.7, 0.7])).tolist() == [1.0, 1.0, 1.0]
    assert min_max(np.array([5.0])).tolist() == [1.0]
    assert min_max(np.array([])).size == 0


def test_combine_weight_half_is_eq3_and_extremes_are_single_parts() -> None:
    c, s = np.array([0.2, 1.0, 0.6]), np.array([0.9, 0.1, 0.6])
    np.testing.assert_allclose(combine(c, s, 0.5), np.sqrt(c**2 + s**2))
    np.testing.assert_allclose(combine(c, s, 1.0), math.sqrt(2) * c)
    np.testing.assert_allclose(combine(c, s, 0.0), math.sqrt(2) * s)
    with pytest.raises(ValueError):
        combine(c, s, 1.5)


def test_eq3_missing_temporal_counts_as_worst() -> None:
    combined, c_norm, s_norm = eq3_scores(
        np.array([0.1, 0.5, 0.9]), np.array([0.3, 99.0, 0.8]), np.array([True, False, True])
    )
    assert s_norm.tolist() == [0.0, 0.0, 1.0]  # the absent 99.0 is ignored, not the max
    np.testing.assert_allclose(combined, np.sqrt(c_norm**2 + s_norm**2))


def test_exhaustive_prefetch_equals_brute_force(store_factory: Callable[[], VectorStore]) -> None:
    store = store_factory()
    data = _bank(store)
    rng = np.random.default_rng(3)
    for _ in range(3):
        q_sem, q_tem = unit_rows(rng, 1, 12)[0], unit_rows(rng, 1, 6)[0]
        res = retrieve(store, "bank", q_sem, q_tem, top_s=10, prefetch_n=80)
        want = brute_force_eq3(data["semantic"], data["temporal"], data["ids"], q_sem, q_tem, 10)
        assert res.mode == "temporal_aware" and res.reason is None
        assert res.video_ids == [vid for vid, _ in want]
        np.testing.assert_allclose([h.combined for h in res.hits], [v for _, v in want], rtol=1e-5)
        for h in res.hits:
            assert math.isclose(h.combined, math.hypot(h.content, h.temporal), rel_tol=1e-9)


def test_prefetch_union_is_rescored_exactly() -> None:
    store = NumpyStore()
    data = _bank(store)
    q_sem, q_tem = data["semantic"][0], data["temporal"][1]
    res = retrieve(store, "bank", q_sem, q_tem, top_s=5, prefetch_n=7)
    assert 7 <= res.n_candidates <= 14  # union of two top-7 lists
    for h in res.hits:
        row = h.video_id - 1
        assert math.isclose(h.content_raw, float(data["semantic"][row] @ q_sem), rel_tol=1e-5)
        assert math.isclose(h.temporal_raw, float(data["temporal"][row] @ q_tem), rel_tol=1e-5)
    assert res.hits[0].video_id in (1, 2)  # a perfect match on one axis scores >= 1


def test_cold_start_falls_back_to_content_only() -> None:
    store = NumpyStore()
    data = _bank(store)
    q_sem = data["semantic"][4]
    res = retrieve(store, "bank", q_sem, None, top_s=5)
    assert res.mode == "content_only" and "cold start" in res.reason
    want = [h.video_id for h in store.search("bank", "semantic", q_sem, 5)]
    assert res.video_ids == want
    assert all(h.temporal is None for h in res.hits)
    res2 = retrieve(store, "bank", q_sem, None, temporal_reason="temporal model unavailable")
    assert res2.reason == "temporal model unavailable"


def test_bank_without_temporal_vectors_falls_back() -> None:
    store = NumpyStore()
    rng = np.random.default_rng(0)
    store.create_collection("bank", DIMS)
    store.upsert("bank", [1, 2, 3], {"semantic": unit_rows(rng, 3, 12)}, [{}, {}, {}])
    res = retrieve(store, "bank", unit_rows(rng, 1, 12)[0], unit_rows(rng, 1, 6)[0], top_s=2)
    assert res.mode == "content_only" and "no temporal vectors" in res.reason
    assert len(res.hits) == 2


def test_weight_one_ranks_by_content_weight_zero_by_trajectory() -> None:
    store = NumpyStore()
    data = _bank(store)
    q_sem, q_tem = data["semantic"][10], data["temporal"][20]
    by_c = retrieve(store, "bank", q_sem, q_tem, top_s=5, prefetch_n=80, weight=1.0)
    by_s = retrieve(store, "bank", q_sem, q_tem, top_s=5, prefetch_n=80, weight=0.0)
    assert by_c.video_ids == [h.video_id for h in store.search("bank", "semantic", q_sem, 5)]
    assert by_s.video_ids == [h.video_id for h in store.search("bank", "temporal", q_tem, 5)]


def test_batch_equals_single_queries() -> None:
    store = NumpyStore()
    data = _bank(store)
    qs, qt = data["semantic"][:4], data["temporal"][:4]
    batch = retrieve_batch(store, "bank", qs, qt, top_s=6, prefetch_n=20, query_ids=[1, 2, 3, 4])
    for j in range(4):
        one = retrieve(store, "bank", qs[j], qt[j], top_s=6, prefetch_n=20, query_id=j + 1)
        assert batch[j].video_ids == one.video_ids
        assert j + 1 not in one.video_ids


def test_empty_filter_result_is_empty_not_an_error() -> None:
    store = NumpyStore()
    data = _bank(store)
    res = retrieve(
        store, "bank", data["semantic"][0], data["temporal"][0], filter=Filter(splits=("none",))
    )
    assert res.hits == [] and res.n_candidates == 0


def test_bank_norm_scores_equal_whole_bank_eq3_and_certificate_is_sound(
    store_factory: Callable[[], VectorStore],
) -> None:
    store = store_factory()  # NumPy: min from the same scan; FAISS/Qdrant: negated-query search
    data = _bank(store, n=120, seed=5)
    rng = np.random.default_rng(11)
    n_certified = 0
    for _ in range(25):
        q_sem, q_tem = unit_rows(rng, 1, 12)[0], unit_rows(rng, 1, 6)[0]
        res = retrieve(store, "bank", q_sem, q_tem, top_s=5, prefetch_n=15)
        want = dict(
            brute_force_eq3(data["semantic"], data["temporal"], data["ids"], q_sem, q_tem, 120)
        )
        for h in res.hits:  # every returned score is its whole-bank Eq. 3 score
            assert math.isclose(h.combined, want[h.video_id], rel_tol=1e-5, abs_tol=1e-7)
        if res.certified:
            n_certified += 1
            best = sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            assert res.video_ids == [vid for vid, _ in best]
    assert n_certified > 0


def test_candidates_norm_uses_the_prefetched_union_only() -> None:
    store = NumpyStore()
    data = _bank(store)
    q_sem, q_tem = data["semantic"][0], data["temporal"][1]
    res = retrieve(store, "bank", q_sem, q_tem, top_s=50, prefetch_n=20, norm="candidates")
    assert res.certified is None
    assert min(h.content for h in res.hits) == 0.0  # the union's own minimum maps to 0
    with pytest.raises(ValueError, match="norm"):
        retrieve(store, "bank", q_sem, q_tem, norm="global")  # type: ignore[arg-type]


def test_collection_without_temporal_space_is_content_only() -> None:
    store = NumpyStore()
    rng = np.random.default_rng(0)
    store.create_collection("sem_only", {"semantic": 12})
    store.upsert("sem_only", [1, 2, 3], {"semantic": unit_rows(rng, 3, 12)}, [{}, {}, {}])
    res = retrieve(store, "sem_only", unit_rows(rng, 1, 12)[0], unit_rows(rng, 1, 6)[0])
    assert res.mode == "content_only" and len(res.hits) == 3


def _joint_bank(n: int, seed: int) -> tuple[NumpyStore, NumpyStore, dict[str, np.ndarray]]:
    """The same clustered bank with and without the joint vector (content and trajectory
    clusters independent: the true top-10 is good on both axes, top-N on neither)."""
    from m3tr.core.retrieval.similarity import joint_vectors
    from m3tr.core.retrieval.synthetic_bank import ClusteredSpec, clustered_vectors

    spec = ClusteredSpec(
        semantic_dim=16, temporal_dim=8, semantic_clusters=20, temporal_clusters=10,
        semantic_noise=0.3, temporal_noise=0.3,
    )  # fmt: skip
    sem, tem, qs, qt = clustered_vectors(n, spec, seed=seed, n_queries=20)
    has_t = np.arange(n) % 9 != 0
    with_joint, without = NumpyStore(), NumpyStore()
    with_joint.create_collection("b", {"semantic": 16, "temporal": 8, "joint": 24})
    without.create_collection("b", {"semantic": 16, "temporal": 8})
    vecs = {"semantic": sem, "temporal": tem}
    with_joint.upsert(
        "b", list(range(n)), {**vecs, "joint": joint_vectors(sem, tem, has_t)}, [{}] * n,
        {"temporal": has_t},
    )  # fmt: skip
    without.upsert("b", list(range(n)), vecs, [{}] * n, {"temporal": has_t})
    return with_joint, without, {"sem": sem, "tem": tem, "has_t": has_t, "qs": qs, "qt": qt}


def test_joint_prefetch_finds_videos_good_on_both_axes_and_certifies_soundly() -> None:
    from m3tr.core.retrieval.exact import exact_eq3_top, recall_at

    with_joint, without, d = _joint_bank(4000, seed=3)
    truth = exact_eq3_top(d["sem"], d["tem"], d["has_t"], np.arange(4000), d["qs"], d["qt"])
    got_j = retrieve_batch(with_joint, "b", d["qs"], d["qt"], prefetch_n=20)
    got_n = retrieve_batch(without, "b", d["qs"], d["qt"], prefetch_n=20)
    r_joint = recall_at([r.video_ids for r in got_j], truth)
    r_axes = recall_at([r.video_ids for r in got_n], truth)
    assert r_joint >= 0.95 and r_joint > r_axes
    wide = retrieve_batch(with_joint, "b", d["qs"], d["qt"], prefetch_n=200)
    assert sum(r.certified for r in wide) >= 15  # the certificate needs a deeper prefetch
    for res, want in zip([*got_j, *wide], [*truth, *truth], strict=True):
        if res.certified:  # sound: a certified result IS the exact whole-bank top-S
            assert res.video_ids == want
