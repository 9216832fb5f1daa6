"""Eq. 3's prefetch: the candidates and the bank bounds, from any store, in as few calls as it
allows (``similarity`` turns them into Eq. 3 scores).

Two ways, chosen by what the store offers:

- Client side (NumPy, FAISS, qdrant-client): ``search`` (or the store's fused
  ``search_with_low[_many]``) with the shared filter, one extra hit per query, and each query's
  own video dropped here; hits carry their payloads.
- In the engine (Qdrant Edge, ``store.prefetch``): one batched engine call per stage with one
  filter per query (its own video excluded by the engine), ids and scores only; payloads are
  fetched for the final top-S alone. Per query: stage 1 = top-N and the bank minimum on
  ``semantic`` and ``temporal`` (four searches, one call); stage 2 = the joint proxy top-N (its
  weights need stage 1's bounds); stage 3 = the exact cross scores of the union (one call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from m3tr.core.retrieval.store import Filter, Hit, IdScores, VectorStore

SEMANTIC = "semantic"
TEMPORAL = "temporal"
JOINT = "joint"  # concat(R, s) (s = 0 where absent): one inner-product search for the L1 proxy


@dataclass
class AxisPrefetch:
    """One vector kind's prefetch for one query: hits best first, and the bank bounds.

    ids (k,) int64, scores (k,) float64; payloads: id -> payload (empty when the store
    filtered in the engine and payloads are fetched for the final hits only).
    """

    ids: np.ndarray
    scores: np.ndarray
    payloads: dict[int, dict[str, Any]] = field(default_factory=dict)
    lo: float | None = None
    hi: float | None = None
    exhausted: bool = False  # fewer than N allowed points: the prefetch saw all of them


@dataclass
class JointPrefetch:
    """Joint prefetch of one query: hits, and the proxy value of its N-th hit (the threshold)."""

    ids: np.ndarray
    scores: np.ndarray
    payloads: dict[int, dict[str, Any]]
    threshold: float
    covers_cold: bool  # True when the proxy also bounds videos without a trajectory (s_lo <= 0)


def in_engine(store: VectorStore) -> bool:
    """True when the store filters, prefetches, re-ranks and re-scores in its engine (Qdrant
    Edge)."""
    methods = ("prefetch", "rerank", "rerank_pool", "score_points")
    return all(callable(getattr(store, m, None)) for m in methods)


def from_hits(hits: Sequence[Hit], n: int, low: float | None) -> AxisPrefetch:
    """Hits already filtered (best first), at most ``n`` kept, as an ``AxisPrefetch``."""
    kept = list(hits)[:n]
    pf = AxisPrefetch(
        np.fromiter((h.video_id for h in kept), dtype=np.int64, count=len(kept)),
        np.fromiter((h.score for h in kept), dtype=np.float64, count=len(kept)),
        {h.video_id: h.payload for h in kept},
        exhausted=len(kept) < n,
    )
    if kept:
        pf.hi = kept[0].score
        pf.lo = low if low is not None else kept[-1].score
    return pf


def from_engine(got: IdScores, n: int) -> AxisPrefetch:
    """An engine prefetch (already filtered, at most ``n`` hits) as an ``AxisPrefetch``."""
    pf = AxisPrefetch(got.ids, got.scores, exhausted=got.ids.size < n)
    if got.ids.size:
        pf.hi = float(got.scores[0])
        pf.lo = got.low if got.low is not None else float(got.scores[-1])
    return pf


def client_prefetch(
    store: VectorStore,
    collection: str,
    name: str,
    queries: np.ndarray,
    n: int,
    base: Filter,
    filters: list[Filter],
    extra: int,
    bank: bool,
) -> list[AxisPrefetch]:
    """Top-n per query (own id dropped) and, with ``bank``, the bank's min via -query."""
    fused = getattr(store, "search_with_low", None)
    if bank and callable(fused):  # top-n and the minimum in one scan / one batch
        raw, lows = fused(collection, name, queries, n + extra, base)
        return kept_prefetches(raw, lows, filters, n)
    out = kept_prefetches(
        store.search(collection, name, queries, n + extra, base), None, filters, n
    )
    if bank:
        lows = store.search(collection, name, -queries, 1 + extra, base)
        for j, pf in enumerate(out):
            low = [h for h in lows[j] if filters[j].accepts(h.video_id, h.payload)]
            if pf.ids.size:
                pf.lo = -low[0].score if low else float(pf.scores[-1])
    return out


def kept_prefetches(
    raw: list[list[Hit]], lows: list[float | None] | None, filters: list[Filter], n: int
) -> list[AxisPrefetch]:
    """Each query's hits its own filter accepts (top n), with the bank max and, given, min."""
    out = []
    for j, hits in enumerate(raw):
        kept = [h for h in hits if filters[j].accepts(h.video_id, h.payload)]
        out.append(from_hits(kept, n, lows[j] if lows is not None else None))
    return out


def client_prefetch_both(
    store: VectorStore,
    collection: str,
    qs: np.ndarray,
    qt: np.ndarray,
    n: int,
    base: Filter,
    filters: list[Filter],
    extra: int,
    bank: bool,
) -> tuple[list[AxisPrefetch], list[AxisPrefetch]]:
    """Both axes' prefetch; one store call where the store batches several vector names."""
    many = getattr(store, "search_with_low_many", None)
    if bank and callable(many):
        (sr, sl), (tr, tl) = many(collection, [(SEMANTIC, qs), (TEMPORAL, qt)], n + extra, base)
        return kept_prefetches(sr, sl, filters, n), kept_prefetches(tr, tl, filters, n)
    return (
        client_prefetch(store, collection, SEMANTIC, qs, n, base, filters, extra, bank),
        client_prefetch(store, collection, TEMPORAL, qt, n, base, filters, extra, bank),
    )


def engine_prefetch(
    store: Any,
    collection: str,
    searches: list[tuple[str, np.ndarray]],
    n: int,
    filters: list[Filter],
) -> list[list[AxisPrefetch]]:
    """Top-n and the bank minimum for each (name, (q, d) queries), in one engine call."""
    got = store.prefetch(collection, searches, n, filters, low=True)
    return [[from_engine(g, n) for g in per_query] for per_query in got]


def axis_scale(pf: AxisPrefetch) -> tuple[float, float]:
    """(1 / range, low) of one axis' bank bounds (range 0 -> scale 1)."""
    lo = pf.lo if pf.lo is not None else 0.0
    hi = pf.hi if pf.hi is not None else lo
    return (1.0 / (hi - lo) if hi - lo > 1e-12 else 1.0), lo


def joint_queries(
    qs: np.ndarray,
    qt: np.ndarray,
    sem: list[AxisPrefetch],
    tem: list[AxisPrefetch],
    weight: float,
) -> tuple[np.ndarray, list[float], list[float]]:
    """The weighted proxy queries [wc a R_q, wt b s_q] (q, d_R + d_s), their offsets, t lows."""
    wc, wt = np.sqrt(2.0 * weight), np.sqrt(2.0 * (1.0 - weight))
    rows, offsets, t_lows = [], [], []
    for j in range(qs.shape[0]):
        (a, c_lo), (b, t_lo) = axis_scale(sem[j]), axis_scale(tem[j])
        rows.append(np.concatenate([wc * a * qs[j], wt * b * qt[j]]))  # (d_R + d_s,)
        offsets.append(wc * a * c_lo + wt * b * t_lo)
        t_lows.append(t_lo)
    return np.asarray(rows, dtype=np.float32), offsets, t_lows


def joint_prefetch(
    store: VectorStore,
    collection: str,
    qs: np.ndarray,
    qt: np.ndarray,
    sem: list[AxisPrefetch],
    tem: list[AxisPrefetch],
    n: int,
    base: Filter,
    filters: list[Filter],
    extra: int,
    weight: float,
    pool: int | None = 0,
) -> list[JointPrefetch]:
    """Top-n by the weighted linear proxy of Eq. 3, one batched search over ``joint``.

    In the engine (Qdrant Edge) with ``pool`` > 0, the proxy's own top-n (HNSW on ``joint``)
    joins the content top-``pool`` and the engine re-ranks the union by the proxy, exactly:
    under Eq. 3's per-query weights an HNSW walk on ``joint`` alone finds a quarter of the
    proxy's true top-100 on 200k clustered vectors, while the videos it misses are mostly
    near the query in content (benchmarks/results/retrieval.md). The n-th re-ranked proxy
    stays a threshold for the certificate: the pool holds the proxy's own top-n.
    pool None: the store's own rule (``EdgeStore.rerank_pool``); 0: no re-rank.
    """
    jq, offsets, t_lows = joint_queries(qs, qt, sem, tem, weight)  # (q, d_R + d_s)
    if in_engine(store) and pool is None:
        pool = int(store.rerank_pool(collection))
    if in_engine(store) and pool:
        pools = [(SEMANTIC, qs, max(pool, n)), (JOINT, jq, n)]
        pfs = [from_engine(g, n) for g in store.rerank(collection, JOINT, jq, pools, n, filters)]
    elif in_engine(store):
        got = store.prefetch(collection, [(JOINT, jq)], n, filters, low=False)[0]
        pfs = [from_engine(g, n) for g in got]
    else:
        raw = store.search(collection, JOINT, jq, n + extra, base)
        pfs = kept_prefetches(raw, None, filters, n)
    out = []
    for j, pf in enumerate(pfs):
        threshold = 0.0 if pf.exhausted or not pf.ids.size else float(pf.scores[-1]) - offsets[j]
        out.append(
            JointPrefetch(
                pf.ids, pf.scores, pf.payloads, max(threshold, 0.0), covers_cold=t_lows[j] <= 0.0
            )
        )
    return out


def engine_scores(
    store: Any,
    collection: str,
    qs: np.ndarray,
    qt: np.ndarray,
    sem: list[AxisPrefetch],
    tem: list[AxisPrefetch],
    joint: list[JointPrefetch | None],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Exact (vids, content dot, trajectory dot, has trajectory) of each query's candidate
    union, each (m,), with ONE engine call for every query.

    A prefetch hit's own-axis score is the engine's exact dot product (no quantization), so
    only the missing axis is scored: semantic hits on ``temporal``, temporal hits on
    ``semantic``, joint hits on both.
    """
    requests: list[tuple[str, np.ndarray, list[int]]] = []
    plans = []
    for j in range(qs.shape[0]):
        c = dict(zip(sem[j].ids.tolist(), sem[j].scores.tolist(), strict=True))
        s = dict(zip(tem[j].ids.tolist(), tem[j].scores.tolist(), strict=True))
        union = set(c) | set(s)
        jt = joint[j]
        if jt is not None:
            union.update(jt.ids.tolist())
        need_c = [v for v in union if v not in c]
        need_s = [v for v in union if v not in s]
        plans.append((c, s, sorted(union), len(requests)))
        requests.append((SEMANTIC, qs[j], need_c))
        requests.append((TEMPORAL, qt[j], need_s))
    todo = [(k, r) for k, r in enumerate(requests) if r[2]]
    done = store.score_points(collection, [r for _, r in todo]) if todo else []
    got: dict[int, dict[int, float]] = {k: d for (k, _), d in zip(todo, done, strict=True)}
    out = []
    for c, s, union, at in plans:
        c.update(got.get(at, {}))
        s.update(got.get(at + 1, {}))
        vids = np.asarray(union, dtype=np.int64)  # (m,)
        c_raw = np.fromiter((c.get(v, 0.0) for v in union), dtype=np.float64, count=len(union))
        s_raw = np.fromiter((s.get(v, 0.0) for v in union), dtype=np.float64, count=len(union))
        has_t = np.fromiter((v in s for v in union), dtype=bool, count=len(union))
        out.append((vids, c_raw, s_raw, has_t))
    return out
