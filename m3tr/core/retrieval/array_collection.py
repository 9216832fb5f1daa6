"""In-memory point table shared by the NumPy and FAISS stores, persisted as .npy + JSON.

One row per point: ids (n,), a float32 matrix per vector name (n, d) with a presence mask (n,),
payloads, and two payload columns kept as arrays so filters are vectorised: ``matured`` (n,) bool
and ``split`` (n,) int codes. Deleting swaps the last row into the hole (O(d) per id).
Saving writes a sibling temporary folder and renames it into place, so a crash mid-save leaves
the previous version intact.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from m3tr.core.retrieval.store import Filter, StoreError

logger = logging.getLogger(__name__)

_META = "collection.json"


class ArrayCollection:
    """Rows of points with named vectors; grows by doubling its capacity."""

    def __init__(self, dims: Mapping[str, int], capacity: int = 1024) -> None:
        self.dims = {str(k): int(v) for k, v in dims.items()}
        if not self.dims or any(d <= 0 for d in self.dims.values()):
            raise StoreError(f"collection needs at least one vector name with dim > 0: {dims}")
        self.n = 0
        cap = max(int(capacity), 16)
        self.ids = np.zeros(cap, dtype=np.int64)  # (cap,)
        self.vectors = {k: np.zeros((cap, d), dtype=np.float32) for k, d in self.dims.items()}
        self.present = {k: np.zeros(cap, dtype=bool) for k in self.dims}  # (cap,)
        self.matured = np.zeros(cap, dtype=bool)  # (cap,)
        self.split_code = np.full(cap, -1, dtype=np.int32)  # (cap,)
        self.split_names: list[str] = []
        self.payloads: list[dict[str, Any]] = []
        self.row_of: dict[int, int] = {}
        self.version = 0  # bumped on every write; keys the filter-mask cache
        self._mask_cache: dict[tuple[Any, ...], tuple[int, np.ndarray, int]] = {}

    # ----- writes -------------------------------------------------------------------------
    def _grow(self, needed: int) -> None:
        cap = self.ids.shape[0]
        if needed <= cap:
            return
        new_cap = max(needed, 2 * cap)
        self.ids = np.resize(self.ids, new_cap)
        self.matured = np.resize(self.matured, new_cap)
        self.split_code = np.resize(self.split_code, new_cap)
        for k, d in self.dims.items():
            mat = np.zeros((new_cap, d), dtype=np.float32)
            mat[: self.n] = self.vectors[k][: self.n]
            self.vectors[k] = mat
            self.present[k] = np.resize(self.present[k], new_cap)

    def _split_code(self, split: Any) -> int:
        if split is None:
            return -1
        split = str(split)
        if split not in self.split_names:
            self.split_names.append(split)
        return self.split_names.index(split)

    def upsert(
        self,
        ids: np.ndarray,
        mats: Mapping[str, np.ndarray],
        masks: Mapping[str, np.ndarray],
        payloads: Sequence[Mapping[str, Any]],
    ) -> np.ndarray:
        """Write rows; returns the row index of each id (n,). Existing ids are overwritten."""
        self.version += 1
        rows = np.empty(ids.size, dtype=np.int64)
        new = [i for i, vid in enumerate(ids.tolist()) if vid not in self.row_of]
        self._grow(self.n + len(new))
        for i, vid in enumerate(ids.tolist()):
            row = self.row_of.get(vid)
            if row is None:
                row = self.n
                self.n += 1
                self.row_of[vid] = row
                self.payloads.append({})
            rows[i] = row
        self.ids[rows] = ids
        for k in self.dims:
            self.vectors[k][rows] = np.where(masks[k][:, None], mats[k], 0.0)
            self.present[k][rows] = masks[k]
        for i, row in enumerate(rows.tolist()):
            payload = dict(payloads[i])
            self.payloads[row] = payload
            self.matured[row] = payload.get("matured") is True
            self.split_code[row] = self._split_code(payload.get("split"))
        return rows

    def delete(self, ids: Sequence[int]) -> list[int]:
        """Remove ids (unknown ones ignored); returns the ids actually removed."""
        self.version += 1
        removed = []
        for vid in (int(i) for i in ids):
            row = self.row_of.pop(vid, None)
            if row is None:
                continue
            removed.append(vid)
            last = self.n - 1
            if row != last:
                moved = int(self.ids[last])
                self.ids[row] = moved
                self.matured[row] = self.matured[last]
                self.split_code[row] = self.split_code[last]
                for k in self.dims:
                    self.vectors[k][row] = self.vectors[k][last]
                    self.present[k][row] = self.present[k][last]
                self.payloads[row] = self.payloads[last]
                self.row_of[moved] = row
            self.payloads.pop()
            for k in self.dims:
                self.vectors[k][last] = 0.0
                self.present[k][last] = False
            self.n -= 1
        return removed

    # ----- reads --------------------------------------------------------------------------
    def allowed_mask(self, flt: Filter | None, vector_name: str | None = None) -> np.ndarray:
        """(n,) bool: rows the filter accepts (and that have ``vector_name`` if given)."""
        return self.allowed(flt, vector_name)[0]

    def allowed(self, flt: Filter | None, vector_name: str | None = None) -> tuple[np.ndarray, int]:
        """(mask (n,) bool, its count): rows the filter accepts (having ``vector_name``).

        The payload part and its count are cached per (vector name, matured_only, splits)
        until the next write, so a search on a 1M bank does not re-reduce 1M booleans.
        The returned mask must not be modified.
        """
        flt = flt or Filter()
        key = (vector_name, flt.matured_only, flt.splits)
        cached = self._mask_cache.get(key)
        if cached is not None and cached[0] == self.version:
            base, count = cached[1], cached[2]
        else:
            n = self.n
            base = (
                np.ones(n, dtype=bool)
                if vector_name is None
                else self.present[vector_name][:n].copy()
            )
            if flt.matured_only:
                base &= self.matured[:n]
            if flt.splits is not None:
                codes = [self.split_names.index(s) for s in flt.splits if s in self.split_names]
                base &= np.isin(self.split_code[:n], np.asarray(codes, dtype=np.int32))
            count = int(base.sum())
            self._mask_cache[key] = (self.version, base, count)
        if not flt.exclude_ids:
            return base, count
        mask = base.copy()
        for vid in flt.exclude_ids:
            row = self.row_of.get(int(vid))
            if row is not None and mask[row]:
                mask[row] = False
                count -= 1
        return mask, count

    def rows_for(self, ids: Sequence[int]) -> np.ndarray:
        """(n,) row index per id, -1 where unknown."""
        return np.asarray([self.row_of.get(int(i), -1) for i in ids], dtype=np.int64)

    def get_vectors(self, ids: Sequence[int], name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows_for(ids)
        known = rows >= 0
        out = np.zeros((len(rows), self.dims[name]), dtype=np.float32)  # (n, d)
        present = np.zeros(len(rows), dtype=bool)
        out[known] = self.vectors[name][rows[known]]
        present[known] = self.present[name][rows[known]]
        return out, present

    def count(self, name: str | None = None) -> int:
        return self.n if name is None else int(self.present[name][: self.n].sum())

    # ----- persistence --------------------------------------------------------------------
    def save(self, folder: Path, extra_files: Mapping[str, Any] | None = None) -> None:
        """Atomically (re)write ``folder``; ``extra_files`` maps file name -> writer(path)."""
        folder = Path(folder)
        tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            n = self.n
            np.save(tmp / "ids.npy", self.ids[:n])
            for k in self.dims:
                np.save(tmp / f"vec_{k}.npy", self.vectors[k][:n])
                np.save(tmp / f"present_{k}.npy", self.present[k][:n])
            meta = {"dims": self.dims, "n": n}
            (tmp / _META).write_text(json.dumps(meta))
            (tmp / "payloads.json").write_text(json.dumps(self.payloads[:n]))
            for fname, writer in (extra_files or {}).items():
                writer(tmp / fname)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> ArrayCollection:
        folder = Path(folder)
        meta_path = folder / _META
        if not meta_path.exists():
            raise StoreError(f"{folder} is not a saved collection (no {_META})")
        meta = json.loads(meta_path.read_text())
        n = int(meta["n"])
        col = cls(meta["dims"], capacity=max(n, 16))
        ids = np.load(folder / "ids.npy")
        payloads = json.loads((folder / "payloads.json").read_text())
        mats = {k: np.load(folder / f"vec_{k}.npy") for k in col.dims}
        masks = {k: np.load(folder / f"present_{k}.npy") for k in col.dims}
        if n:
            col.upsert(ids, mats, masks, payloads)
        logger.debug("loaded collection %s: %d points", folder, n)
        return col
