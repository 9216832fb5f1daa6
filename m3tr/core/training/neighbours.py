"""Neighbours for training and evaluation, through the retrieval library (Eq. 3).

Leakage rules (paper §3.4): the bank holds the training videos only (payload split "train");
a training video never retrieves itself (its id is excluded); validation and test videos query
the training bank and are never in it. Every result is re-checked against the filter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from m3tr.core.retrieval.leakage import LeakageError, filter_for
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.similarity import SEMANTIC, TEMPORAL, retrieve_batch

logger = logging.getLogger(__name__)

COLLECTION = "train_bank"


@dataclass
class NeighbourIndex:
    """idx (N, S) int64 rows into the bank (training set); mask (N, S) bool; mode of retrieval."""

    idx: np.ndarray
    mask: np.ndarray
    mode: str


class TrainingBank:
    """The training videos' retrieval vectors in an in-memory store.

    Args:
        video_ids: (N,) ids of the training videos (bank rows, in order).
        semantic: (N, d_r) L2-normalised content vectors R.
        temporal: (N, d_s) L2-normalised trajectory vectors, or None (content-only retrieval).
    """

    def __init__(
        self, video_ids: np.ndarray, semantic: np.ndarray, temporal: np.ndarray | None
    ) -> None:
        self.video_ids = np.asarray(video_ids, dtype=np.int64)
        self.row_of = {int(v): i for i, v in enumerate(self.video_ids)}
        self.store = NumpyStore()
        dims = {SEMANTIC: semantic.shape[1]}
        vectors: dict[str, np.ndarray | None] = {SEMANTIC: semantic}
        if temporal is not None:
            dims[TEMPORAL] = temporal.shape[1]
            vectors[TEMPORAL] = temporal
        self.store.create_collection(COLLECTION, dims)
        payloads = [{"split": "train", "matured": True} for _ in self.video_ids]
        self.store.upsert(COLLECTION, self.video_ids.tolist(), vectors, payloads)
        self.has_temporal = temporal is not None

    def query(
        self,
        semantic: np.ndarray,
        temporal: np.ndarray | None,
        top_s: int,
        query_ids: np.ndarray | None,
        purpose: str,
    ) -> NeighbourIndex:
        """Top-S bank rows for each query (q rows). ``query_ids`` are excluded from their own
        results (training); ``purpose`` is "train" or "eval"."""
        q = semantic.shape[0]
        flt = filter_for(purpose)  # type: ignore[arg-type]
        use_t = temporal if self.has_temporal else None
        results = retrieve_batch(
            self.store,
            COLLECTION,
            semantic,
            use_t,
            top_s=top_s,
            prefetch_n=max(100, top_s),
            filter=flt,
            query_ids=None if query_ids is None else [int(i) for i in query_ids],
            temporal_reason=None if use_t is not None else "content-only retrieval",
        )
        idx = np.zeros((q, top_s), dtype=np.int64)
        mask = np.zeros((q, top_s), dtype=bool)
        for i, res in enumerate(results):
            rows = [self.row_of[v] for v in res.video_ids]
            if query_ids is not None and int(query_ids[i]) in res.video_ids:
                raise LeakageError(f"video {int(query_ids[i])} retrieved itself")
            idx[i, : len(rows)] = rows
            mask[i, : len(rows)] = True
        mode = results[0].mode if results else "content_only"
        return NeighbourIndex(idx, mask, mode)

    def close(self) -> None:
        self.store.close()
