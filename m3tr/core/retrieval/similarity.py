"""Temporal-aware retrieval, paper Eq. 3.

    SS(V_i, V_j) = sqrt( Norm(R_i . R_j)^2 + Norm(s_i . s_j)^2 )

R: unified semantic vector; s: mean-pooled MHP signature. Candidates are the union of the top-N
by each named vector (prefetch), re-scored exactly from the stored vectors; the top-S by SS are
returned. Norm is a per-query min-max, computed here, client-side (no store's query language
can do a per-query min-max), over one of two sets (``norm``):

- ``"bank"`` (default): the whole allowed bank, as in the paper's "compute SS with every video
  in B". Its max is the top prefetch hit; its min is found with one more top-1 search on the
  negated query (min_j x_j.q = -max_j x_j.(-q)). Scores then equal the exact Eq. 3 over the
  whole bank, and the result carries a certificate (``certified``, Fagin's threshold test): no
  unseen video can beat the S-th hit if SS(S-th) >= SS(N-th content score, N-th trajectory
  score), since an unseen video is at most the N-th on both axes.
- ``"candidates"``: the prefetched union only. Cheaper by two top-1 searches, but its scale
  moves with N, so it agrees with the whole-bank Eq. 3 only as N approaches the bank size
  (on CED Weibo, recall@10 plateaus near 0.89: benchmarks/results/retrieval.md).

Joint prefetch (``norm="bank"`` and a ``joint`` vector in the collection, as ``bank.build_bank``
makes): prefetching each axis separately misses videos that are good on BOTH axes but top-N on
neither (on 1M clustered vectors, recall@10 fell to 0.19 at N=100). Since
sqrt(c'^2 + s'^2) <= c' + s' for c', s' >= 0, the linear proxy c' + s' = a.(R_j.R_q) +
b.(s_j.s_q) + const, with a = 1/(c_max - c_min) and b = 1/(s_max - s_min) from the per-axis
prefetch, upper-bounds Eq. 3 and is ONE inner product with the weighted query
[a.R_q, b.s_q] over the ``joint`` vectors [R_j, s_j]. Its top-N joins the candidate union, and
its N-th score is a second threshold for the certificate. An HNSW graph over the joint vectors
serves that re-weighted query poorly at scale (a quarter of the proxy's true top-100 found at
200k clustered vectors), so on Qdrant Edge the engine re-ranks by the proxy the union of the
joint HNSW top-N and the content top-``pool`` (one query-API request per query), where the
videos the graph misses mostly are.

Weighted form for the UI slider, w in [0, 1] (w = content weight):

    SS_w = sqrt(2) * sqrt( w * Norm(c)^2 + (1 - w) * Norm(s)^2 )

w = 0.5 gives Eq. 3 exactly; w = 1 ranks by content only, w = 0 by trajectory only. The
sqrt(2) keeps SS_w on Eq. 3's scale [0, sqrt(2)].

Fallback: with no temporal vector for the query (cold start) or no temporal model, retrieval is
by content only (``mode="content_only"``, ``reason`` says why); ``combined`` is then Norm(c).
A bank candidate without a temporal vector gets Norm(s) = 0 (the worst) in temporal-aware mode.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from m3tr.core.retrieval.leakage import check_hits
from m3tr.core.retrieval.prefetch import (
    JOINT,
    SEMANTIC,
    TEMPORAL,
    AxisPrefetch,
    JointPrefetch,
    client_prefetch,
    client_prefetch_both,
    engine_prefetch,
    engine_scores,
    in_engine,
    joint_prefetch,
)
from m3tr.core.retrieval.store import Filter, VectorStore

logger = logging.getLogger(__name__)

DEFAULT_TOP_S = 10
# Prefetch per named vector (semantic, temporal, joint). On ../shared/data (CED Weibo, 2,032
# posts) recall@10 vs exact Eq. 3 over the whole bank is 0.9999 from N = 20 and 1.0 from N = 30
# (`m3tr bench retrieval-prefetch`); on 1M clustered vectors with FAISS IVF-PQ (nprobe 24),
# N = 50 reached 0.961. On Qdrant Edge (HNSW m 16) at 100k clustered vectors N = 50 stops at
# recall@10 0.89-0.91 whatever hnsw_ef (the joint vector's HNSW search under Eq. 3's per-query
# weights is the weak part), N = 100 gives 0.95-0.99 (ef 32-256): hence N = 100 with ef 128.
# The bank-minimum beam counts as much (Edge low_hnsw_ef 32 / 64 / 128: 0.953 / 0.963 / 0.984).
# At 1M on Edge the joint HNSW graph alone gave 0.762 at N = 100; the engine's re-rank of the
# content top-1000 with it (``EdgeStore.rerank_pool``) gives 0.967. See
# benchmarks/results/retrieval.md.
DEFAULT_PREFETCH_N = 100

Mode = Literal["temporal_aware", "content_only"]
NO_BANK_TEMPORAL = "the bank has no temporal vectors (among the videos the filter allows)"
Norm = Literal["bank", "candidates"]


@dataclass(frozen=True)
class Neighbour:
    """One retrieved video with the parts of its score.

    content / temporal: min-max normalised similarities in [0, 1] (temporal None in
    content-only mode); content_raw / temporal_raw: the dot products; combined: SS (Eq. 3).
    """

    video_id: int
    combined: float
    content: float
    temporal: float | None
    content_raw: float
    temporal_raw: float | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrievalResult:
    hits: list[Neighbour]
    mode: Mode
    reason: str | None = None
    n_candidates: int = 0
    certified: bool | None = None  # True: provably the exact top-S (norm="bank" only)

    @property
    def video_ids(self) -> list[int]:
        return [h.video_id for h in self.hits]


def min_max(x: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Min-max normalise (m,) to [0, 1] with bounds lo/hi (default: x's own min/max).

    All-equal values (hi == lo) map to 1, never NaN.
    """
    x = np.asarray(x, dtype=np.float64)  # (m,)
    if x.size == 0:
        return x
    lo = float(x.min()) if lo is None else min(float(lo), float(x.min()))
    hi = float(x.max()) if hi is None else max(float(hi), float(x.max()))
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.ones_like(x)
    return (x - lo) / (hi - lo)


def combine(content_norm: np.ndarray, temporal_norm: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """SS_w = sqrt(2 * (w c^2 + (1-w) s^2)); w = 0.5 is Eq. 3. Shapes (m,) -> (m,)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    c = np.asarray(content_norm, dtype=np.float64)
    s = np.asarray(temporal_norm, dtype=np.float64)
    return np.sqrt(2.0 * (weight * c**2 + (1.0 - weight) * s**2))


Bounds = tuple[float, float] | None


def eq3_scores(
    content_raw: np.ndarray,
    temporal_raw: np.ndarray,
    temporal_present: np.ndarray | None = None,
    weight: float = 0.5,
    content_bounds: Bounds = None,
    temporal_bounds: Bounds = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eq. 3 over one candidate set.

    content_raw, temporal_raw: (m,) dot products; temporal_present: (m,) bool (False = the
    candidate has no temporal vector: its Norm(s) is 0). *_bounds: (min, max) to normalise
    with (default: over these candidates). Returns (combined, c_norm, s_norm), each (m,).
    """
    c_norm = min_max(content_raw, *(content_bounds or (None, None)))  # (m,)
    present = (
        np.ones(len(temporal_raw), dtype=bool)
        if temporal_present is None
        else np.asarray(temporal_present, dtype=bool)
    )
    s_norm = np.zeros(len(temporal_raw), dtype=np.float64)  # (m,)
    if present.any():
        s_norm[present] = min_max(
            np.asarray(temporal_raw)[present], *(temporal_bounds or (None, None))
        )
    return combine(c_norm, s_norm, weight), c_norm, s_norm


def _top(video_ids: np.ndarray, combined: np.ndarray, k: int) -> np.ndarray:
    """Indices of the top-k by combined score, ties broken by lower video id."""
    order = np.lexsort((video_ids, -combined))
    return order[:k]


def retrieve_batch(
    store: VectorStore,
    collection: str,
    query_semantic: np.ndarray,
    query_temporal: np.ndarray | None,
    *,
    top_s: int = DEFAULT_TOP_S,
    prefetch_n: int = DEFAULT_PREFETCH_N,
    filter: Filter | None = None,
    query_ids: Sequence[int | None] | None = None,
    weight: float = 0.5,
    norm: Norm = "bank",
    temporal_reason: str | None = None,
    pool: int | None = None,
) -> list[RetrievalResult]:
    """Eq. 3 retrieval for q queries at once.

    query_semantic: (q, d_R). query_temporal: (q, d_s) or None (content only, for all).
    query_ids: the queries' own video ids, always excluded (no self-retrieval).
    temporal_reason: why ``query_temporal`` is None (shown in the result).
    pool: the content top-k the engine re-ranks by the joint proxy (Qdrant Edge; None: the
    store's rule, 0.1% of the bank within 100-1000; 0: none).
    """
    qs = np.atleast_2d(np.asarray(query_semantic, dtype=np.float32))  # (q, d_R)
    nq = qs.shape[0]
    ids = list(query_ids) if query_ids is not None else [None] * nq
    if len(ids) != nq:
        raise ValueError(f"{len(ids)} query ids for {nq} queries")
    if top_s < 1 or prefetch_n < 1:
        raise ValueError(f"top_s and prefetch_n must be >= 1, got {top_s}, {prefetch_n}")
    if norm not in ("bank", "candidates"):
        raise ValueError(f"norm must be 'bank' or 'candidates', got {norm!r}")
    base = filter or Filter()
    filters = [base if i is None else base.with_excluded([i]) for i in ids]
    dims = store.dims(collection)
    temporal_ok = query_temporal is not None and TEMPORAL in dims
    if query_temporal is not None and not temporal_ok:
        temporal_reason = NO_BANK_TEMPORAL
    n = max(prefetch_n, top_s)
    engine = norm == "bank" and in_engine(store)  # Qdrant Edge: filters and scores in-engine
    # Client side, exclusions differ per query: prefetch with the shared filter, over-fetching
    # by one, then drop each query's own id (keeps the store call batched).
    extra = 0 if engine or all(i is None for i in ids) else 1
    bank = norm == "bank"
    qt = None if not temporal_ok else np.atleast_2d(np.asarray(query_temporal, dtype=np.float32))
    if qt is not None and qt.shape[0] != nq:  # (q, d_s)
        raise ValueError(f"{qt.shape[0]} temporal queries for {nq} semantic queries")
    if qt is None:
        if engine:
            sem = engine_prefetch(store, collection, [(SEMANTIC, qs)], n, filters)[0]
        else:
            sem = client_prefetch(store, collection, SEMANTIC, qs, n, base, filters, extra, bank)
        reason = temporal_reason or "no temporal query"
        out = [_content_only(sem[j], top_s, reason) for j in range(nq)]
        return _with_payloads(store, collection, out, filters, engine)
    if engine:
        sem, tem = engine_prefetch(store, collection, [(SEMANTIC, qs), (TEMPORAL, qt)], n, filters)
    else:
        sem, tem = client_prefetch_both(store, collection, qs, qt, n, base, filters, extra, bank)
    joint: list[JointPrefetch | None] = [None] * nq
    if bank and JOINT in dims:
        joint = list(
            joint_prefetch(
                store, collection, qs, qt, sem, tem, n, base, filters, extra, weight, pool
            )
        )
    with_t = [j for j in range(nq) if tem[j].ids.size]  # else: no allowed bank trajectory
    if engine:
        scored = engine_scores(
            store, collection, qs[with_t], qt[with_t], [sem[j] for j in with_t],
            [tem[j] for j in with_t], [joint[j] for j in with_t],
        )  # fmt: skip
    else:
        scored = [
            _client_scores(store, collection, qs[j], qt[j], sem[j], tem[j], joint[j])
            for j in with_t
        ]
    by_query = dict(zip(with_t, scored, strict=True))
    out = [
        _temporal_aware(by_query[j], sem[j], tem[j], top_s, weight, norm, joint[j])
        if j in by_query
        else _content_only(sem[j], top_s, NO_BANK_TEMPORAL)
        for j in range(nq)
    ]
    return _with_payloads(store, collection, out, filters, engine)


def joint_vectors(semantic: np.ndarray, temporal: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(n, d_R + d_s) concat(R, s), s zeroed where ``present`` (n,) is False."""
    tem = np.where(np.asarray(present, dtype=bool)[:, None], temporal, 0.0)  # (n, d_s)
    return np.ascontiguousarray(np.concatenate([semantic, tem], axis=1), dtype=np.float32)


def retrieve(
    store: VectorStore,
    collection: str,
    query_semantic: np.ndarray,
    query_temporal: np.ndarray | None,
    *,
    top_s: int = DEFAULT_TOP_S,
    prefetch_n: int = DEFAULT_PREFETCH_N,
    filter: Filter | None = None,
    query_id: int | None = None,
    weight: float = 0.5,
    norm: Norm = "bank",
    temporal_reason: str | None = None,
    pool: int | None = None,
) -> RetrievalResult:
    """Eq. 3 retrieval for one query: query_semantic (d_R,), query_temporal (d_s,) or None."""
    if query_temporal is None and temporal_reason is None:
        temporal_reason = "the video has no temporal vector yet (cold start)"
    return retrieve_batch(
        store,
        collection,
        np.asarray(query_semantic)[None, :],
        None if query_temporal is None else np.asarray(query_temporal)[None, :],
        top_s=top_s,
        prefetch_n=prefetch_n,
        filter=filter,
        query_ids=[query_id],
        weight=weight,
        norm=norm,
        temporal_reason=temporal_reason,
        pool=pool,
    )[0]


def _with_payloads(
    store: VectorStore,
    collection: str,
    results: list[RetrievalResult],
    filters: list[Filter],
    engine: bool,
) -> list[RetrievalResult]:
    """Each result's hits with their payloads, checked against the query's filter.

    Client-side prefetches carry every candidate's payload already; engine prefetches carry
    none, and the final hits' payloads come in ONE store call for all queries.
    """
    if engine:
        wanted = sorted({h.video_id for r in results for h in r.hits})
        got = dict(zip(wanted, store.get_payloads(collection, wanted), strict=True))
        results = [
            replace(r, hits=[replace(h, payload=got[h.video_id] or {}) for h in r.hits])
            for r in results
        ]
    for r, flt in zip(results, filters, strict=True):
        check_hits(flt, ((h.video_id, h.payload) for h in r.hits))
    return results


def _content_only(pf: AxisPrefetch, top_s: int, reason: str) -> RetrievalResult:
    raw = pf.scores  # (m,)
    normed = min_max(raw, pf.lo, pf.hi)
    top = _top(pf.ids, normed, top_s)
    out = [
        Neighbour(
            int(pf.ids[i]),
            float(normed[i]),
            float(normed[i]),
            None,
            float(raw[i]),
            None,
            pf.payloads.get(int(pf.ids[i]), {}),
        )
        for i in top.tolist()
    ]
    return RetrievalResult(out, "content_only", reason, n_candidates=int(pf.ids.size))


def _threshold(pf: AxisPrefetch, bounds: Bounds) -> float:
    """Normalised score of the N-th prefetch hit (0 if the prefetch saw every allowed point)."""
    if pf.exhausted or not pf.ids.size or bounds is None:
        return 0.0
    return float(min_max(np.asarray([pf.scores[-1]]), *bounds)[0])


Scored = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, dict[str, Any]]]


def _client_scores(
    store: VectorStore,
    collection: str,
    q_sem: np.ndarray,
    q_tem: np.ndarray,
    sem: AxisPrefetch,
    tem: AxisPrefetch,
    joint: JointPrefetch | None,
) -> Scored:
    """Exact (vids, content dot, trajectory dot, has trajectory) of the candidate union, each
    (m,), from the stored vectors, and the candidates' payloads."""
    payloads: dict[int, dict[str, Any]] = {}
    for pl in (sem.payloads, tem.payloads, joint.payloads if joint is not None else {}):
        for vid, p in pl.items():
            payloads.setdefault(vid, p)
    vids = np.asarray(sorted(payloads), dtype=np.int64)  # (m,) candidate union
    sem_vecs, _ = store.get_vectors(collection, vids.tolist(), SEMANTIC)  # (m, d_R)
    tem_vecs, has_t = store.get_vectors(collection, vids.tolist(), TEMPORAL)  # (m, d_s)
    c_raw = sem_vecs.astype(np.float64) @ q_sem.astype(np.float64)  # (m,)
    s_raw = tem_vecs.astype(np.float64) @ q_tem.astype(np.float64)  # (m,)
    return vids, c_raw, s_raw, has_t, payloads


def _temporal_aware(
    scored: Scored | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    sem: AxisPrefetch,
    tem: AxisPrefetch,
    top_s: int,
    weight: float,
    norm: Norm,
    joint: JointPrefetch | None = None,
) -> RetrievalResult:
    vids, c_raw, s_raw, has_t = scored[:4]  # (m,) each
    payloads: dict[int, dict[str, Any]] = scored[4] if len(scored) > 4 else {}  # type: ignore[misc]
    if vids.size == 0:
        return RetrievalResult([], "temporal_aware", None, 0, certified=True)
    c_bounds = (sem.lo, sem.hi) if norm == "bank" and sem.lo is not None else None
    t_bounds = (tem.lo, tem.hi) if norm == "bank" and tem.lo is not None else None
    if c_bounds is not None:  # widen with the exact candidate scores (approximate stores)
        c_bounds = (min(c_bounds[0], float(c_raw.min())), max(c_bounds[1], float(c_raw.max())))
    if t_bounds is not None and has_t.any():
        present = s_raw[has_t]
        t_bounds = (min(t_bounds[0], float(present.min())), max(t_bounds[1], float(present.max())))
    combined, c_norm, s_norm = eq3_scores(c_raw, s_raw, has_t, weight, c_bounds, t_bounds)
    top = _top(vids, combined, top_s)
    certified = None
    if norm == "bank":
        bound = combine(
            np.asarray([_threshold(sem, c_bounds)]), np.asarray([_threshold(tem, t_bounds)]), weight
        )[0]
        if joint is not None:  # an unseen video's Eq. 3 <= its proxy <= the N-th proxy ...
            bound = min(bound, joint.threshold)
            if not joint.covers_cold:  # a video without trajectory: Eq. 3 = sqrt(2w) c'_j
                bound = max(bound, float(np.sqrt(2.0 * weight)) * _threshold(sem, c_bounds))
        enough = top.size >= top_s or (sem.exhausted and tem.exhausted)
        certified = bool(enough and (top.size == 0 or combined[top[-1]] >= bound))
    out = [
        Neighbour(
            int(vids[i]),
            float(combined[i]),
            float(c_norm[i]),
            float(s_norm[i]) if has_t[i] else None,
            float(c_raw[i]),
            float(s_raw[i]) if has_t[i] else None,
            payloads.get(int(vids[i]), {}),
        )
        for i in top.tolist()
    ]
    return RetrievalResult(out, "temporal_aware", None, int(vids.size), certified)
