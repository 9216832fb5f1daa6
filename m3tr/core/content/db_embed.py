"""Embed the videos in the database that lack features for a profile version (resumable:
what is already in the feature store is skipped; a failure leaves nothing written for that
video and the run goes on), and fit a profile's text encoder on the database's texts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.content.config import EncoderProfile
from m3tr.core.content.features import ContentFeatures, VideoInput
from m3tr.core.content.fitting import fit_text_profile
from m3tr.core.content.pipeline import ContentPipeline, embed_videos, metadata_text
from m3tr.core.content.store import FeatureStore
from m3tr.core.db.models import Video

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class EmbedReport:
    """Outcome of one run: counts and the reason each failed video failed."""

    embedded: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    text_only: int = 0


def database_texts(factory: sessionmaker[Session]) -> list[str]:
    """Every video's title and description as one text, in id order (the bank's texts)."""
    with factory() as session:
        rows = session.execute(select(Video.title, Video.description).order_by(Video.id)).all()
    return [metadata_text(title or "", description or "") for title, description in rows]


def fit_database_text(
    factory: sessionmaker[Session], store: FeatureStore, profile: EncoderProfile
) -> EncoderProfile:
    """Fit ``profile``'s text encoder on the database's texts and make it the version in use.

    A new fit is a new profile version: features and banks of the previous fit stay where they
    are; re-embed (``m3tr content embed``) and rebuild the bank to move to it.

    Raises:
        ValueError: the database holds no text to fit on.
    """
    texts = database_texts(factory)
    if not any(texts):
        raise ValueError(
            f"cannot fit the {profile.base_version} text encoder: none of the "
            f"{len(texts)} videos in the database has a title or description"
        )
    return fit_text_profile(profile, texts, store, make_current=True)


def pending_videos(
    factory: sessionmaker[Session],
    store: FeatureStore,
    profile_version: str,
    media_only: bool = False,
    media_root: Path | None = None,
    limit: int | None = None,
) -> tuple[list[VideoInput], int]:
    """Videos without stored features for ``profile_version``, in id order.

    Returns:
        (items to embed, number already stored). Relative media paths resolve against
        ``media_root`` (default: the working directory).
    """
    query = select(Video.id, Video.media_path, Video.title, Video.description).order_by(Video.id)
    if media_only:
        query = query.where(Video.media_path.is_not(None))
    with factory() as session:
        rows = session.execute(query).all()
    items: list[VideoInput] = []
    done = 0
    for vid, media, title, description in rows:
        key = str(vid)
        if store.has(key, profile_version):
            done += 1
            continue
        path = None
        if media:
            path = Path(media)
            if not path.is_absolute() and media_root is not None:
                path = media_root / path
        items.append(VideoInput(key, path, title or "", description or ""))
        if limit is not None and len(items) >= limit:
            break
    return items, done


def embed_database(
    factory: sessionmaker[Session],
    store: FeatureStore,
    pipe: ContentPipeline,
    media_only: bool = False,
    media_root: Path | None = None,
    limit: int | None = None,
    decode_workers: int = 1,
    progress: Progress | None = None,
) -> EmbedReport:
    """Compute and store content features for every pending video, batch by batch.

    Args:
        progress: called with (done, total) after each batch.
    """
    version = pipe.profile.profile_version
    items, already = pending_videos(factory, store, version, media_only, media_root, limit)
    report = EmbedReport(skipped=already)
    total = len(items)
    if progress:
        progress(0, total)
    bs = pipe.profile.batch_size
    for start in range(0, total, bs):
        batch = items[start : start + bs]
        results = embed_videos(batch, pipe, errors="return", decode_workers=decode_workers)
        for item, res in zip(batch, results, strict=True):
            if isinstance(res, ContentFeatures):
                store.put(item.key, version, res)
                report.embedded += 1
                report.text_only += int(item.media_path is None)
            else:
                report.failed[item.key] = str(res)
                logger.warning("video %s: %s", item.key, res)
        if progress:
            progress(min(start + bs, total), total)
    return report
