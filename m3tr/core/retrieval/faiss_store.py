"""FAISS store: exact flat inner-product index for small banks, IVF-PQ past a configurable size.

Per collection and vector name one FAISS index over the video ids. The exact float32 vectors
are kept beside the index (``ArrayCollection``, the plumbing shared with the NumPy store in
``array_store``), so ``get_vectors`` is exact even when the index is lossy (PQ), and every hit
is re-scored exactly before it is returned: every ``Hit.score`` is the exact dot product, as in
the other stores. IVF-PQ fetches ``refine_factor`` candidates per requested hit for that.

Filters go into FAISS itself, as ID selectors in the search parameters
(``SearchParameters(sel=...)``, ``SearchParametersIVF`` for IVF-PQ): the payload part (matured,
splits) as the smaller of "these ids" / "not these ids" (cached until the next write), the
per-query exclusions as "not these ids", AND-ed. FAISS then never returns a rejected point, so
nothing is over-fetched or post-filtered. When a filter leaves at most ``exact_below`` points
the store scans those exactly instead; when IVF-PQ's visited cells hold fewer allowed points
than asked for, the query falls back to that exact scan. Persisted as ``faiss.write_index``
files plus the .npy/JSON sidecar, written atomically by ``flush``/``close``.

On a GPU (``FaissConfig.device = "cuda"`` and FAISS's GPU build, see :func:`faiss_device`),
searches without a filter run on a GPU replica of each index (``index_cpu_to_gpu`` on one
``StandardGpuResources``), made at the first such search and dropped at every write; filtered
searches keep the CPU index (FAISS's ID selectors are a CPU feature), which stays the one
written to disk.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from m3tr.core.retrieval.array_collection import ArrayCollection
from m3tr.core.retrieval.array_store import ArrayStore
from m3tr.core.retrieval.numpy_store import top_k_rows
from m3tr.core.retrieval.store import Filter, Hit, StoreError, as_queries

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaissConfig:
    """FAISS index choices.

    ivfpq_min_size: a vector space with at least this many points uses IVF-PQ; below, exact flat.
    nlist: IVF cells; None = about 2*sqrt(n) (rounded to a power of two, 64..4096).
    pq_subvector_dim: dims per PQ sub-quantizer (d must be divisible; m = d / this), 8 bits each.
    nprobe: IVF cells visited per query. refine_factor: IVF-PQ candidates re-scored exactly
    per requested hit. train_sample: vectors used to train IVF-PQ.
    exact_below: filtered searches with at most this many allowed points scan them exactly.
    (Filters reach FAISS as ID selectors in the search parameters: see the module doc.)
    threads: OpenMP threads for FAISS (None = FAISS default).
    device: ``"cuda"``: unfiltered searches on a GPU replica when FAISS has its GPU build
    (:func:`faiss_device`); ``"cpu"``: never.
    """

    ivfpq_min_size: int = 200_000
    nlist: int | None = None
    pq_subvector_dim: int = 8
    nprobe: int = 24
    refine_factor: int = 4
    train_sample: int = 65_536
    exact_below: int = 2_000
    threads: int | None = None
    device: str = "cpu"


def faiss_device(requested: str, faiss_module: Any = faiss) -> str:
    """``"cuda"`` when it is requested (``"cuda"`` or ``"cuda:N"``), ``faiss_module`` is FAISS's
    GPU build (``StandardGpuResources``) and sees a GPU; else ``"cpu"`` (with a warning when
    cuda was requested)."""
    if not requested.startswith("cuda"):
        return "cpu"
    if not hasattr(faiss_module, "StandardGpuResources"):
        logger.warning(
            "device %s asked for, but FAISS is its CPU build: indexes stay on the CPU", requested
        )
        return "cpu"
    if faiss_module.get_num_gpus() < 1:
        logger.warning(
            "device %s asked for, but FAISS sees no GPU: indexes stay on the CPU", requested
        )
        return "cpu"
    return "cuda"


def _auto_nlist(n: int) -> int:
    return int(min(4096, max(64, 2 ** round(math.log2(2 * math.sqrt(max(n, 1)))))))


@dataclass
class _Collection:
    """Exact vectors plus one FAISS index per vector name, and the cached payload selectors."""

    arrays: ArrayCollection
    indexes: dict[str, faiss.Index]
    selectors: dict[tuple[Any, ...], tuple[int, Any]] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=dict)  # GPU replicas of ``indexes``

    def is_ivf(self, name: str) -> bool:
        return isinstance(faiss.downcast_index(self.indexes[name]), faiss.IndexIVF)


class FaissStore(ArrayStore[_Collection]):
    """FAISS-backed ``VectorStore``; ``path=None`` keeps everything in memory only."""

    backend = "faiss"

    def __init__(self, path: str | Path | None = None, config: FaissConfig | None = None) -> None:
        self.config = config or FaissConfig()
        if self.config.threads is not None:
            faiss.omp_set_num_threads(self.config.threads)
        self.device = faiss_device(self.config.device)
        self._gpu_resources = faiss.StandardGpuResources() if self.device == "cuda" else None
        super().__init__(path)

    def _replica(self, col: _Collection, name: str) -> Any:
        """The GPU copy of ``col.indexes[name]``, made once per write."""
        if name not in col.gpu:
            col.gpu[name] = faiss.index_cpu_to_gpu(self._gpu_resources, 0, col.indexes[name])
        return col.gpu[name]

    # ----- index management ---------------------------------------------------------------
    def _flat(self, dim: int) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def _ivfpq(self, vectors: np.ndarray) -> faiss.Index:
        """Train an IVF-PQ index (inner product) on a sample of ``vectors`` (n, d)."""
        n, dim = vectors.shape
        cfg = self.config
        if dim % cfg.pq_subvector_dim:
            raise StoreError(f"dim {dim} not divisible by pq_subvector_dim {cfg.pq_subvector_dim}")
        nlist = cfg.nlist or _auto_nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(
            quantizer, dim, nlist, dim // cfg.pq_subvector_dim, 8, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(0)
        take = min(n, max(cfg.train_sample, 40 * nlist))
        sample = vectors[np.sort(rng.choice(n, size=take, replace=False))] if take < n else vectors
        index.train(np.ascontiguousarray(sample, dtype=np.float32))  # (s, d)
        index.nprobe = min(cfg.nprobe, nlist)
        return index

    def rebuild_index(self, collection: str, vector_name: str) -> str:
        """Rebuild one vector space's index from the exact vectors; returns its kind."""
        with self._lock:
            col = self._col(collection)
            arr = col.arrays
            rows = np.flatnonzero(arr.present[vector_name][: arr.n])  # (m,)
            vecs = arr.vectors[vector_name][rows]  # (m, d)
            if rows.size >= self.config.ivfpq_min_size:
                index = self._ivfpq(vecs)
                kind = "ivfpq"
            else:
                index = self._flat(arr.dims[vector_name])
                kind = "flat"
            if rows.size:
                index.add_with_ids(vecs, arr.ids[rows])
            col.indexes[vector_name] = index
            col.gpu.clear()
            self._dirty.add(collection)
            logger.info("%s.%s: %s index over %d vectors", collection, vector_name, kind, rows.size)
            return kind

    def index_kind(self, collection: str, vector_name: str) -> str:
        return "ivfpq" if self._col(collection).is_ivf(vector_name) else "flat"

    # ----- ArrayStore hooks ---------------------------------------------------------------
    def _new(self, arrays: ArrayCollection) -> _Collection:
        return _Collection(arrays, {k: self._flat(d) for k, d in arrays.dims.items()})

    def _arrays(self, col: _Collection) -> ArrayCollection:
        return col.arrays

    def _after_upsert(
        self,
        name: str,
        col: _Collection,
        ids: np.ndarray,
        mats: Mapping[str, np.ndarray],
        masks: Mapping[str, np.ndarray],
        replaced: np.ndarray,
    ) -> None:
        col.gpu.clear()
        for vname, index in col.indexes.items():
            if replaced.size:
                index.remove_ids(replaced)
            keep = masks[vname]
            if keep.any():
                index.add_with_ids(mats[vname][keep], ids[keep])
            if not col.is_ivf(vname) and index.ntotal >= self.config.ivfpq_min_size:
                self.rebuild_index(name, vname)

    def _after_delete(self, col: _Collection, removed: list[int]) -> None:
        col.gpu.clear()
        for index in col.indexes.values():
            index.remove_ids(np.asarray(removed, dtype=np.int64))

    def _extra_files(self, col: _Collection) -> dict[str, Callable[[Path], None]]:
        return {
            f"index_{k}.faiss": (lambda p, ix=ix: faiss.write_index(ix, str(p)))
            for k, ix in col.indexes.items()
        }

    def _load(self, folder: Path) -> _Collection:
        arrays = ArrayCollection.load(folder)
        indexes = {}
        for name in arrays.dims:
            file = folder / f"index_{name}.faiss"
            if not file.exists():
                raise StoreError(f"{folder}: missing {file.name}")
            indexes[name] = faiss.read_index(str(file))
            if isinstance(faiss.downcast_index(indexes[name]), faiss.IndexIVF):
                faiss.extract_index_ivf(indexes[name]).nprobe = self.config.nprobe
        return _Collection(arrays, indexes)

    # ----- search -------------------------------------------------------------------------
    def _payload_selector(self, col: _Collection, flt: Filter) -> Any:
        """The matured/splits part of ``flt`` as a FAISS selector (None: everything passes)."""
        if not flt.matured_only and flt.splits is None:
            return None
        key = (flt.matured_only, flt.splits)
        arrays = col.arrays
        cached = col.selectors.get(key)
        if cached is not None and cached[0] == arrays.version:
            return cached[1]
        mask = arrays.allowed_mask(Filter(matured_only=flt.matured_only, splits=flt.splits))
        ids = arrays.ids[: arrays.n]
        rejected = ids[~mask]  # (r,)
        if rejected.size <= ids.size - rejected.size:  # the smaller id list: "not these"
            batch = faiss.IDSelectorBatch(np.ascontiguousarray(rejected))
            sel = faiss.IDSelectorNot(batch)
            sel.referenced_objects = [batch]
        else:
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(ids[mask]))
        col.selectors[key] = (arrays.version, sel)
        return sel

    def _search_params(self, col: _Collection, name: str, flt: Filter | None) -> Any:
        """FAISS search parameters carrying ``flt`` as an ID selector (None: no filter)."""
        flt = flt or Filter()
        sel = self._payload_selector(col, flt)
        if flt.exclude_ids:
            batch = faiss.IDSelectorBatch(np.asarray(sorted(flt.exclude_ids), dtype=np.int64))
            excl = faiss.IDSelectorNot(batch)
            excl.referenced_objects = [batch]
            if sel is not None:
                both = faiss.IDSelectorAnd(sel, excl)
                both.referenced_objects = [sel, excl]
                sel = both
            else:
                sel = excl
        if sel is None:
            return None
        if col.is_ivf(name):
            params = faiss.SearchParametersIVF(
                sel=sel, nprobe=faiss.extract_index_ivf(col.indexes[name]).nprobe
            )
        else:
            params = faiss.SearchParameters(sel=sel)
        params.referenced_objects = [sel]
        return params

    def search(
        self,
        collection: str,
        vector_name: str,
        query: np.ndarray,
        limit: int,
        filter: Filter | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        arrays = self._check_name(collection, vector_name)
        col = self._col(collection)
        q, single = as_queries(
            query, arrays.dims[vector_name], f"query on {collection}.{vector_name}"
        )
        allowed, n_allowed = arrays.allowed(filter, vector_name)  # (n,), count
        n_indexed = int(col.indexes[vector_name].ntotal)
        if n_allowed == 0 or limit <= 0:
            out: list[list[Hit]] = [[] for _ in range(q.shape[0])]
        elif n_allowed <= self.config.exact_below and n_allowed < n_indexed:
            out = self._search_exact(arrays, vector_name, q, allowed, limit)
        else:
            out = self._search_index(col, vector_name, q, allowed, n_allowed, limit, filter)
        return out[0] if single else out

    def _search_exact(
        self, arrays: ArrayCollection, name: str, q: np.ndarray, allowed: np.ndarray, limit: int
    ) -> list[list[Hit]]:
        rows = np.flatnonzero(allowed)  # (m,)
        scores = arrays.vectors[name][rows] @ q.T  # (m, q)
        out = []
        for j in range(q.shape[0]):
            idx, s = top_k_rows(scores[:, j], np.ones(rows.size, dtype=bool), limit)
            out.append(self._hits(arrays, rows[idx], s))
        return out

    def _search_index(
        self,
        col: _Collection,
        name: str,
        q: np.ndarray,
        allowed: np.ndarray,
        n_allowed: int,
        limit: int,
        flt: Filter | None,
    ) -> list[list[Hit]]:
        arrays = col.arrays
        index = col.indexes[name]
        refine = self.config.refine_factor if col.is_ivf(name) else 1
        k = min(int(index.ntotal), limit * refine)
        if flt is None and self.device == "cuda":
            _, labels = self._replica(col, name).search(q, k)  # (q, k)
        else:
            _, labels = index.search(q, k, params=self._search_params(col, name, flt))  # (q, k)
        want = min(limit, n_allowed)
        out: list[list[Hit]] = []
        short = []
        for j in range(q.shape[0]):
            rows = arrays.rows_for([i for i in labels[j].tolist() if i >= 0])
            rows = rows[rows >= 0]
            if rows.size < want:  # IVF cells held too few allowed points: scan them exactly
                short.append(j)
                out.append([])
                continue
            exact = arrays.vectors[name][rows] @ q[j]  # (r,)
            idx, s = top_k_rows(exact, np.ones(rows.size, dtype=bool), limit)
            out.append(self._hits(arrays, rows[idx], s))
        if short:
            exact_hits = self._search_exact(arrays, name, q[short], allowed, limit)
            for j, hits in zip(short, exact_hits, strict=True):
                out[j] = hits
        return out

    @staticmethod
    def _hits(arrays: ArrayCollection, rows: np.ndarray, scores: np.ndarray) -> list[Hit]:
        return [
            Hit(int(arrays.ids[r]), float(v), dict(arrays.payloads[r]))
            for r, v in zip(rows.tolist(), scores.tolist(), strict=True)
        ]
