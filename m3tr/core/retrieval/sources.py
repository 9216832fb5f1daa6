"""Bank items from SQL: payloads (split, matured, published_at, labels) and vectors per video.

Vectors come from callables so this module does not depend on how they are made:
``semantic(videos) -> list[(d_R,) | None]`` (e.g. R from the content feature store) and
``temporal(video_ids) -> list[(d_s,) | None]`` (the MHP signature, or the event-bin stand-in;
``m3tr/app/cli/bank.py`` wires both to the content and pipeline stores).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.db.models import Label, Video
from m3tr.core.retrieval.bank import BankItem

logger = logging.getLogger(__name__)

SemanticFn = Callable[[Sequence[Video]], list[np.ndarray | None]]
TemporalFn = Callable[[Sequence[int]], list[np.ndarray | None]]


@dataclass
class SourceReport:
    """What ``iter_bank_items`` skipped (no semantic vector) and how many lacked a trajectory."""

    seen: int = 0
    skipped_no_semantic: int = 0
    no_temporal: int = 0


def video_payload(video: Video, labels: dict[str, int]) -> dict[str, Any]:
    """The bank payload of one video (the encoder profile is stamped by the bank)."""
    published = video.published_at.timestamp() if video.published_at is not None else None
    return {
        "split": video.split,
        "matured": bool(video.matured),
        "published_at": published,
        "labels": {k: int(v) for k, v in sorted(labels.items())},
        "source": video.source,
        "external_id": video.external_id,
    }


def final_labels(session: Session, video_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{video_id: {type: final count}} (labels with horizon_s NULL)."""
    out: dict[int, dict[str, int]] = {int(v): {} for v in video_ids}
    rows = session.execute(
        select(Label.video_id, Label.type, Label.count).where(
            Label.video_id.in_(list(video_ids)), Label.horizon_s.is_(None)
        )
    )
    for vid, typ, count in rows:
        out[int(vid)][typ] = int(count)
    return out


def iter_bank_items(
    factory: sessionmaker[Session],
    semantic: SemanticFn,
    temporal: TemporalFn | None,
    *,
    video_ids: Sequence[int] | None = None,
    matured_only: bool = False,
    batch_size: int = 256,
    report: SourceReport | None = None,
) -> Iterator[BankItem]:
    """Yield one ``BankItem`` per video with a semantic vector, in id order."""
    report = report if report is not None else SourceReport()
    with factory() as s:
        q = select(Video.id).order_by(Video.id)
        if video_ids is not None:
            q = q.where(Video.id.in_(list(video_ids)))
        if matured_only:
            q = q.where(Video.matured.is_(True))
        ids = [int(v) for v in s.scalars(q)]
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        with factory() as s:
            videos = list(s.scalars(select(Video).where(Video.id.in_(chunk)).order_by(Video.id)))
            labels = final_labels(s, chunk)
            sem = semantic(videos)
            tem = temporal([v.id for v in videos]) if temporal is not None else [None] * len(videos)
            for video, r, sig in zip(videos, sem, tem, strict=True):
                report.seen += 1
                if r is None:
                    report.skipped_no_semantic += 1
                    continue
                if sig is None:
                    report.no_temporal += 1
                yield BankItem(video.id, r, sig, video_payload(video, labels[video.id]))
