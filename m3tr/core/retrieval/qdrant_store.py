"""Qdrant store: named vectors (dot product) in one collection per bank version.

A Qdrant server (``url=...``: what ``M3TR_QDRANT_URL`` selects) or qdrant-client's local mode
(``path=...``). Local mode is no longer the embedded default (Qdrant Edge is: ``edge_store``); it
stays to open workspaces built before, and as the congruence suite's stand-in for the server's
requests where no server is reachable.

Concurrency, read this before deploying:
- Local mode takes an exclusive lock on its folder: only ONE process may open it. A second
  process (another Celery worker, the CLI while the app runs) gets ``StoreLockedError``.
  Running more than one worker process therefore needs the Qdrant server (``M3TR_QDRANT_URL``).
- Local mode's concurrent upserts are not thread-safe (qdrant-client issue #1193), so this
  adapter serialises every write with a lock, and in local mode every read too (local search is
  a NumPy scan under the GIL, so nothing is lost).
- Local mode persists each point in its own SQLite transaction (about 650 points/s here); this
  adapter switches that SQLite file to WAL with ``synchronous=NORMAL`` (about 5,400 points/s):
  still crash-consistent, a power cut may lose the last writes. It reaches a private attribute
  of qdrant-client, so it is guarded and skipped (with a log line) if that changes.
- Local mode is a brute-force scan that Qdrant itself warns about above 20,000 points; see
  ``benchmarks/results/retrieval.md`` for where it stops being usable.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from m3tr.core.retrieval.store import (
    CollectionNotFoundError,
    Filter,
    Hit,
    StoreError,
    StoreLockedError,
    as_queries,
    check_batch,
    check_ids,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QdrantConfig:
    """Where Qdrant lives: ``url`` (server) wins over ``path`` (local folder); neither = memory."""

    path: Path | None = None
    url: str | None = None
    api_key: str | None = None
    timeout_s: int = 60
    upsert_batch: int = 512
    collection_prefix: str = ""  # server collections are named prefix + name (tests, sharing)


def to_qdrant_filter(flt: Filter | None) -> models.Filter | None:
    """Our ``Filter`` as a Qdrant filter (None when it selects everything)."""
    if flt is None or flt.is_empty():
        return None
    must: list[Any] = []
    must_not: list[Any] = []
    if flt.matured_only:
        must.append(models.FieldCondition(key="matured", match=models.MatchValue(value=True)))
    if flt.splits is not None:
        must.append(models.FieldCondition(key="split", match=models.MatchAny(any=list(flt.splits))))
    if flt.exclude_ids:
        must_not.append(models.HasIdCondition(has_id=sorted(flt.exclude_ids)))
    return models.Filter(must=must or None, must_not=must_not or None)


class QdrantStore:
    """Qdrant-backed ``VectorStore``."""

    backend = "qdrant"

    def __init__(self, config: QdrantConfig | None = None) -> None:
        self.config = config or QdrantConfig()
        cfg = self.config
        self.local = cfg.url is None
        self._lock = threading.RLock()
        try:
            if cfg.url is not None:
                self.client = QdrantClient(url=cfg.url, api_key=cfg.api_key, timeout=cfg.timeout_s)
            elif cfg.path is not None:
                Path(cfg.path).mkdir(parents=True, exist_ok=True)
                self.client = QdrantClient(path=str(cfg.path))
            else:
                self.client = QdrantClient(location=":memory:")
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreLockedError(
                    f"Qdrant local folder {cfg.path} is open in another process; local mode is "
                    "single-process: run a Qdrant server (M3TR_QDRANT_URL) for several workers"
                ) from exc
            raise

        if self.local and cfg.path is not None:
            for name in self.list_collections():
                self._tune_local_sqlite(self._n(name))

    def _tune_local_sqlite(self, collection: str) -> None:
        """WAL + synchronous=NORMAL on a local collection's SQLite file (see module doc)."""
        try:
            conn = self.client._client.collections[collection].storage.storage
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except (AttributeError, KeyError, TypeError) as exc:  # private API moved
            logger.info("qdrant local: could not tune SQLite for %s (%s)", collection, exc)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        if self.local:
            with self._lock:
                yield
        else:
            yield

    def _n(self, name: str) -> str:
        return self.config.collection_prefix + name

    def _check(self, name: str) -> None:
        if not self.client.collection_exists(self._n(name)):
            raise CollectionNotFoundError(f"no collection {name!r} in qdrant store")

    def create_collection(self, name: str, dims: Mapping[str, int]) -> None:
        if not dims or any(int(d) <= 0 for d in dims.values()):
            raise StoreError(f"collection needs at least one vector name with dim > 0: {dims}")
        with self._lock:
            if self.client.collection_exists(self._n(name)):
                raise StoreError(f"collection {name!r} already exists")
            self.client.create_collection(
                self._n(name),
                vectors_config={
                    k: models.VectorParams(size=int(d), distance=models.Distance.DOT)
                    for k, d in dims.items()
                },
            )
            if not self.local:  # payload indexes have no effect in local mode
                self.client.create_payload_index(
                    self._n(name), "split", models.PayloadSchemaType.KEYWORD
                )
                self.client.create_payload_index(
                    self._n(name), "matured", models.PayloadSchemaType.BOOL
                )
            elif self.config.path is not None:
                self._tune_local_sqlite(self._n(name))

    def has_collection(self, name: str) -> bool:
        with self._reading():
            return self.client.collection_exists(self._n(name))

    def list_collections(self) -> list[str]:
        with self._reading():
            prefix = self.config.collection_prefix
            names = (c.name for c in self.client.get_collections().collections)
            return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    def dims(self, collection: str) -> dict[str, int]:
        with self._reading():
            self._check(collection)
            params = self.client.get_collection(self._n(collection)).config.params.vectors
            return {k: int(v.size) for k, v in params.items()}

    def upsert(
        self,
        collection: str,
        ids: Sequence[int],
        vectors: Mapping[str, np.ndarray | None],
        payloads: Sequence[Mapping[str, Any]],
        present: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        dims = self.dims(collection)
        arr = check_ids(ids)
        mats, masks, payloads = check_batch(collection, dims, arr, vectors, payloads, present)
        lists = {k: m.tolist() for k, m in mats.items()}
        points = [
            models.PointStruct(
                id=vid,
                vector={k: lists[k][i] for k in dims if masks[k][i]},
                payload=dict(payloads[i]),
            )
            for i, vid in enumerate(arr.tolist())
        ]
        step = self.config.upsert_batch
        with self._lock, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Local mode is not recommended.*")
            for start in range(0, len(points), step):
                self.client.upsert(
                    self._n(collection), points=points[start : start + step], wait=True
                )

    def delete(self, collection: str, ids: Sequence[int]) -> None:
        with self._lock:
            self._check(collection)
            self.client.delete(
                self._n(collection),
                points_selector=models.PointIdsList(points=[int(i) for i in ids]),
                wait=True,
            )

    def search(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        dims = self.dims(collection)
        if vector_name not in dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(dims)}")
        q, single = as_queries(query, dims[vector_name], f"query on {collection}.{vector_name}")
        if limit <= 0:
            return [] if single else [[] for _ in range(q.shape[0])]
        qf = to_qdrant_filter(filter)
        requests = [
            models.QueryRequest(
                query=row.tolist(), using=vector_name, filter=qf, limit=limit, with_payload=True
            )
            for row in q
        ]
        with self._reading(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Local mode is not recommended.*")
            responses = self.client.query_batch_points(self._n(collection), requests=requests)
        out = [
            sorted(
                (Hit(int(p.id), float(p.score), dict(p.payload or {})) for p in resp.points),
                key=lambda h: (-h.score, h.video_id),
            )
            for resp in responses
        ]
        return out[0] if single else out

    def get_vectors(
        self, collection: str, ids: Sequence[int], vector_name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        dims = self.dims(collection)
        if vector_name not in dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(dims)}")
        id_list = [int(i) for i in ids]
        with self._reading():
            records = self.client.retrieve(
                self._n(collection), ids=id_list, with_vectors=[vector_name], with_payload=False
            )
        found = {int(r.id): (r.vector or {}).get(vector_name) for r in records}
        out = np.zeros((len(id_list), dims[vector_name]), dtype=np.float32)  # (n, d)
        present = np.zeros(len(id_list), dtype=bool)
        for i, vid in enumerate(id_list):
            vec = found.get(vid)
            if vec is not None:
                out[i] = vec
                present[i] = True
        return out, present

    def get_payloads(self, collection: str, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        with self._reading():
            self._check(collection)
            records = self.client.retrieve(
                self._n(collection), ids=[int(i) for i in ids], with_payload=True
            )
        found = {int(r.id): dict(r.payload or {}) for r in records}
        return [found.get(int(i)) for i in ids]

    def count(self, collection: str, vector_name: str | None = None) -> int:
        with self._reading():
            self._check(collection)
            flt = None
            if vector_name is not None:
                flt = models.Filter(must=[models.HasVectorCondition(has_vector=vector_name)])
            return int(self.client.count(self._n(collection), count_filter=flt, exact=True).count)

    def drop_collection(self, name: str) -> None:
        with self._lock:
            if self.client.collection_exists(self._n(name)):
                self.client.delete_collection(self._n(name))

    def close(self) -> None:
        with self._lock:
            self.client.close()
