"""Qdrant Edge schema pieces: the store's config, the shard config and payload indexes it
creates, our ``Filter`` in Edge terms, and the folder lock that makes one process the owner.

Kept apart from ``edge_store`` (which holds the store itself) to keep modules small.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from m3tr.core.retrieval.store import Filter, StoreLockedError

MATURED_FIELD = "_m3tr_matured"  # shadow of payload["matured"] as 0/1 (see module doc)
_META = "m3tr-collection.json"
_LOCK = ".m3tr-edge.lock"
KEYWORD_FIELDS = ("split", "profile")
FLOAT_FIELDS = ("published_at",)


@dataclass(frozen=True)
class EdgeStoreConfig:
    """Qdrant Edge choices.

    hnsw_m / hnsw_ef_construct: graph degree and build beam. hnsw_ef: search beam (None =
    Qdrant's default, ef = limit). low_hnsw_ef: beam of the top-1 search for the negated query
    that finds Eq. 3's bank minimum (approximate under HNSW at any beam; Eq. 3 widens the bounds
    with the exact candidate scores). exact: scan every point (the exact reference; tests).
    optimize_after: run ``optimize`` inside ``upsert`` after this many points since the last
    one (None = only when called). indexing_threshold_kb / full_scan_threshold_kb: a segment
    with fewer KB of vectors stays plain; a filter leaving fewer KB of points is scanned.
    max_search_threads: the shard's search pool (None = one per CPU). quantization: "int8"
    keeps an int8 copy of every named vector in RAM (Qdrant scalar quantization): the HNSW
    graph is built and walked on it (about 2x faster to build), and every returned score is
    re-scored on the original float32 vectors, so scores stay exact dot products; None: float32
    only. Fixed when a collection is created. segments: how many segments ``optimize`` merges a
    collection into (Qdrant's default_segment_number; 0 = Qdrant's choice, one per CPU). Every
    search walks one HNSW graph per segment, so a read-mostly bank is cheapest to query as 1.
    """

    hnsw_m: int = 16
    hnsw_ef_construct: int = 64
    hnsw_ef: int | None = 128
    low_hnsw_ef: int | None = None
    exact: bool = False
    optimize_after: int | None = 50_000
    indexing_threshold_kb: int = 10_000
    full_scan_threshold_kb: int = 10_000
    max_search_threads: int | None = None
    quantization: str | None = "int8"
    segments: int = 1
    # Eq. 3's re-rank pool (``EdgeStore.rerank_pool``): this fraction of the collection's
    # points, within [min, max]; measured at 100k, 200k, 1M (benchmarks/results/retrieval.md)
    rerank_pool_fraction: float = 0.001
    rerank_pool_min: int = 100
    rerank_pool_max: int = 1000

    def search_params(self, hnsw_ef: int | None, rescore: bool = True) -> qe.SearchParams:
        """Search parameters: the beam, exact or not, and re-scoring on the original vectors
        (``rescore=False``: int8 scores, for a candidate pool that is re-scored afterwards)."""
        quant = None
        if self.quantization is not None:  # exact search ignores the int8 copy altogether
            quant = qe.QuantizationSearchParams(ignore=self.exact, rescore=rescore)
        return qe.SearchParams(hnsw_ef=hnsw_ef, exact=self.exact, quantization=quant)


@functools.lru_cache(maxsize=1024)
def to_edge_filter(flt: Filter | None) -> qe.Filter | None:
    """Our ``Filter`` as an Edge filter (None when it selects everything); built once per
    distinct filter (``Filter`` is frozen and hashable, the Edge object is never mutated)."""
    if flt is None or flt.is_empty():
        return None
    must: list[Any] = []
    if flt.matured_only:
        must.append(qe.FieldCondition(MATURED_FIELD, match=qe.MatchValue(1)))
    if flt.splits is not None:
        must.append(qe.FieldCondition("split", match=qe.MatchAny(list(flt.splits))))
    must_not = [qe.HasIdCondition(set(flt.exclude_ids))] if flt.exclude_ids else None
    return qe.Filter(must=must or None, must_not=must_not)


def edge_config(dims: Mapping[str, int], cfg: EdgeStoreConfig) -> qe.EdgeConfig:
    """The shard config of a new collection: dot-product named vectors, HNSW and optimizer knobs."""
    return qe.EdgeConfig(
        vectors={
            k: qe.EdgeVectorParams(size=int(d), distance=qe.Distance.Dot) for k, d in dims.items()
        },
        hnsw_config=qe.HnswIndexConfig(
            m=cfg.hnsw_m,
            ef_construct=cfg.hnsw_ef_construct,
            full_scan_threshold=cfg.full_scan_threshold_kb,
        ),
        optimizers=qe.EdgeOptimizersConfig(
            indexing_threshold=cfg.indexing_threshold_kb, default_segment_number=cfg.segments
        ),
        max_search_threads=cfg.max_search_threads,
        quantization_config=_quantization(cfg.quantization),
    )


def _quantization(kind: str | None) -> qe.ScalarQuantizationConfig | None:
    if kind is None:
        return None
    if kind != "int8":
        raise ValueError(f"quantization must be 'int8' or None, got {kind!r}")
    return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, always_ram=True)


def create_payload_indexes(shard: qe.EdgeShard) -> None:
    """Payload indexes on the fields the leakage filters (and later filters) use."""
    op = qe.UpdateOperation.create_field_index
    for field in KEYWORD_FIELDS:
        shard.update(op(field, qe.PayloadSchemaType.Keyword))
    for field in FLOAT_FIELDS:
        shard.update(op(field, qe.PayloadSchemaType.Float))
    shard.update(op(MATURED_FIELD, qe.PayloadSchemaType.Integer))


def take_folder_lock(file: Path, what: str) -> int:
    """An exclusive, non-blocking ``flock`` on ``file`` (our pid written in it); returns the fd.

    Raises ``StoreLockedError`` naming the owner's pid and the way out when another process
    holds it. The lock dies with the process, so a killed owner never leaves it stale.
    """
    fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise StoreLockedError(
                f"{what} {file.parent} is open in another process (pid {owner}). Edge is "
                "in-process: one process owns its folder. Run `m3tr serve` with its embedded "
                "worker, or point M3TR_QDRANT_URL at a Qdrant server to run several worker "
                "processes"
            ) from exc
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
