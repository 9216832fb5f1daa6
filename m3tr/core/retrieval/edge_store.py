"""Qdrant Edge store: Qdrant's own engine in-process (``qdrant_edge.EdgeShard``), the default.

One Edge shard per collection (bank version): the folder ``root/<collection>/``, named dense
vectors (dot product), the payload as given plus payload indexes on the fields the leakage
filters use (``split``, ``profile`` keyword; ``published_at`` float; ``matured`` through a
shadow integer field, see below). Every write goes through the shard's write-ahead log.

Index policy (what a query sees, and when the HNSW graph is built):
- Points are searchable as soon as ``upsert`` returns. Points not yet in an HNSW graph sit in
  an appendable segment that is scanned exactly (Qdrant's plain index), so a new point is never
  missed, it is only slower to find.
- ``optimize(collection)`` runs Qdrant's segment optimizers in the calling thread (HNSW build,
  vacuum of deleted points). It runs: after a bank build (``bank.build_bank`` calls it), and
  inside ``upsert`` once ``optimize_after`` points were written since the last one. Segments
  under ``indexing_threshold_kb`` of vectors stay plain (exact) even then.
- qdrant-edge-py 0.9.0 holds the GIL during ``optimize`` (measured: a Python thread made no
  progress during a 9.5 s optimize), so in ``m3tr serve`` an optimize stalls requests for its
  duration; searches and upserts do not (threads read while another writes).

Concurrency: one process owns the folder. A lock file ``.m3tr-edge.lock`` (and Qdrant's own WAL
lock) makes a second process fail at open with ``StoreLockedError``, which says to use a Qdrant
server (``M3TR_QDRANT_URL``) for several worker processes. Within the process, reads run
concurrently; writes to one shard are serialised.

Durability: ``upsert`` returns after the WAL has the batch, so a process killed with SIGKILL
reopens with every acknowledged point (``tests/unit/retrieval/test_edge_store.py``).
``flush``/``close`` write the segments and truncate nothing that is not on disk.

Eq. 3 path (``prefetch``, ``rerank``, ``score_points``; ``retrieval.prefetch`` drives them): three
engine batches per batch of queries, whatever its size: (1) top-N and the bank minimum on
``semantic`` and ``temporal``, (2) the joint proxy top-N, re-ranked in the engine from the union
of the joint HNSW top-N and the content top-``pool``, (3) the exact cross scores of the union
(``HasIdCondition``), then one ``retrieve`` of the final hits' payloads. Filters (the query's own
video included) run in the engine; no payload crosses into Python before the final top-S.

Vectors: int8 scalar quantization by default (``EdgeStoreConfig.quantization``): the HNSW graph
is built and searched on the int8 copy (held in RAM), every returned score is re-scored on the
float32 originals, so Eq. 3 sees exact dot products; at 30k joint vectors the build took 2.3x
less CPU (benchmarks/results/retrieval.md).

Binding quirk: ``MatchValue(True)`` reaches the engine as the integer 1 and never matches a
JSON ``true`` (qdrant-edge-py 0.9.0), so ``matured`` is also stored as the integer field
``_m3tr_matured`` (0/1, indexed), filtered on, and stripped from every payload returned.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from m3tr.core.retrieval.edge_schema import (
    MATURED_FIELD,
    EdgeStoreConfig,
    create_payload_indexes,
    edge_config,
    take_folder_lock,
    to_edge_filter,
)
from m3tr.core.retrieval.store import (
    CollectionNotFoundError,
    Filter,
    Hit,
    IdScores,
    StoreError,
    StoreLockedError,
    as_matrix,
    as_queries,
    check_batch,
    check_ids,
)

logger = logging.getLogger(__name__)

__all__ = ["MATURED_FIELD", "EdgeStore", "EdgeStoreConfig", "StoreLockedError", "to_edge_filter"]

_META = "m3tr-collection.json"
LOCK_FILE = ".m3tr-edge.lock"


def _edge_error(exc: Exception, where: str) -> StoreError:
    return StoreError(f"qdrant edge: {where}: {exc}")


def _nearest(
    name: str, row: list[float], limit: int, flt: qe.Filter | None, params: qe.SearchParams
) -> qe.QueryRequest:
    """A nearest-neighbour request on one named vector, without payload."""
    return qe.QueryRequest(
        limit=limit,
        query=qe.Query.Nearest(row, using=name),
        filter=flt,
        params=params,
        with_payload=False,
    )


def _query_batch(col: _Shard, requests: list[qe.QueryRequest], what: str) -> list[Any]:
    """The engine's answers to ``requests`` (one batch); engine errors as ``StoreError``."""
    try:
        return col.shard.query_batch(qe.QueryBatchRequest(requests))
    except Exception as exc:
        raise _edge_error(exc, what) from exc


def _arrays(points: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Engine hits (best first) as ids (k,) int64 and scores (k,) float64."""
    ids = np.fromiter((p.id for p in points), dtype=np.int64, count=len(points))
    scores = np.fromiter((p.score for p in points), dtype=np.float64, count=len(points))
    return ids, scores


class _Shard:
    """One open Edge shard with its dimensions and its write bookkeeping."""

    def __init__(self, shard: qe.EdgeShard, dims: dict[str, int]) -> None:
        self.shard = shard
        self.dims = dims
        self.write_lock = threading.Lock()
        self.since_optimize = 0


class EdgeStore:
    """Qdrant Edge ``VectorStore``; ``path=None`` uses a temporary folder removed on close."""

    backend = "qdrant-edge"
    # every acknowledged upsert/delete is in the shard's write-ahead log (a kill -9 loses none:
    # tests/unit/retrieval/test_edge_store.py), so writers need not flush after each write
    writes_are_durable = True

    def __init__(
        self, path: str | Path | None = None, config: EdgeStoreConfig | None = None
    ) -> None:
        self.config = config or EdgeStoreConfig()
        self._temporary = path is None
        self.path = Path(tempfile.mkdtemp(prefix="m3tr-edge-")) if path is None else Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._closed = False
        self._bulk = 0  # open bulk_writes() blocks: the periodic optimize waits for their end
        self._lock_fd = take_folder_lock(self.path / LOCK_FILE, "Qdrant Edge store")
        self._shards: dict[str, _Shard] = {}
        try:
            for sub in sorted(self.path.iterdir()):
                if sub.is_dir() and not sub.name.startswith(".") and (sub / _META).is_file():
                    self._shards[sub.name] = self._load(sub)
                elif sub.name.startswith(".") and ".tmp-" in sub.name:
                    shutil.rmtree(sub, ignore_errors=True)  # a create that never finished
        except BaseException:
            self.close()
            raise

    def _load(self, folder: Path) -> _Shard:
        meta = json.loads((folder / _META).read_text())
        dims = {str(k): int(v) for k, v in meta["dims"].items()}
        try:
            shard = qe.EdgeShard.load(str(folder))
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise StoreLockedError(
                    f"Qdrant Edge shard {folder} is open elsewhere; one process owns a shard: "
                    "use a Qdrant server (M3TR_QDRANT_URL) for several processes"
                ) from exc
            raise _edge_error(exc, f"cannot open {folder}") from exc
        return _Shard(shard, dims)

    def _col(self, name: str) -> _Shard:
        if self._closed:
            raise StoreError("store is closed")
        col = self._shards.get(name)
        if col is None:
            raise CollectionNotFoundError(
                f"no collection {name!r} in qdrant-edge store {self.path}"
            )
        return col

    # ----- collections --------------------------------------------------------------------
    def create_collection(self, name: str, dims: Mapping[str, int]) -> None:
        if not dims or any(int(d) <= 0 for d in dims.values()):
            raise StoreError(f"collection needs at least one vector name with dim > 0: {dims}")
        if not name or name.startswith(".") or "/" in name or name in (".", ".."):
            raise StoreError(f"collection name {name!r} cannot be a folder name")
        with self._lock:
            self._col_guard()
            if name in self._shards or (self.path / name).exists():
                raise StoreError(f"collection {name!r} already exists")
            # built in a hidden folder, then renamed: a crash leaves no half-made collection
            tmp = self.path / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
            plain = {str(k): int(v) for k, v in dims.items()}
            try:
                shard = qe.EdgeShard.create(str(tmp), edge_config(plain, self.config))
                create_payload_indexes(shard)
                shard.flush()
                shard.close()
                (tmp / _META).write_text(json.dumps({"dims": plain, "format": 1}))
                tmp.rename(self.path / name)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._shards[name] = self._load(self.path / name)

    def _col_guard(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    def has_collection(self, name: str) -> bool:
        return name in self._shards

    def list_collections(self) -> list[str]:
        return sorted(self._shards)

    def dims(self, collection: str) -> dict[str, int]:
        return dict(self._col(collection).dims)

    def drop_collection(self, name: str) -> None:
        with self._lock:
            col = self._shards.pop(name, None)
            if col is not None:
                with col.write_lock:
                    col.shard.close()
            if not self._closed:
                shutil.rmtree(self.path / name, ignore_errors=True)

    # ----- writes -------------------------------------------------------------------------
    def upsert(
        self,
        collection: str,
        ids: Sequence[int],
        vectors: Mapping[str, np.ndarray | None],
        payloads: Sequence[Mapping[str, Any]],
        present: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        col = self._col(collection)
        arr = check_ids(ids)
        mats, masks, clean = check_batch(collection, col.dims, arr, vectors, payloads, present)
        for p in clean:
            if MATURED_FIELD in p:
                raise StoreError(f"{collection}: payload key {MATURED_FIELD!r} is reserved")
        rows = {k: m.tolist() for k, m in mats.items()}
        points = [
            qe.Point(
                vid,
                {k: rows[k][i] for k in col.dims if masks[k][i]},
                {**clean[i], MATURED_FIELD: int(clean[i].get("matured") is True)},
            )
            for i, vid in enumerate(arr.tolist())
        ]
        with col.write_lock:
            try:
                col.shard.update(qe.UpdateOperation.upsert_points(points))
            except Exception as exc:
                raise _edge_error(exc, f"upsert into {collection}") from exc
            col.since_optimize += len(points)
            due = self.config.optimize_after
            if due is not None and not self._bulk and col.since_optimize >= due:
                self._optimize(collection, col)

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Upserts inside skip the periodic optimize (``optimize_after``): a bulk load (a bank
        build) indexes once at its end, instead of merging and re-indexing the growing
        collection every ``optimize_after`` points (20 times for 1M points at 50,000)."""
        with self._lock:
            self._bulk += 1
        try:
            yield
        finally:
            with self._lock:
                self._bulk -= 1

    def delete(self, collection: str, ids: Sequence[int]) -> None:
        col = self._col(collection)
        with col.write_lock:
            col.shard.update(qe.UpdateOperation.delete_points([int(i) for i in ids]))

    def optimize(self, collection: str | None = None) -> bool:
        """Build HNSW graphs / vacuum now (one collection or all); True if anything changed."""
        names = [collection] if collection is not None else self.list_collections()
        changed = False
        for name in names:
            col = self._col(name)
            with col.write_lock:
                changed |= self._optimize(name, col)
        return changed

    def _optimize(self, name: str, col: _Shard) -> bool:
        changed = bool(col.shard.optimize())
        col.since_optimize = 0
        info = col.shard.info()
        logger.info(
            "%s: optimized (%d points, %d indexed vectors, %d segments)",
            name,
            info.points_count,
            info.indexed_vectors_count,
            info.segments_count,
        )
        return changed

    def index_info(self, collection: str) -> dict[str, int]:
        """Points, HNSW-indexed vectors (all names) and segments of one collection."""
        info = self._col(collection).shard.info()
        return {
            "points": int(info.points_count),
            "indexed_vectors": int(info.indexed_vectors_count),
            "segments": int(info.segments_count),
        }

    # ----- reads --------------------------------------------------------------------------
    def _params(self) -> qe.SearchParams:
        return self.config.search_params(self.config.hnsw_ef)

    def _requests(
        self, name: str, rows: list[list[float]], limit: int, flt: qe.Filter | None, payload: bool
    ) -> list[qe.QueryRequest]:
        params = self._params()
        with_payload: Any = qe.PayloadSelector.Exclude([MATURED_FIELD]) if payload else False
        return [
            qe.QueryRequest(
                limit=int(limit),
                query=qe.Query.Nearest(row, using=name),
                filter=flt,
                params=params,
                with_payload=with_payload,
            )
            for row in rows
        ]

    def _query(
        self, collection: str, col: _Shard, requests: list[qe.QueryRequest]
    ) -> list[list[Hit]]:
        raw = _query_batch(col, requests, f"search {collection}")
        return [
            sorted(
                (Hit(int(p.id), float(p.score), dict(p.payload or {})) for p in points),
                key=lambda h: (-h.score, h.video_id),
            )
            for points in raw
        ]

    def _queries(
        self, collection: str, vector_name: str, query: np.ndarray
    ) -> tuple[_Shard, np.ndarray, bool]:
        col = self._col(collection)
        if vector_name not in col.dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(col.dims)}")
        q, single = as_queries(query, col.dims[vector_name], f"query on {collection}.{vector_name}")
        return col, q, single

    def search(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        col, q, single = self._queries(collection, vector_name, query)
        if limit <= 0:
            return [] if single else [[] for _ in range(q.shape[0])]
        reqs = self._requests(vector_name, q.tolist(), limit, to_edge_filter(filter), True)
        out = self._query(collection, col, reqs)
        return out[0] if single else out

    def search_with_low(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> tuple[list[list[Hit]], list[float | None]]:
        """``search`` for (q, d) queries plus each query's lowest allowed score, in ONE batch.

        The low is the top-1 of the negated query (min x.q = -max x.(-q)), searched like any
        other query: exact in plain segments, approximate in HNSW ones (Eq. 3 then widens the
        bounds with the exact candidate scores, see ``similarity``).
        """
        return self.search_with_low_many(collection, [(vector_name, query)], limit, filter)[0]

    def search_with_low_many(
        self,
        collection: str,
        items: Sequence[tuple[str, np.ndarray]],
        limit: int,
        filter: Filter | None = None,
    ) -> list[tuple[list[list[Hit]], list[float | None]]]:
        """``search_with_low`` for several (vector name, (q, d) queries) in ONE engine batch."""
        col = self._col(collection)
        flt = to_edge_filter(filter)
        reqs: list[qe.QueryRequest] = []
        sizes = []
        for name, query in items:
            _, q, _ = self._queries(collection, name, query)
            reqs += self._requests(name, q.tolist(), max(int(limit), 1), flt, True)
            reqs += self._requests(name, (-q).tolist(), 1, flt, False)
            sizes.append(q.shape[0])
        out = self._query(collection, col, reqs)
        result, at = [], 0
        for nq in sizes:
            hits, lows = out[at : at + nq], out[at + nq : at + 2 * nq]
            result.append((hits, [-low[0].score if low else None for low in lows]))
            at += 2 * nq
        return result

    def prefetch(
        self,
        collection: str,
        searches: Sequence[tuple[str, np.ndarray]],
        limit: int,
        filters: Sequence[Filter | None],
        low: bool = True,
    ) -> list[list[IdScores]]:
        """Eq. 3's prefetch in ONE engine batch: ids and scores only, no payloads.

        searches: (vector name, (q, d) queries); filters: one per query row (its own video
        excluded in the engine: no over-fetch, no client-side filtering). For each search and
        query: the top-``limit`` allowed points and, with ``low``, the lowest allowed score
        (top-1 of the negated query at ``low_hnsw_ef``). Returns [search][query] -> IdScores.
        """
        col = self._col(collection)
        edge_filters = [to_edge_filter(f) for f in filters]
        top_params = self._params()
        low_params = self.config.search_params(self.config.low_hnsw_ef or self.config.hnsw_ef)
        reqs: list[qe.QueryRequest] = []
        sizes = []
        for name, query in searches:
            _, q, _ = self._queries(collection, name, query)
            if q.shape[0] != len(edge_filters):
                raise StoreError(f"{q.shape[0]} queries but {len(edge_filters)} filters")
            rows = q.tolist()
            for row, flt in zip(rows, edge_filters, strict=True):
                reqs.append(_nearest(name, row, max(int(limit), 1), flt, top_params))
            if low:
                for row, flt in zip((-q).tolist(), edge_filters, strict=True):
                    reqs.append(_nearest(name, row, 1, flt, low_params))
            sizes.append(q.shape[0])
        raw = _query_batch(col, reqs, f"search {collection}")
        out, at = [], 0
        for nq in sizes:
            tops, at = raw[at : at + nq], at + nq
            lows: list[Any] = [None] * nq
            if low:
                lows, at = raw[at : at + nq], at + nq
            out.append(
                [
                    IdScores(*_arrays(points), -lw[0].score if lw else None)
                    for points, lw in zip(tops, lows, strict=True)
                ]
            )
        return out

    def rerank_pool(self, collection: str) -> int:
        """How many content neighbours Eq. 3 re-ranks by its joint proxy: a fixed share of the
        collection (the videos near a query in content grow with the bank), within bounds."""
        points = int(self._col(collection).shard.info().points_count)
        cfg = self.config
        share = int(points * cfg.rerank_pool_fraction)
        return max(cfg.rerank_pool_min, min(cfg.rerank_pool_max, share))

    def rerank(
        self,
        collection: str,
        vector_name: str,
        queries: np.ndarray,
        pools: Sequence[tuple[str, np.ndarray, int]],
        limit: int,
        filters: Sequence[Filter | None],
    ) -> list[IdScores]:
        """The union of several searches re-ranked by another query, in ONE engine batch.

        queries: (q, d) on ``vector_name``; pools: (vector name, (q, d') queries, k), each
        the top-k of its own query (int8 scores, no re-score: they only pick the pool);
        filters: one per query row, applied to every pool. Per query: the pool's points
        scored exactly (float32) by the query, top-``limit`` best first, ids and scores only
        (Qdrant's query API: one request with the pools as prefetches).
        """
        col = self._col(collection)
        _, q, _ = self._queries(collection, vector_name, queries)
        if q.shape[0] != len(filters):
            raise StoreError(f"{q.shape[0]} queries but {len(filters)} filters")
        pool_rows = []
        for name, pool_q, k in pools:
            _, pq, _ = self._queries(collection, name, pool_q)
            if pq.shape[0] != q.shape[0]:
                raise StoreError(f"{pq.shape[0]} pool queries on {name} for {q.shape[0]} queries")
            params = self.config.search_params(max(int(k), self.config.hnsw_ef or 0), False)
            pool_rows.append((name, pq.tolist(), int(k), params))
        exact = qe.SearchParams(quantization=qe.QuantizationSearchParams(ignore=True))
        reqs = []
        for j, (row, flt) in enumerate(zip(q.tolist(), filters, strict=True)):
            edge_flt = to_edge_filter(flt)
            pre = [
                qe.Prefetch(k, qe.Query.Nearest(rows[j], using=name), params=p, filter=edge_flt)
                for name, rows, k, p in pool_rows
            ]
            reqs.append(
                qe.QueryRequest(
                    limit=max(int(limit), 1),
                    query=qe.Query.Nearest(row, using=vector_name),
                    prefetches=pre,
                    filter=edge_flt,
                    params=exact,
                    with_payload=False,
                )
            )
        raw = _query_batch(col, reqs, f"search {collection}")
        return [IdScores(*_arrays(points)) for points in raw]

    def score_points(
        self, collection: str, requests: Sequence[tuple[str, np.ndarray, Sequence[int]]]
    ) -> list[dict[int, float]]:
        """Exact dot products of (vector name, query (d,), point ids) in ONE engine batch.

        Each request is an exact query restricted to its ids (``HasIdCondition``): the engine
        scores the points in place, nothing is copied out. Returns id -> score per request; an
        id is absent where the point is unknown or lacks that vector.
        """
        col = self._col(collection)
        exact = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
        reqs = []
        for name, query, ids in requests:
            if name not in col.dims:
                raise StoreError(f"{collection}: no vector {name!r}; has {sorted(col.dims)}")
            id_set = {int(i) for i in ids}
            row = as_matrix(query, col.dims[name], f"query on {collection}.{name}")[0]
            only = qe.Filter(must=[qe.HasIdCondition(id_set)])
            reqs.append(_nearest(name, row.tolist(), max(len(id_set), 1), only, exact))
        if not reqs:
            return []
        raw = _query_batch(col, reqs, f"score {collection}")
        return [{int(p.id): float(p.score) for p in points} for points in raw]

    def score_ids(
        self, collection: str, queries: Mapping[str, np.ndarray], ids: Sequence[int]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Exact dot products of one query per vector name with the stored vectors of ``ids``.

        queries: name -> (d,). Returns name -> (scores (n,) float64, present (n,) bool), in the
        order of ``ids`` (0 / False where a point is unknown or lacks the vector). The engine
        scores the points in place (an exact query restricted to ``ids``): no vectors are copied
        out, which is what Eq. 3's re-score needs.
        """
        col = self._col(collection)
        id_list = [int(i) for i in ids]
        if not id_list:
            return {k: (np.zeros(0), np.zeros(0, dtype=bool)) for k in queries}
        only = qe.Filter(must=[qe.HasIdCondition(set(id_list))])
        exact = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
        names = list(queries)
        reqs = []
        for name in names:
            if name not in col.dims:
                raise StoreError(f"{collection}: no vector {name!r}; has {sorted(col.dims)}")
            row = as_matrix(queries[name], col.dims[name], f"query on {collection}.{name}")[0]
            reqs.append(
                qe.QueryRequest(
                    limit=len(id_list),
                    query=qe.Query.Nearest(row.tolist(), using=name),
                    filter=only,
                    params=exact,
                    with_payload=False,
                )
            )
        raw = _query_batch(col, reqs, f"score {collection}")
        pos = {vid: i for i, vid in enumerate(id_list)}
        out = {}
        for name, points in zip(names, raw, strict=True):
            scores = np.zeros(len(id_list), dtype=np.float64)  # (n,)
            present = np.zeros(len(id_list), dtype=bool)  # (n,)
            for p in points:
                i = pos[int(p.id)]
                scores[i] = p.score
                present[i] = True
            out[name] = (scores, present)
        return out

    def get_vectors(
        self, collection: str, ids: Sequence[int], vector_name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        col = self._col(collection)
        if vector_name not in col.dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(col.dims)}")
        id_list = [int(i) for i in ids]
        records = col.shard.retrieve(id_list, with_payload=False, with_vector=[vector_name])
        found = {int(r.id): (r.vector or {}).get(vector_name) for r in records}
        out = np.zeros((len(id_list), col.dims[vector_name]), dtype=np.float32)  # (n, d)
        present = np.zeros(len(id_list), dtype=bool)  # (n,)
        for i, vid in enumerate(id_list):
            vec = found.get(vid)
            if vec is not None:
                out[i] = vec
                present[i] = True
        return out, present

    def get_payloads(self, collection: str, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        col = self._col(collection)
        id_list = [int(i) for i in ids]
        records = col.shard.retrieve(
            id_list, with_payload=qe.PayloadSelector.Exclude([MATURED_FIELD]), with_vector=False
        )
        found = {int(r.id): dict(r.payload or {}) for r in records}
        return [found.get(i) for i in id_list]

    def count(self, collection: str, vector_name: str | None = None) -> int:
        col = self._col(collection)
        flt = None
        if vector_name is not None:
            if vector_name not in col.dims:
                raise StoreError(f"{collection}: no vector {vector_name!r}")
            flt = qe.Filter(must=[qe.HasVectorCondition(vector_name)])
        return int(col.shard.count(qe.CountRequest(exact=True, filter=flt)))

    # ----- lifecycle ----------------------------------------------------------------------
    def flush(self) -> None:
        """Write every shard's segments to disk (the WAL already has every write)."""
        with self._lock:
            for col in self._shards.values():
                with col.write_lock:
                    col.shard.flush()

    def close(self) -> None:
        """Flush and close every shard, release the folder lock (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for name, col in list(self._shards.items()):
                with col.write_lock:
                    try:
                        col.shard.flush()
                    finally:
                        col.shard.close()
                logger.debug("closed edge shard %s", name)
            self._shards.clear()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            if self._temporary:
                shutil.rmtree(self.path, ignore_errors=True)
