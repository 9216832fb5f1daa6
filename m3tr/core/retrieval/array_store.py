"""The collection plumbing the NumPy and FAISS stores share: one ``ArrayCollection`` per
collection, loaded from and saved to ``root/<collection>/`` (atomically, on ``flush``/``close``).

A subclass says how a collection is held (``_new``, ``_load``, ``_arrays``) and what it keeps
beside the arrays (``_after_upsert``, ``_after_delete``, ``_extra_files``: the FAISS indexes);
everything else (validation, ids, payloads, counts, persistence, locking) lives here once.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from m3tr.core.retrieval.array_collection import ArrayCollection
from m3tr.core.retrieval.store import CollectionNotFoundError, StoreError, check_batch, check_ids

logger = logging.getLogger(__name__)

C = TypeVar("C")


class ArrayStore(Generic[C]):
    """Base of the in-process array stores; ``path=None`` keeps everything in memory only."""

    backend = "array"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._cols: dict[str, C] = {}
        self._dirty: set[str] = set()
        self._lock = threading.RLock()
        self._closed = False
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            for sub in sorted(self.path.iterdir()):
                if sub.is_dir() and not sub.name.startswith("."):
                    self._cols[sub.name] = self._load(sub)

    # ----- what a subclass provides -------------------------------------------------------
    def _new(self, arrays: ArrayCollection) -> C:
        raise NotImplementedError

    def _load(self, folder: Path) -> C:
        raise NotImplementedError

    def _arrays(self, col: C) -> ArrayCollection:
        raise NotImplementedError

    def _after_upsert(
        self,
        name: str,
        col: C,
        ids: np.ndarray,
        mats: Mapping[str, np.ndarray],
        masks: Mapping[str, np.ndarray],
        replaced: np.ndarray,
    ) -> None:
        """Called under the write lock after rows were written; ``replaced``: ids that existed."""

    def _after_delete(self, col: C, removed: list[int]) -> None:
        """Called under the write lock after ``removed`` ids left the arrays."""

    def _extra_files(self, col: C) -> dict[str, Callable[[Path], None]]:
        """File name -> writer(path), saved with the arrays."""
        return {}

    # ----- VectorStore --------------------------------------------------------------------
    def _col(self, name: str) -> C:
        if self._closed:
            raise StoreError("store is closed")
        col = self._cols.get(name)
        if col is None:
            raise CollectionNotFoundError(
                f"no collection {name!r} in {self.backend} store {self.path}"
            )
        return col

    def create_collection(self, name: str, dims: Mapping[str, int]) -> None:
        with self._lock:
            if name in self._cols:
                raise StoreError(f"collection {name!r} already exists")
            self._cols[name] = self._new(ArrayCollection(dims))
            self._dirty.add(name)

    def has_collection(self, name: str) -> bool:
        return name in self._cols

    def list_collections(self) -> list[str]:
        return sorted(self._cols)

    def dims(self, collection: str) -> dict[str, int]:
        return dict(self._arrays(self._col(collection)).dims)

    def _check_name(self, collection: str, vector_name: str) -> ArrayCollection:
        arrays = self._arrays(self._col(collection))
        if vector_name not in arrays.dims:
            raise StoreError(f"{collection}: no vector {vector_name!r}; has {sorted(arrays.dims)}")
        return arrays

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
            arrays = self._arrays(col)
            arr = check_ids(ids)
            mats, masks, clean = check_batch(
                collection, arrays.dims, arr, vectors, payloads, present
            )
            replaced = np.asarray([i for i in arr.tolist() if i in arrays.row_of], np.int64)
            arrays.upsert(arr, mats, masks, clean)
            self._after_upsert(collection, col, arr, mats, masks, replaced)
            self._dirty.add(collection)

    def delete(self, collection: str, ids: Sequence[int]) -> None:
        with self._lock:
            col = self._col(collection)
            removed = self._arrays(col).delete(ids)
            if removed:
                self._after_delete(col, removed)
            self._dirty.add(collection)

    def get_vectors(
        self, collection: str, ids: Sequence[int], vector_name: str
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._check_name(collection, vector_name).get_vectors(ids, vector_name)

    def get_payloads(self, collection: str, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        arrays = self._arrays(self._col(collection))
        return [None if r < 0 else dict(arrays.payloads[r]) for r in arrays.rows_for(ids).tolist()]

    def count(self, collection: str, vector_name: str | None = None) -> int:
        return self._arrays(self._col(collection)).count(vector_name)

    def drop_collection(self, name: str) -> None:
        with self._lock:
            self._cols.pop(name, None)
            self._dirty.discard(name)
            if self.path is not None:
                shutil.rmtree(self.path / name, ignore_errors=True)

    def flush(self) -> None:
        """Write changed collections to disk (no-op in memory-only mode)."""
        with self._lock:
            if self.path is not None:
                for name in sorted(self._dirty):
                    col = self._cols.get(name)
                    if col is not None:
                        self._arrays(col).save(self.path / name, self._extra_files(col))
            self._dirty.clear()

    def close(self) -> None:
        """Flush, then make the store unusable (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self.flush()
            self._closed = True
            self._cols.clear()
