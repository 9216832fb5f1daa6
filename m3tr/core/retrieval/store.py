"""The vector-store interface: our own ``Hit`` and ``Filter`` types, a ``VectorStore`` Protocol.

Every backend (NumPy reference, FAISS, Qdrant) implements the same calls, so the same tests run
against each (``tests/unit/retrieval/test_store_congruence.py``) and no backend type leaks out.

Model: a *collection* holds points keyed by an integer id (the video id, so re-upserting is
idempotent). Each point may carry several *named vectors* (``semantic``, ``temporal``) of fixed
dimension per name; a point may lack one of them (a cold-start video has no ``temporal`` yet).
Each point has a JSON-able payload. Scores are plain dot products (L2-normalise the vectors
first to get cosine similarity).

Payload keys the filter understands (``PAYLOAD_KEYS``): ``split`` (str: train/val/test/live),
``matured`` (bool: horizon past, label final), ``published_at`` (unix seconds, float),
``profile`` (encoder profile), ``labels`` (``{event type: final count}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

PAYLOAD_KEYS = ("split", "matured", "published_at", "profile", "labels")


class StoreError(RuntimeError):
    """A vector-store call was given something it cannot accept, or the store is unusable."""


class CollectionNotFoundError(StoreError):
    """The named collection does not exist in this store."""


class StoreLockedError(StoreError):
    """The store's folder is owned by another process (embedded stores are single-process)."""


@dataclass(frozen=True)
class Hit:
    """One search result: the point id (video id), its dot-product score and its payload."""

    video_id: int
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IdScores:
    """One query's hits as arrays, without payloads (stores that filter in the engine).

    ids: (k,) int64 and scores: (k,) float64, best first; low: the lowest score among the
    points the filter allows (the bank minimum of Eq. 3's min-max), where it was asked for.
    """

    ids: np.ndarray
    scores: np.ndarray
    low: float | None = None


@dataclass(frozen=True)
class Filter:
    """Which points may be returned. All given conditions must hold (logical AND).

    exclude_ids: ids never returned (the query video itself: no self-retrieval).
    matured_only: only points whose payload has ``matured: true``.
    splits: only points whose payload ``split`` is one of these (e.g. ``("train",)``).
    """

    exclude_ids: frozenset[int] = frozenset()
    matured_only: bool = False
    splits: tuple[str, ...] | None = None

    def with_excluded(self, ids: Sequence[int]) -> Filter:
        """The same filter, also excluding ``ids``."""
        return Filter(
            exclude_ids=self.exclude_ids | {int(i) for i in ids},
            matured_only=self.matured_only,
            splits=self.splits,
        )

    def is_empty(self) -> bool:
        return not self.exclude_ids and not self.matured_only and self.splits is None

    def accepts(self, video_id: int, payload: Mapping[str, Any]) -> bool:
        """Plain reference check of one point against the filter."""
        if int(video_id) in self.exclude_ids:
            return False
        if self.matured_only and payload.get("matured") is not True:
            return False
        if self.splits is not None and payload.get("split") not in self.splits:
            return False
        return True


@runtime_checkable
class VectorStore(Protocol):
    """Named-vector store. Implementations: ``EdgeStore`` (Qdrant Edge), ``QdrantStore``
    (qdrant-client: server or local mode), ``FaissStore``, ``NumpyStore``."""

    backend: str  # "qdrant-edge" | "qdrant" | "faiss" | "numpy": recorded in bank_versions.backend

    def create_collection(self, name: str, dims: Mapping[str, int]) -> None:
        """Create an empty collection with one vector space per name; raises if it exists."""
        ...

    def has_collection(self, name: str) -> bool: ...

    def list_collections(self) -> list[str]: ...

    def dims(self, collection: str) -> dict[str, int]:
        """Vector name -> dimension of an existing collection."""
        ...

    def upsert(
        self,
        collection: str,
        ids: Sequence[int],
        vectors: Mapping[str, np.ndarray | None],
        payloads: Sequence[Mapping[str, Any]],
        present: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Insert or replace points.

        ids: (n,) ints. vectors: name -> (n, d) float32; a name may be left out (or None) when
        no point in the batch has it. present: name -> (n,) bool, False where a point lacks that
        vector (its row in ``vectors`` is then ignored). payloads: n dicts.
        Replacing a point replaces all its vectors and its payload.
        """
        ...

    def delete(self, collection: str, ids: Sequence[int]) -> None:
        """Remove points; unknown ids are ignored."""
        ...

    def search(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        """Top-``limit`` points by dot product with ``query`` on ``vector_name``.

        query: (d,) -> list[Hit]; (q, d) -> one list per query row. Points lacking the vector or
        rejected by ``filter`` are never returned. Hits are sorted by score, descending.
        """
        ...

    def get_vectors(
        self, collection: str, ids: Sequence[int], vector_name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact stored vectors: returns ``(matrix (n, d) float32, present (n,) bool)``.

        Rows of ids that are unknown or lack the vector are zero with ``present`` False.
        """
        ...

    def get_payloads(self, collection: str, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        """Payload per id (None where the id is unknown)."""
        ...

    def count(self, collection: str, vector_name: str | None = None) -> int:
        """Number of points, or of points having ``vector_name``."""
        ...

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its files; no error if it does not exist."""
        ...

    def close(self) -> None:
        """Flush to disk and release files/locks. The store is unusable afterwards."""
        ...


# ----- boundary checks shared by the backends ------------------------------------------------


def check_ids(ids: Sequence[int]) -> np.ndarray:
    """Ids as a (n,) int64 array; raises on duplicates or negative values."""
    arr = np.asarray(ids, dtype=np.int64).reshape(-1)  # (n,)
    if arr.size and arr.min() < 0:
        raise StoreError(f"point ids must be non-negative integers, got {int(arr.min())}")
    if np.unique(arr).size != arr.size:
        raise StoreError("duplicate ids in one upsert batch")
    return arr


def as_matrix(x: np.ndarray, dim: int, what: str) -> np.ndarray:
    """``x`` as a C-contiguous float32 (n, dim) matrix; raises naming ``what`` if it cannot be."""
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise StoreError(f"{what}: expected shape (n, {dim}), got {tuple(np.shape(x))}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)  # (n, d)
    if not np.isfinite(arr).all():
        raise StoreError(f"{what}: contains NaN or infinite values")
    return arr


def check_batch(
    collection: str,
    dims: Mapping[str, int],
    ids: np.ndarray,
    vectors: Mapping[str, np.ndarray | None],
    payloads: Sequence[Mapping[str, Any]],
    present: Mapping[str, np.ndarray] | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[dict[str, Any]]]:
    """Validate an upsert batch.

    Returns (name -> (n, d) float32, name -> (n,) bool present, payloads as plain JSON dicts).
    """
    n = ids.size
    if len(payloads) != n:
        raise StoreError(f"{collection}: {n} ids but {len(payloads)} payloads")
    unknown = set(vectors) - set(dims)
    if unknown:
        raise StoreError(
            f"{collection}: unknown vector names {sorted(unknown)}; has {sorted(dims)}"
        )
    mats: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for name, dim in dims.items():
        given = vectors.get(name)
        if given is None:
            mats[name] = np.zeros((n, dim), dtype=np.float32)
            masks[name] = np.zeros(n, dtype=bool)
            continue
        mat = as_matrix(given, dim, f"{collection}.{name}") if n else given
        if n and mat.shape[0] != n:
            raise StoreError(f"{collection}.{name}: {mat.shape[0]} rows for {n} ids")
        mask = np.ones(n, dtype=bool)
        if present is not None and name in present:
            mask = np.asarray(present[name], dtype=bool).reshape(-1)
            if mask.size != n:
                raise StoreError(f"{collection}.{name}: present mask has {mask.size} rows for {n}")
        mats[name] = np.asarray(mat, dtype=np.float32).reshape(n, dim)
        masks[name] = mask
    return mats, masks, clean_payloads(payloads)


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (numpy scalars/arrays converted); raises if impossible."""
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v, where) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise StoreError(f"{where}: payload value {value!r} of type {type(value).__name__} is not JSON")


def clean_payloads(payloads: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Payloads as plain JSON dicts (so every backend stores and returns the same thing)."""
    return [_plain(dict(p), f"payload {i}") for i, p in enumerate(payloads)]


def as_queries(query: np.ndarray, dim: int, what: str) -> tuple[np.ndarray, bool]:
    """Queries as a (q, d) float32 matrix, and whether a single (d,) query was given."""
    single = np.asarray(query).ndim == 1
    return as_matrix(query, dim, what), single
