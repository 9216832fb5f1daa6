"""FAISS store: exact flat inner-product index for small banks, IVF-PQ past a configurable size.

Per collection and vector name one FAISS index over the video ids. The exact float32 vectors
are kept beside the index (``ArrayCollection``), so ``get_vectors`` is exact even when the index
is lossy (PQ), and IVF-PQ hits are re-scored exactly ("refine") before they are returned: every
``Hit.score`` is the exact dot product, as in the other stores.

Filters: FAISS knows nothing of payloads, so the store over-fetches by the inverse of the
fraction of points the filter allows and post-filters; when the filter leaves few points
(``exact_below``) it scans those exactly instead. Persisted as ``faiss.write_index`` files plus
the .npy/JSON sidecar, written atomically by ``flush``/``close``.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from m3tr_core.retrieval.array_collection import ArrayCollection
from m3tr_core.retrieval.numpy_store import top_k_rows
from m3tr_core.retrieval.store import (
    CollectionNotFoundError,
    Filter,
    Hit,
    StoreError,
    as_queries,
    check_batch,
    check_ids,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaissConfig:
    """FAISS index choices.

    ivfpq_min_size: a vector space with at least this many points uses IVF-PQ; below, exact flat.
    nlist: IVF cells; None = about 2*sqrt(n) (rounded to a power of two, 64..4096).
    pq_subvector_dim: dims per PQ sub-quantizer (d must be divisible; m = d / this), 8 bits each.
    nprobe: IVF cells visited per query. refine_factor: IVF-PQ candidates re-scored exactly
    per requested hit. train_sample: vectors used to train IVF-PQ.
    exact_below: filtered searches with at most this many allowed points scan them exactly.
    threads: OpenMP threads for FAISS (None = FAISS default).
    """

    ivfpq_min_size: int = 200_000
    nlist: int | None = None
    pq_subvector_dim: int = 8
    nprobe: int = 24
    refine_factor: int = 4
    train_sample: int = 65_536
    exact_below: int = 2_000
    threads: int | None = None


def _auto_nlist(n: int) -> int:
    return int(min(4096, max(64, 2 ** round(math.log2(2 * math.sqrt(max(n, 1)))))))


class _Collection:
    """Exact vectors plus one FAISS index per vector name."""

    def __init__(self, arrays: ArrayCollection, indexes: dict[str, faiss.Index]) -> None:
        self.arrays = arrays
        self.indexes = indexes

    def is_ivf(self, name: str) -> bool:
        return isinstance(faiss.downcast_index(self.indexes[name]), faiss.IndexIVF)


class FaissStore:
    """FAISS-backed ``VectorStore``; ``path=None`` keeps everything in memory only."""

    backend = "faiss"

    def __init__(self, path: str | Path | None = None, config: FaissConfig | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.config = config or FaissConfig()
        if self.config.threads is not None:
            faiss.omp_set_num_threads(self.config.threads)
        self._cols: dict[str, _Collection] = {}
        self._dirty: set[str] = set()
        self._lock = threading.RLock()
        self._closed = False
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            for sub in sorted(self.path.iterdir()):
                if sub.is_dir() and not sub.name.startswith("."):
                    self._cols[sub.name] = self._load(sub)

    # ----- index management ---------------------------------------------------------------
    def _flat(self, dim: int) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def _ivfpq(self, vectors: np.ndarray) -> faiss.Index:
        """Train an IVF-PQ index (inner product) on a sample of ``vectors`` (n, d)."""
        n, dim = vectors.shape
        cfg = self.config
        if dim % cfg.pq_subvector_dim:
            raise StoreError(f"dim {dim} not divisible by pq_subvector_dim {cfg.pq_subvector_dim}")
        nlist = cfg.nlist or _auto_nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(
            quantizer, dim, nlist, dim // cfg.pq_subvector_dim, 8, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(0)
        take = min(n, max(cfg.train_sample, 40 * nlist))
        sample = vectors[np.sort(rng.choice(n, size=take, replace=False))] if take < n else vectors
        index.train(np.ascontiguousarray(sample, dtype=np.float32))  # (s, d)
        index.nprobe = min(cfg.nprobe, nlist)
        return index

    def rebuild_index(self, collection: str, vector_name: str) -> str:
        """Rebuild one vector space's index from the exact vectors; returns its kind."""
        with self._lock:
            col = self._col(collection)
            arr = col.arrays
            rows = np.flatnonzero(arr.present[vector_name][: arr.n])  # (m,)
            vecs = arr.vectors[vector_name][rows]  # (m, d)
            if rows.size >= self.config.ivfpq_min_size:
                index = self._ivfpq(vecs)
                kind = "ivfpq"
            else:
                index = self._flat(arr.dims[vector_name])
                kind = "flat"
            if rows.size:
                index.add_with_ids(vecs, arr.ids[rows])
            col.indexes[vector_name] = index
            self._dirty.add(collection)
            logger.info("%s.%s: %s index over %d vectors", collection, vector_name, kind, rows.size)
            return kind

    def index_kind(self, collection: str, vector_name: str) -> str:
        return "ivfpq" if self._col(collection).is_ivf(vector_name) else "flat"

    # ----- VectorStore --------------------------------------------------------------------
    def _col(self, name: str) -> _Collection:
        if self._closed:
            raise StoreError("store is closed")
        col = self._cols.get(name)
        if col is None:
            raise CollectionNotFoundError(f"no collection {name!r} in faiss store {self.path}")
        return col

    def create_collection(self, name: str, dims: Mapping[str, int]) -> None:
        with self._lock:
            if name in self._cols:
                raise StoreError(f"collection {name!r} already exists")
            arrays = ArrayCollection(dims)
            self._cols[name] = _Collection(
                arrays, {k: self._flat(d) for k, d in arrays.dims.items()}
            )
            self._dirty.add(name)

    def has_collection(self, name: str) -> bool:
        return name in self._cols

    def list_collections(self) -> list[str]:
        return sorted(self._cols)

    def dims(self, collection: str) -> dict[str, int]:
        return dict(self._col(collection).arrays.dims)

    def upsert(
        self,
        collection: str,
        ids: Sequence[int],
        vectors: Mapping[str, np.ndarray | None],
        payloads: Sequence[Mapping[str, Any]],
        present: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        with self._lock:
            col = self._col(collection)
            arr = check_ids(ids)
            mats, masks, payloads = check_batch(
                collection, col.arrays.dims, arr, vectors, payloads, present
            )
            existing = np.asarray([i for i in arr.tolist() if i in col.arrays.row_of], np.int64)
            col.arrays.upsert(arr, mats, masks, payloads)
            for name, index in col.indexes.items():
                if existing.size:
                    index.remove_ids(existing)
                keep = masks[name]
                if keep.any():
                    index.add_with_ids(mats[name][keep], arr[keep])
                if not col.is_ivf(name) and index.ntotal >= self.config.ivfpq_min_size:
                    self.rebuild_index(collection, name)
            self._dirty.add(collection)

    def delete(self, collection: str, ids: Sequence[int]) -> None:
        with self._lock:
            col = self._col(collection)
            removed = col.arrays.delete(ids)
            if removed:
                for index in col.indexes.values():
                    index.remove_ids(np.asarray(removed, dtype=np.int64))
            self._dirty.add(collection)

    def search(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        col = self._col(collection)
        arrays = col.arrays
        if vector_name not in arrays.dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(arrays.dims)}")
        q, single = as_queries(
            query, arrays.dims[vector_name], f"query on {collection}.{vector_name}"
        )
        allowed, n_allowed = arrays.allowed(filter, vector_name)  # (n,), count
        n_indexed = int(col.indexes[vector_name].ntotal)
        if n_allowed == 0 or limit <= 0:
            out: list[list[Hit]] = [[] for _ in range(q.shape[0])]
        elif n_allowed <= self.config.exact_below and n_allowed < n_indexed:
            out = self._search_exact(arrays, vector_name, q, allowed, limit)
        else:
            out = self._search_index(col, vector_name, q, allowed, n_allowed, limit)
        return out[0] if single else out

    def _search_exact(
        self, arrays: ArrayCollection, name: str, q: np.ndarray, allowed: np.ndarray, limit: int
    ) -> list[list[Hit]]:
        rows = np.flatnonzero(allowed)  # (m,)
        scores = arrays.vectors[name][rows] @ q.T  # (m, q)
        out = []
        for j in range(q.shape[0]):
            idx, s = top_k_rows(scores[:, j], np.ones(rows.size, dtype=bool), limit)
            out.append(self._hits(arrays, rows[idx], s))
        return out

    def _search_index(
        self,
        col: _Collection,
        name: str,
        q: np.ndarray,
        allowed: np.ndarray,
        n_allowed: int,
        limit: int,
    ) -> list[list[Hit]]:
        arrays = col.arrays
        index = col.indexes[name]
        n_indexed = int(index.ntotal)
        refine = self.config.refine_factor if col.is_ivf(name) else 1
        frac = n_allowed / max(n_indexed, 1)
        k = min(n_indexed, math.ceil(limit * refine / frac * 1.1) + 8)
        pending = np.arange(q.shape[0])
        out: list[list[Hit]] = [[] for _ in range(q.shape[0])]
        while pending.size:
            _, labels = index.search(q[pending], k)  # (p, k) video ids, -1 = none
            retry = []
            for j, qi in enumerate(pending.tolist()):
                rows = arrays.rows_for([i for i in labels[j].tolist() if i >= 0])
                rows = rows[(rows >= 0)]
                rows = rows[allowed[rows]]
                if rows.size < min(limit, n_allowed) and k < n_indexed:
                    retry.append(qi)
                    continue
                exact = arrays.vectors[name][rows] @ q[qi]  # (r,)
                idx, s = top_k_rows(exact, np.ones(rows.size, dtype=bool), limit)
                out[qi] = self._hits(arrays, rows[idx], s)
            pending = np.asarray(retry, dtype=np.int64)
            k = min(n_indexed, 4 * k)
        return out

    @staticmethod
    def _hits(arrays: ArrayCollection, rows: np.ndarray, scores: np.ndarray) -> list[Hit]:
        return [
            Hit(int(arrays.ids[r]), float(v), dict(arrays.payloads[r]))
            for r, v in zip(rows.tolist(), scores.tolist(), strict=True)
        ]

    def get_vectors(
        self, collection: str, ids: Sequence[int], vector_name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._col(collection).arrays
        if vector_name not in arrays.dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(arrays.dims)}")
        return arrays.get_vectors(ids, vector_name)

    def get_payloads(self, collection: str, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        arrays = self._col(collection).arrays
        return [None if r < 0 else dict(arrays.payloads[r]) for r in arrays.rows_for(ids).tolist()]

    def count(self, collection: str, vector_name: str | None = None) -> int:
        return self._col(collection).arrays.count(vector_name)

    def drop_collection(self, name: str) -> None:
        with self._lock:
            self._cols.pop(name, None)
            self._dirty.discard(name)
            if self.path is not None:
                shutil.rmtree(self.path / name, ignore_errors=True)

    # ----- persistence --------------------------------------------------------------------
    def _load(self, folder: Path) -> _Collection:
        arrays = ArrayCollection.load(folder)
        indexes = {}
        for name in arrays.dims:
            file = folder / f"index_{name}.faiss"
            if not file.exists():
                raise StoreError(f"{folder}: missing {file.name}")
            indexes[name] = faiss.read_index(str(file))
            if isinstance(faiss.downcast_index(indexes[name]), faiss.IndexIVF):
                faiss.extract_index_ivf(indexes[name]).nprobe = self.config.nprobe
        return _Collection(arrays, indexes)

    def flush(self) -> None:
        """Write changed collections to disk (no-op in memory-only mode)."""
        with self._lock:
            if self.path is None:
                self._dirty.clear()
                return
            for name in sorted(self._dirty):
                col = self._cols.get(name)
                if col is None:
                    continue
                writers = {
                    f"index_{k}.faiss": (lambda p, ix=ix: faiss.write_index(ix, str(p)))
                    for k, ix in col.indexes.items()
                }
                col.arrays.save(self.path / name, writers)
            self._dirty.clear()

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._cols.clear()
