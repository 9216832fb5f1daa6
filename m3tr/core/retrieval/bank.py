"""Memory-bank versions (paper §3.3 "Memory Bank Retrieval", App. H "Model Versioning").

A bank is one vector-store collection (``bank_v{id}_{profile}``) plus one ``bank_versions`` row.
Building a bank (new model or encoder profile) writes a new collection and never touches the
live one; ``set_live`` flips ``is_live`` in one transaction; the old bank stays until
``delete_bank``. Writes into an existing bank must come from the same encoder profile and model
version (``BankError`` otherwise), so vectors of different models never mix.

Each bank has three named vectors: ``semantic`` (R), ``temporal`` (s) and ``joint``
(concat(R, s), for Eq. 3's joint prefetch). Vectors are L2-normalised on the way in
(dot product = cosine). Eq. 3 is invariant to the
query's scale (min-max over candidates), so queries need no normalisation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.db.models import BankVersion
from m3tr.core.db.session import transaction
from m3tr.core.retrieval.similarity import JOINT, SEMANTIC, TEMPORAL, joint_vectors
from m3tr.core.retrieval.store import VectorStore

logger = logging.getLogger(__name__)


class BankError(RuntimeError):
    """A bank operation that would mix versions, break the live bank, or name a missing bank."""


@dataclass(frozen=True)
class BankItem:
    """One video for the bank: semantic R (d_R,), temporal signature (d_s,) or None, payload."""

    video_id: int
    semantic: np.ndarray
    temporal: np.ndarray | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BankInfo:
    """A plain snapshot of one ``bank_versions`` row."""

    id: int
    collection: str
    backend: str
    encoder_profile: str
    model_version_id: int | None
    n_videos: int
    n_semantic: int
    n_temporal: int
    is_live: bool
    created_at: dt.datetime | None

    @classmethod
    def of(cls, row: BankVersion) -> BankInfo:
        return cls(
            row.id,
            row.collection,
            row.backend,
            row.encoder_profile,
            row.model_version_id,
            row.n_videos,
            row.n_semantic,
            row.n_temporal,
            row.is_live,
            row.created_at,
        )


def collection_name(bank_id: int, profile: str) -> str:
    """``bank_v{id}_{profile}``, profile characters outside [A-Za-z0-9_.-] replaced by '_'."""
    return f"bank_v{bank_id}_{re.sub(r'[^A-Za-z0-9_.-]', '_', profile)}"


def _normalise(x: np.ndarray, video_id: int, what: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float32).reshape(-1)  # (d,)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise BankError(f"video {video_id}: {what} vector is zero or not finite")
    return v / norm


def _batches(items: Iterable[BankItem], size: int) -> Iterator[list[BankItem]]:
    batch: list[BankItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(
    store: VectorStore,
    collection: str,
    batch: Sequence[BankItem],
    dims: dict[str, int],
    profile: str,
) -> None:
    """Upsert one batch: normalised vectors (n, d), presence masks, payloads stamped with profile."""
    n = len(batch)
    sem = np.zeros((n, dims[SEMANTIC]), dtype=np.float32)  # (n, d_R)
    tem = np.zeros((n, dims[TEMPORAL]), dtype=np.float32)  # (n, d_s)
    has_t = np.zeros(n, dtype=bool)
    payloads = []
    for i, item in enumerate(batch):
        given = item.payload.get("profile", profile)
        if given != profile:
            raise BankError(
                f"video {item.video_id}: vectors of profile {given!r} cannot go into a "
                f"{profile!r} bank"
            )
        sem[i] = _normalise(item.semantic, item.video_id, SEMANTIC)
        if item.temporal is not None:
            tem[i] = _normalise(item.temporal, item.video_id, TEMPORAL)
            has_t[i] = True
        payloads.append({**item.payload, "profile": profile})
    vectors = {SEMANTIC: sem, TEMPORAL: tem}
    if JOINT in dims:
        vectors[JOINT] = joint_vectors(sem, tem, has_t)  # (n, d_R + d_s)
    store.upsert(
        collection, [it.video_id for it in batch], vectors, payloads, present={TEMPORAL: has_t}
    )


def _flush(store: VectorStore) -> None:
    flush = getattr(store, "flush", None)
    if callable(flush):
        flush()


def _persist_small_write(store: VectorStore) -> None:
    """After adding or removing a few videos: flush only a store whose writes are not durable
    on their own (the array stores). Qdrant Edge logs every write ahead; flushing all its
    segments after each video cost 0.2 s per video (the demo's bank stage: 17 of 22 s for 80
    videos), so its segments are written at close and after bank builds."""
    if not getattr(store, "writes_are_durable", False):
        _flush(store)


def _bulk_writes(store: VectorStore) -> contextlib.AbstractContextManager[Any]:
    """The store's bulk-load mode (Qdrant Edge: no periodic optimize), else nothing."""
    bulk = getattr(store, "bulk_writes", None)
    return bulk() if callable(bulk) else contextlib.nullcontext()


def _optimize(store: VectorStore, collection: str) -> None:
    """Build the store's ANN index now that the bank is complete (Qdrant Edge: HNSW)."""
    optimize = getattr(store, "optimize", None)
    if callable(optimize):
        optimize(collection)


def _refresh_counts(session: Session, row: BankVersion, store: VectorStore) -> None:
    row.n_videos = store.count(row.collection)
    row.n_semantic = store.count(row.collection, SEMANTIC)
    row.n_temporal = store.count(row.collection, TEMPORAL)


def build_bank(
    factory: sessionmaker[Session],
    store: VectorStore,
    items: Iterable[BankItem],
    *,
    profile: str,
    dims: dict[str, int],
    model_version_id: int | None = None,
    batch_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> BankInfo:
    """Build a new, not-live bank from ``items``; returns its row.

    dims: {"semantic": d_R, "temporal": d_s}. On any error the collection and the row are
    removed again (nothing half-written) and the error is re-raised.
    """
    if set(dims) != {SEMANTIC, TEMPORAL}:
        raise BankError(f"bank dims must name exactly {SEMANTIC!r} and {TEMPORAL!r}, got {dims}")
    dims = {**dims, JOINT: dims[SEMANTIC] + dims[TEMPORAL]}  # see similarity: joint prefetch
    with transaction(factory) as s:
        row = BankVersion(
            collection=f"pending-{uuid.uuid4().hex}",
            backend=store.backend,
            encoder_profile=profile,
            model_version_id=model_version_id,
            is_live=False,
        )
        s.add(row)
        s.flush()
        row.collection = collection_name(row.id, profile)
        bank_id, name = row.id, row.collection
    try:
        store.create_collection(name, dims)
        done = 0
        with _bulk_writes(store):  # one index build at the end, not one per N points
            for batch in _batches(items, batch_size):
                _write(store, name, batch, dims, profile)
                done += len(batch)
                if progress is not None:
                    progress(done)
        _optimize(store, name)
        _flush(store)
        with transaction(factory) as s:
            row = s.get(BankVersion, bank_id)
            _refresh_counts(s, row, store)
            info = BankInfo.of(row)
    except BaseException:
        logger.warning("bank %s: build failed, removing collection and row", name)
        store.drop_collection(name)
        with transaction(factory) as s:
            row = s.get(BankVersion, bank_id)
            if row is not None:
                s.delete(row)
        raise
    logger.info("bank %s built: %d videos, %d temporal", name, info.n_videos, info.n_temporal)
    return info


def get_bank(factory: sessionmaker[Session], bank_id: int) -> BankInfo:
    with factory() as s:
        row = s.get(BankVersion, bank_id)
        if row is None:
            raise BankError(f"no bank version {bank_id}")
        return BankInfo.of(row)


def live_bank(factory: sessionmaker[Session]) -> BankInfo | None:
    with factory() as s:
        row = s.scalars(select(BankVersion).where(BankVersion.is_live.is_(True))).first()
        return None if row is None else BankInfo.of(row)


def list_banks(factory: sessionmaker[Session]) -> list[BankInfo]:
    with factory() as s:
        return [BankInfo.of(r) for r in s.scalars(select(BankVersion).order_by(BankVersion.id))]


def set_live(factory: sessionmaker[Session], bank_id: int) -> BankInfo:
    """Make ``bank_id`` the live bank, in one transaction (the previous one stays, not live)."""
    with transaction(factory) as s:
        row = s.get(BankVersion, bank_id, with_for_update=True)
        if row is None:
            raise BankError(f"no bank version {bank_id}")
        s.execute(
            update(BankVersion)
            .where(BankVersion.is_live.is_(True), BankVersion.id != bank_id)
            .values(is_live=False)
        )
        row.is_live = True
        return BankInfo.of(row)


def _check_writable(
    info: BankInfo, store: VectorStore, profile: str, model_version_id: int | None
) -> None:
    if info.backend != store.backend:
        raise BankError(f"bank {info.id} lives in {info.backend!r}, not in {store.backend!r}")
    if info.encoder_profile != profile or info.model_version_id != model_version_id:
        raise BankError(
            f"bank {info.id} holds profile {info.encoder_profile!r} / model "
            f"{info.model_version_id}; refusing vectors of profile {profile!r} / model "
            f"{model_version_id}: build a new bank instead"
        )


def add_to_bank(
    factory: sessionmaker[Session],
    store: VectorStore,
    bank_id: int,
    items: Iterable[BankItem],
    *,
    profile: str,
    model_version_id: int | None = None,
    batch_size: int = 1024,
) -> BankInfo:
    """Upsert videos into an existing bank (e.g. newly matured ones into the live bank)."""
    info = get_bank(factory, bank_id)
    _check_writable(info, store, profile, model_version_id)
    dims = store.dims(info.collection)
    for batch in _batches(items, batch_size):
        _write(store, info.collection, batch, dims, profile)
    _persist_small_write(store)
    with transaction(factory) as s:
        row = s.get(BankVersion, bank_id)
        _refresh_counts(s, row, store)
        return BankInfo.of(row)


def remove_from_bank(
    factory: sessionmaker[Session], store: VectorStore, bank_id: int, video_ids: Sequence[int]
) -> BankInfo:
    """Delete videos from a bank (unknown ids ignored)."""
    info = get_bank(factory, bank_id)
    store.delete(info.collection, list(video_ids))
    _persist_small_write(store)
    with transaction(factory) as s:
        row = s.get(BankVersion, bank_id)
        _refresh_counts(s, row, store)
        return BankInfo.of(row)


def delete_bank(factory: sessionmaker[Session], store: VectorStore, bank_id: int) -> None:
    """Drop a bank's collection and row; refuses the live bank (make another live first)."""
    info = get_bank(factory, bank_id)
    if info.is_live:
        raise BankError(f"bank {bank_id} is live; make another bank live before deleting it")
    if info.backend != store.backend:
        raise BankError(f"bank {bank_id} lives in {info.backend!r}, not in {store.backend!r}")
    store.drop_collection(info.collection)
    with transaction(factory) as s:
        row = s.get(BankVersion, bank_id)
        if row is not None:
            s.delete(row)
