"""Synthetic videos for a bank at platform scale: rows in SQL and clustered vectors.

``m3tr bank build --synthetic N`` adds N of them to a bank build, so that the service (Lookalikes,
Predict) can be tried with a bank of a million videos on a workspace that has a few hundred
real ones. A synthetic video is a ``videos`` row (source ``synthetic``, status ready, matured,
split train, no media, no events; its title names its content topic and trajectory shape) and
one bank item whose vectors come from ``synthetic_bank`` (content around one of
``semantic_clusters`` topic centres, trajectory around one of ``temporal_clusters`` shapes),
in the real bank's dimensions. Both are produced in chunks: memory stays that of one chunk.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import numpy as np
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.db.models import Video, VideoStatus
from m3tr.core.db.session import transaction
from m3tr.core.retrieval.bank import BankItem
from m3tr.core.retrieval.synthetic_bank import ClusteredSpec

SOURCE = "synthetic"
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _assignments(n: int, spec: ClusteredSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each synthetic video's (topic, shape) cluster, (n,) int each; fixed by ``seed``."""
    rng = np.random.default_rng([seed, 1])
    return (
        rng.integers(0, spec.semantic_clusters, n),
        rng.integers(0, spec.temporal_clusters, n),
    )


def add_synthetic_videos(
    factory: sessionmaker[Session],
    n: int,
    spec: ClusteredSpec,
    seed: int = 0,
    chunk: int = 20_000,
) -> np.ndarray:
    """Insert ``n`` synthetic video rows (one transaction per chunk); returns their ids (n,).

    External ids carry a run tag, so a second run adds new videos instead of colliding.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    topic, shape = _assignments(n, spec, seed)
    tag = uuid.uuid4().hex[:8]
    ids = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        rows = [
            {
                "source": SOURCE,
                "external_id": f"{tag}-{i}",
                "title": f"synthetic video {i}: topic {topic[i]}, shape {shape[i]}",
                "status": VideoStatus.READY,
                "matured": True,
                "split": "train",
                "published_at": _EPOCH + dt.timedelta(seconds=i),
                "extra": {"synthetic": {"seed": seed, "topic": int(topic[i])}},
            }
            for i in range(start, stop)
        ]
        with transaction(factory) as session:
            got = session.scalars(
                insert(Video).returning(Video.id, sort_by_parameter_order=True), rows
            )
            ids[start:stop] = np.fromiter(got, dtype=np.int64, count=stop - start)
    return ids


def synthetic_items(
    video_ids: np.ndarray,
    dims: dict[str, int],
    spec: ClusteredSpec,
    seed: int = 0,
    chunk: int = 16_384,
) -> Iterator[BankItem]:
    """Bank items for ``video_ids`` (n,) (from ``add_synthetic_videos`` with the same spec and
    seed): content (d_R,) and trajectory (d_s,) vectors, L2-normalised, with their payload.

    dims: {"semantic": d_R, "temporal": d_s}, the real bank's dimensions.
    """
    n = len(video_ids)
    topic, shape = _assignments(n, spec, seed)
    rng = np.random.default_rng([seed, 2])
    cs = rng.standard_normal((spec.semantic_clusters, dims["semantic"]), dtype=np.float32)
    cs /= np.linalg.norm(cs, axis=1, keepdims=True)  # (k_R, d_R) topic centres
    ct = rng.standard_normal((spec.temporal_clusters, dims["temporal"]), dtype=np.float32)
    ct /= np.linalg.norm(ct, axis=1, keepdims=True)  # (k_s, d_s) shape centres
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        sem = cs[topic[start:stop]]  # (m, d_R)
        sem += rng.standard_normal(sem.shape, dtype=np.float32) * spec.semantic_noise
        sem /= np.linalg.norm(sem, axis=1, keepdims=True)
        tem = ct[shape[start:stop]]  # (m, d_s)
        tem += rng.standard_normal(tem.shape, dtype=np.float32) * spec.temporal_noise
        tem /= np.linalg.norm(tem, axis=1, keepdims=True)
        for j, i in enumerate(range(start, stop)):
            payload = {
                "split": "train",
                "matured": True,
                "published_at": (_EPOCH + dt.timedelta(seconds=i)).timestamp(),
                "labels": {},
                "source": SOURCE,
            }
            yield BankItem(int(video_ids[i]), sem[j], tem[j], payload)


def remove_synthetic_videos(
    factory: sessionmaker[Session], video_ids: np.ndarray, chunk: int = 20_000
) -> None:
    """Delete the rows ``add_synthetic_videos`` inserted (a build that failed keeps none)."""
    ids = [int(v) for v in video_ids]
    for start in range(0, len(ids), chunk):
        with transaction(factory) as session:
            session.execute(
                delete(Video).where(
                    Video.source == SOURCE, Video.id.in_(ids[start : start + chunk])
                )
            )
