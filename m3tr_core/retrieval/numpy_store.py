"""NumPy exact store: the reference every other backend is checked against.

Search is an exact scan (one matrix product per query batch, then ``argpartition``), so its
cost is bounded by memory bandwidth: each query reads the whole (n, d) float32 matrix once;
batching queries reads it once per batch. Persisted per collection as .npy + JSON under
``root/<collection>/`` (written by ``flush``/``close``, atomically).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from m3tr_core.retrieval.array_collection import ArrayCollection
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

_QUERY_CHUNK = 32  # queries per matrix product: bounds the (n, q) score buffer


def top_k_rows(scores: np.ndarray, allowed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k allowed rows of one score column.

    scores: (n,) float32; allowed: (n,) bool. Returns (rows (k',), scores (k',)) sorted
    descending, k' = min(k, allowed.sum()). Ties are broken by lower row first.
    """
    cand = np.flatnonzero(allowed)  # (m,)
    if cand.size == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    s = scores[cand]  # (m,)
    if k < cand.size:
        part = np.argpartition(-s, k - 1)[:k]
        cand, s = cand[part], s[part]
    order = np.lexsort((cand, -s))
    return cand[order], s[order]


class NumpyStore:
    """Exact in-memory store; ``path=None`` keeps everything in memory only."""

    backend = "numpy"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._cols: dict[str, ArrayCollection] = {}
        self._dirty: set[str] = set()
        self._lock = threading.RLock()
        self._closed = False
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            for sub in sorted(self.path.iterdir()):
                if sub.is_dir() and not sub.name.startswith("."):
                    self._cols[sub.name] = ArrayCollection.load(sub)

    def _col(self, name: str) -> ArrayCollection:
        if self._closed:
            raise StoreError("store is closed")
        col = self._cols.get(name)
        if col is None:
            raise CollectionNotFoundError(f"no collection {name!r} in numpy store {self.path}")
        return col

    def create_collection(self, name: str, dims: Mapping[str, int]) -> None:
        with self._lock:
            if name in self._cols:
                raise StoreError(f"collection {name!r} already exists")
            self._cols[name] = ArrayCollection(dims)
            self._dirty.add(name)

    def has_collection(self, name: str) -> bool:
        return name in self._cols

    def list_collections(self) -> list[str]:
        return sorted(self._cols)

    def dims(self, collection: str) -> dict[str, int]:
        return dict(self._col(collection).dims)

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
                collection, col.dims, arr, vectors, payloads, present
            )
            col.upsert(arr, mats, masks, payloads)
            self._dirty.add(collection)

    def delete(self, collection: str, ids: Sequence[int]) -> None:
        with self._lock:
            self._col(collection).delete(ids)
            self._dirty.add(collection)

    def search(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        hits, _, single = self._scan(collection, vector_name, query, limit, filter)
        return hits[0] if single else hits

    def search_with_low(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> tuple[list[list[Hit]], list[float | None]]:
        """``search`` for (q, d) queries plus each query's lowest allowed score, in ONE scan.

        Eq. 3's whole-bank min-max needs the minimum; other stores find it with a second
        search on the negated query (see ``similarity._prefetch``).
        """
        hits, lows, _ = self._scan(collection, vector_name, query, limit, filter)
        return hits, lows

    def _scan(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None,
    ) -> tuple[list[list[Hit]], list[float | None], bool]:
        col = self._col(collection)
        if vector_name not in col.dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(col.dims)}")
        q, single = as_queries(query, col.dims[vector_name], f"query on {collection}.{vector_name}")
        allowed, n_allowed = col.allowed(filter, vector_name)  # (n,), count
        any_allowed = n_allowed > 0
        mat = col.vectors[vector_name][: col.n]  # (n, d)
        out: list[list[Hit]] = []
        lows: list[float | None] = []
        for start in range(0, q.shape[0], _QUERY_CHUNK):
            scores = mat @ q[start : start + _QUERY_CHUNK].T  # (n, qc)
            for j in range(scores.shape[1]):
                column = scores[:, j]  # (n,)
                rows, s = top_k_rows(column, allowed, limit)
                out.append(
                    [
                        Hit(int(col.ids[r]), float(v), dict(col.payloads[r]))
                        for r, v in zip(rows.tolist(), s.tolist(), strict=True)
                    ]
                )
                lows.append(float(np.where(allowed, column, np.inf).min()) if any_allowed else None)
        return out, lows, single

    def get_vectors(
        self, collection: str, ids: Sequence[int], vector_name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        col = self._col(collection)
        if vector_name not in col.dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(col.dims)}")
        return col.get_vectors(ids, vector_name)

    def get_payloads(self, collection: str, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        col = self._col(collection)
        return [None if r < 0 else dict(col.payloads[r]) for r in col.rows_for(ids).tolist()]

    def count(self, collection: str, vector_name: str | None = None) -> int:
        return self._col(collection).count(vector_name)

    def drop_collection(self, name: str) -> None:
        with self._lock:
            self._cols.pop(name, None)
            self._dirty.discard(name)
            if self.path is not None:
                shutil.rmtree(self.path / name, ignore_errors=True)

    def flush(self) -> None:
        """Write changed collections to disk (no-op in memory-only mode)."""
        with self._lock:
            if self.path is None:
                self._dirty.clear()
                return
            for name in sorted(self._dirty):
                if name in self._cols:
                    self._cols[name].save(self.path / name)
            self._dirty.clear()

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._cols.clear()
