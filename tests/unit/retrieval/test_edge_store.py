"""Qdrant Edge beyond the congruence suite: HNSW index policy, crash safety, threads, ownership."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from m3tr.core.retrieval.edge_store import MATURED_FIELD, EdgeStore, EdgeStoreConfig
from m3tr.core.retrieval.exact import recall_at
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.similarity import joint_vectors, retrieve, retrieve_batch
from m3tr.core.retrieval.store import Filter, StoreError, StoreLockedError
from tests.unit.retrieval.conftest import unit_rows

REPO = Path(__file__).resolve().parents[3]
DIMS = {"semantic": 32, "temporal": 8}
# tiny thresholds so a few thousand points get a real HNSW graph
SMALL_INDEX = EdgeStoreConfig(
    indexing_threshold_kb=16, full_scan_threshold_kb=16, optimize_after=None, hnsw_ef=64
)


def _fill(store: EdgeStore | NumpyStore, n: int, seed: int = 0, start: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sem = unit_rows(rng, n, DIMS["semantic"])
    tem = unit_rows(rng, n, DIMS["temporal"])
    if not store.has_collection("bank"):
        store.create_collection("bank", DIMS)
    ids = list(range(start, start + n))
    payloads = [{"split": "train", "matured": i % 10 != 0} for i in ids]
    store.upsert("bank", ids, {"semantic": sem, "temporal": tem}, payloads)
    return sem


def test_hnsw_after_optimize_and_new_points_searched_exactly(tmp_path: Path) -> None:
    store, ref = EdgeStore(tmp_path / "e", SMALL_INDEX), NumpyStore()
    sem = _fill(store, 3000)
    _fill(ref, 3000)
    assert store.index_info("bank")["indexed_vectors"] == 0  # before optimize: plain segments
    assert store.optimize("bank")
    assert store.index_info("bank")["indexed_vectors"] >= 3000  # HNSW graphs built
    flt = Filter(matured_only=True)
    queries = sem[:50] + 0.1 * unit_rows(np.random.default_rng(5), 50, DIMS["semantic"])
    got = [
        [h.video_id for h in hits] for hits in store.search("bank", "semantic", queries, 10, flt)
    ]
    want = [[h.video_id for h in hits] for hits in ref.search("bank", "semantic", queries, 10, flt)]
    assert recall_at(got, want) >= 0.95
    assert all(i % 10 != 0 for row in got for i in row)  # the matured filter holds under HNSW
    # a point written after the graph was built is found at once (its segment is scanned)
    new = _fill(store, 1, seed=9, start=10_001)
    assert store.search("bank", "semantic", new[0], 1)[0].video_id == 10_001
    store.close()


def test_optimize_after_n_upserts(tmp_path: Path) -> None:
    cfg = EdgeStoreConfig(indexing_threshold_kb=16, full_scan_threshold_kb=16, optimize_after=2000)
    store = EdgeStore(tmp_path / "e", cfg)
    _fill(store, 1500)
    assert store.index_info("bank")["indexed_vectors"] == 0
    _fill(store, 1500, seed=1, start=1500)  # crosses 2,000 upserts since the last optimize
    assert store.index_info("bank")["indexed_vectors"] >= 3000
    store.close()


def test_bulk_writes_defer_the_periodic_optimize(tmp_path: Path) -> None:
    cfg = EdgeStoreConfig(indexing_threshold_kb=16, full_scan_threshold_kb=16, optimize_after=2000)
    store = EdgeStore(tmp_path / "e", cfg)
    with store.bulk_writes():
        _fill(store, 1500)
        _fill(store, 1500, seed=1, start=1500)  # past 2,000 upserts: no optimize inside
        assert store.index_info("bank")["indexed_vectors"] == 0
    _fill(store, 10, seed=2, start=3000)  # the first write after the block catches up
    assert store.index_info("bank")["indexed_vectors"] >= 3000
    store.close()


def test_eq3_on_hnsw_matches_exact_store(tmp_path: Path) -> None:
    store, ref = EdgeStore(tmp_path / "e", SMALL_INDEX), NumpyStore()
    rng = np.random.default_rng(3)
    sem, tem = unit_rows(rng, 4000, 32), unit_rows(rng, 4000, 8)
    dims = {**DIMS, "joint": 40}
    vectors = {
        "semantic": sem,
        "temporal": tem,
        "joint": joint_vectors(sem, tem, np.ones(4000, bool)),
    }
    for s in (store, ref):
        s.create_collection("bank", dims)
        s.upsert("bank", list(range(4000)), vectors, [{"matured": True}] * 4000)
    store.optimize("bank")
    got, want = [], []
    for i in range(30):
        got.append(retrieve(store, "bank", sem[i], tem[i], query_id=i, prefetch_n=50).video_ids)
        want.append(retrieve(ref, "bank", sem[i], tem[i], query_id=i, prefetch_n=50).video_ids)
    assert recall_at(got, want) >= 0.95
    res = retrieve(store, "bank", sem[0], tem[0], query_id=0)
    scores = store.score_ids("bank", {"semantic": sem[0]}, res.video_ids)["semantic"][0]
    np.testing.assert_allclose(scores, sem[res.video_ids] @ sem[0], rtol=1e-5)
    store.close()


def test_rerank_pool_is_a_share_of_the_bank_within_bounds(tmp_path: Path) -> None:
    cfg = EdgeStoreConfig(rerank_pool_fraction=0.01, rerank_pool_min=20, rerank_pool_max=40)
    store = EdgeStore(tmp_path / "e", cfg)
    _fill(store, 1000)
    assert store.rerank_pool("bank") == 20  # 1% of 1,000 = 10, raised to the minimum
    _fill(store, 2000, seed=1, start=1000)
    assert store.rerank_pool("bank") == 30
    _fill(store, 7000, seed=2, start=3000)
    assert store.rerank_pool("bank") == 40  # 100, capped
    store.close()


def test_rerank_is_the_exact_top_of_the_pool_union(tmp_path: Path) -> None:
    """``rerank`` on exact settings: the union of the pools (each its own exact top-k, the
    filter applied) scored exactly by the re-rank query, best first."""
    store = EdgeStore(tmp_path / "e", EdgeStoreConfig(exact=True))
    rng = np.random.default_rng(11)
    sem, tem = unit_rows(rng, 500, 32), unit_rows(rng, 500, 8)
    joint = joint_vectors(sem, tem, np.ones(500, bool))  # (500, 40)
    store.create_collection("bank", {**DIMS, "joint": 40})
    store.upsert(
        "bank",
        list(range(500)),
        {"semantic": sem, "temporal": tem, "joint": joint},
        [{"matured": i % 3 != 0} for i in range(500)],
    )
    qs, jq = unit_rows(rng, 4, 32), rng.standard_normal((4, 40)).astype(np.float32)
    flt = Filter(matured_only=True)
    got = store.rerank(
        "bank", "joint", jq, [("semantic", qs, 30), ("joint", jq, 10)], 15, [flt] * 4
    )
    allowed = np.arange(500) % 3 != 0
    for j, res in enumerate(got):
        c = np.where(allowed, sem @ qs[j], -np.inf)
        p = np.where(allowed, joint @ jq[j], -np.inf)
        union = set(np.argsort(-c)[:30].tolist()) | set(np.argsort(-p)[:10].tolist())
        want = sorted(union, key=lambda v: -p[v])[:15]
        assert res.ids.tolist() == want
        np.testing.assert_allclose(res.scores, p[want], rtol=1e-5)
    store.close()


class _CountingShard:
    """The real Edge shard, counting the engine calls made through it."""

    def __init__(self, shard: object) -> None:
        self.shard, self.calls = shard, {"query_batch": 0, "retrieve": 0}

    def __getattr__(self, name: str) -> object:
        if name in self.calls:
            self.calls[name] += 1
        return getattr(self.shard, name)


def test_eq3_is_three_engine_batches_and_one_payload_read_for_any_query_count(
    tmp_path: Path,
) -> None:
    store, ref = EdgeStore(tmp_path / "e", SMALL_INDEX), NumpyStore()
    rng = np.random.default_rng(4)
    sem, tem = unit_rows(rng, 3000, 32), unit_rows(rng, 3000, 8)
    vectors = {
        "semantic": sem,
        "temporal": tem,
        "joint": joint_vectors(sem, tem, np.ones(3000, bool)),
    }
    payloads = [{"split": "train", "matured": i % 10 != 0} for i in range(3000)]
    for s in (store, ref):
        s.create_collection("bank", {**DIMS, "joint": 40})
        s.upsert("bank", list(range(3000)), vectors, payloads)
    store.optimize("bank")
    counting = _CountingShard(store._col("bank").shard)  # noqa: SLF001 (count the real calls)
    store._col("bank").shard = counting  # type: ignore[assignment]  # noqa: SLF001
    flt = Filter(matured_only=True)
    got = retrieve_batch(store, "bank", sem[:8], tem[:8], filter=flt, query_ids=list(range(8)))
    assert counting.calls == {"query_batch": 3, "retrieve": 1}
    want = retrieve_batch(ref, "bank", sem[:8], tem[:8], filter=flt, query_ids=list(range(8)))
    assert recall_at([r.video_ids for r in got], [r.video_ids for r in want]) >= 0.95
    for res, i in zip(got, range(8), strict=True):
        assert i not in res.video_ids  # the query's own video is excluded in the engine
        assert all(h.payload["matured"] is True and h.payload["split"] == "train" for h in res.hits)
    store.close()


def test_int8_store_returns_exact_float32_scores(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "e", SMALL_INDEX)  # int8 quantization is the default
    assert store.config.quantization == "int8"
    sem = _fill(store, 3000)
    store.optimize("bank")
    q = unit_rows(np.random.default_rng(7), 1, DIMS["semantic"])[0]
    hits = store.search("bank", "semantic", q, 20)
    ids = [h.video_id for h in hits]
    np.testing.assert_allclose([h.score for h in hits], sem[ids] @ q, rtol=1e-5, atol=1e-6)
    store.close()


def test_reserved_payload_key_and_hidden_shadow_field(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "e")
    _fill(store, 20)
    with pytest.raises(StoreError, match="reserved"):
        store.upsert("bank", [1], {"semantic": np.ones((1, 32), np.float32)}, [{MATURED_FIELD: 1}])
    assert MATURED_FIELD not in store.get_payloads("bank", [1])[0]
    assert (
        MATURED_FIELD not in store.search("bank", "semantic", np.ones(32, np.float32), 1)[0].payload
    )
    store.close()


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from m3tr.core.retrieval.edge_store import EdgeStore
    store = EdgeStore(sys.argv[1])
    if not store.has_collection("bank"):
        store.create_collection("bank", {"semantic": 32, "temporal": 8})
    rng = np.random.default_rng(0)
    print("ready", flush=True)
    if sys.argv[2] == "hold":
        sys.stdin.read()
    for b in range(100000):
        ids = list(range(b * 50, b * 50 + 50))
        sem = rng.standard_normal((50, 32)).astype(np.float32)
        store.upsert("bank", ids, {"semantic": sem}, [{"matured": True, "b": b}] * 50)
        print(ids[-1], flush=True)  # acknowledged: upsert returned
    """
)


def _child(folder: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(folder), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_sigkill_during_upserts_keeps_every_acknowledged_point(tmp_path: Path) -> None:
    folder = tmp_path / "e"
    proc = _child(folder, "write")
    acked = -1
    for _ in range(40):  # 40 acknowledged batches, then kill -9 mid-stream
        acked = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    store = EdgeStore(folder)  # the lock died with the process
    n = store.count("bank")
    assert n >= acked + 1  # every acknowledged point; later batches may or may not be there
    assert n % 50 == 0  # a batch is all there or not at all
    payloads = store.get_payloads("bank", list(range(acked + 1)))
    assert all(p is not None and p["matured"] is True for p in payloads)
    vec, present = store.get_vectors("bank", [0, acked], "semantic")
    assert present.all() and np.isfinite(vec).all()
    store.upsert("bank", [10**9], {"semantic": np.ones((1, 32), np.float32)}, [{}])  # writable
    store.close()


def test_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "e"
    proc = _child(folder, "hold")
    try:
        with pytest.raises(StoreLockedError, match=r"another process \(pid \d+\).*M3TR_QDRANT_URL"):
            EdgeStore(folder)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    EdgeStore(folder).close()  # free again once the owner is gone


def test_readers_see_acknowledged_points_while_a_thread_writes(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "e", EdgeStoreConfig(optimize_after=None))
    rng = np.random.default_rng(1)
    vecs = unit_rows(rng, 2000, 32)
    store.create_collection("bank", DIMS)
    acked = [-1]
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            for start in range(0, 2000, 40):
                ids = list(range(start, start + 40))
                store.upsert("bank", ids, {"semantic": vecs[start : start + 40]}, [{}] * 40)
                acked[0] = ids[-1]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                last = acked[0]
                if last < 0:
                    continue
                hits = store.search("bank", "semantic", vecs[last], 1)
                assert hits[0].video_id == last  # an acknowledged point is searchable at once
                assert store.count("bank") >= last + 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert store.count("bank") == 2000
    store.close()


def test_temporary_store_leaves_nothing(tmp_path: Path) -> None:
    store = EdgeStore()
    folder = store.path
    _fill(store, 10)
    store.close()
    assert not folder.exists()
    with pytest.raises(StoreError, match="closed"):
        store.count("bank")
