"""NumPy exact store: the reference every other backend is checked against.

Search is an exact scan (one matrix product per query batch, then ``argpartition``), so its
cost is bounded by memory bandwidth: each query reads the whole (n, d) float32 matrix once;
batching queries reads it once per batch. Persisted per collection as .npy + JSON under
``root/<collection>/`` (written by ``flush``/``close``, atomically; ``array_store``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from m3tr.core.retrieval.array_collection import ArrayCollection
from m3tr.core.retrieval.array_store import ArrayStore
from m3tr.core.retrieval.store import Filter, Hit, as_queries

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


class NumpyStore(ArrayStore[ArrayCollection]):
    """Exact in-memory store; ``path=None`` keeps everything in memory only."""

    backend = "numpy"

    def _new(self, arrays: ArrayCollection) -> ArrayCollection:
        return arrays

    def _load(self, folder: Path) -> ArrayCollection:
        return ArrayCollection.load(folder)

    def _arrays(self, col: ArrayCollection) -> ArrayCollection:
        return col

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
        col = self._check_name(collection, vector_name)
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
