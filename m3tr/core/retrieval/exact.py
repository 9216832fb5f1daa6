"""Exact Eq. 3 over a whole bank held as arrays: the reference that recall is measured against.

Unlike ``retrieve`` (prefetch top-N per vector, min-max over that union), this scores every
allowed bank item and min-maxes over all of them. Chunked so a 1M x 384 bank fits in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from m3tr.core.retrieval.similarity import eq3_scores


def exact_eq3_top(
    semantic: np.ndarray,
    temporal: np.ndarray,
    has_temporal: np.ndarray,
    ids: np.ndarray,
    q_semantic: np.ndarray,
    q_temporal: np.ndarray,
    allowed: np.ndarray | None = None,
    top_s: int = 10,
    weight: float = 0.5,
) -> list[list[int]]:
    """Top-S ids by exact Eq. 3 for each query.

    semantic: (n, d_R); temporal: (n, d_s); has_temporal: (n,) bool; ids: (n,) int;
    q_semantic: (q, d_R); q_temporal: (q, d_s); allowed: (n,) bool, or (q, n) per query.
    """
    qs = np.atleast_2d(q_semantic).astype(np.float32)  # (q, d_R)
    qt = np.atleast_2d(q_temporal).astype(np.float32)  # (q, d_s)
    n = semantic.shape[0]
    if allowed is None:
        allowed = np.ones(n, dtype=bool)
    out: list[list[int]] = []
    step = 16
    for start in range(0, qs.shape[0], step):
        c_all = semantic @ qs[start : start + step].T  # (n, qc)
        s_all = temporal @ qt[start : start + step].T  # (n, qc)
        for j in range(c_all.shape[1]):
            mask = allowed if allowed.ndim == 1 else allowed[start + j]
            rows = np.flatnonzero(mask)  # (m,)
            combined, _, _ = eq3_scores(c_all[rows, j], s_all[rows, j], has_temporal[rows], weight)
            order = np.lexsort((ids[rows], -combined))[:top_s]
            out.append(ids[rows[order]].tolist())
    return out


def recall_at(approx: Sequence[Sequence[int]], exact: Sequence[Sequence[int]]) -> float:
    """Mean over queries of |approx ∩ exact| / |exact| (queries with empty exact are skipped)."""
    vals = [len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True) if len(e) > 0]
    return float(np.mean(vals)) if vals else 1.0


def prefetch_recall_curve(
    semantic: np.ndarray,
    temporal: np.ndarray,
    has_temporal: np.ndarray,
    ns: Sequence[int],
    top_s: int = 10,
    query_rows: Sequence[int] | None = None,
    norm: str = "bank",
    joint: bool = True,
) -> dict[int, float]:
    """Recall@S of prefetch-N retrieval vs exact Eq. 3, leave-one-out over bank members.

    semantic: (n, d_R); temporal: (n, d_s); has_temporal: (n,) bool. Each query is a bank
    member with a temporal vector, retrieving from all the others. ``joint``: store the joint
    vector too (as banks do), enabling the joint prefetch. Returns {N: recall}.
    """
    from m3tr.core.retrieval.numpy_store import NumpyStore
    from m3tr.core.retrieval.similarity import joint_vectors, retrieve_batch

    n = semantic.shape[0]
    ids = np.arange(n)
    rows = np.asarray(
        query_rows if query_rows is not None else np.flatnonzero(has_temporal), dtype=np.int64
    )
    store = NumpyStore()
    dims = {"semantic": semantic.shape[1], "temporal": temporal.shape[1]}
    vectors = {"semantic": semantic, "temporal": temporal}
    if joint:
        dims["joint"] = dims["semantic"] + dims["temporal"]
        vectors["joint"] = joint_vectors(semantic, temporal, has_temporal)
    store.create_collection("recall", dims)
    store.upsert(
        "recall", ids.tolist(), vectors, [{} for _ in range(n)], present={"temporal": has_temporal}
    )
    allowed = np.ones((rows.size, n), dtype=bool)  # (q, n): everything but the query itself
    allowed[np.arange(rows.size), rows] = False
    truth = exact_eq3_top(
        semantic, temporal, has_temporal, ids, semantic[rows], temporal[rows], allowed, top_s
    )
    curve = {}
    for big_n in ns:
        res = retrieve_batch(
            store,
            "recall",
            semantic[rows],
            temporal[rows],
            top_s=top_s,
            prefetch_n=int(big_n),
            query_ids=rows.tolist(),
            norm=norm,  # type: ignore[arg-type]
        )
        curve[int(big_n)] = recall_at([r.video_ids for r in res], truth)
    return curve
