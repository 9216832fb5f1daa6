"""Step ``embed_content``: decode and encode a stored video, save its features (X^c, R).

Features go to the feature store keyed by (video id, encoder profile version); the semantic
vector R is read back from there by ``upsert_vectors``. The profile's encoders are loaded once
per process and reused.
"""

from __future__ import annotations

import logging

from m3tr.core.content import (
    ContentFeatures,
    ContentPipeline,
    FeatureStore,
    VideoInput,
    embed_videos,
    load_profile,
)
from m3tr.core.content.db_embed import fit_database_text
from m3tr.core.db.models import Video
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError

log = logging.getLogger(__name__)


def content_pipeline(ctx: PipelineContext) -> ContentPipeline:
    """The process's loaded encoders for ``ctx.encoder_profile`` (loaded on first use).

    A text encoder that is fitted on the bank's texts (lite) and has no fit yet is fitted on
    the database's texts first; that fit stays in use until ``m3tr content fit-text``.
    """
    profile = ctx.profile()
    if profile.needs_text_fit:
        profile = fit_database_text(ctx.session_factory, feature_store(ctx), profile)
    return ctx.cached(
        f"content:{profile.profile_version}:{ctx.device}",
        lambda: load_profile(profile, ctx.device),
    )


def feature_store(ctx: PipelineContext) -> FeatureStore:
    return FeatureStore(ctx.feature_dir)


def profile_version(ctx: PipelineContext) -> str:
    return ctx.profile().profile_version


def embed_content(ctx: PipelineContext, video_id: int) -> ContentFeatures:
    """Compute and store the content features of ``video_id`` (overwrites: idempotent).

    Raises:
        BadInputError: the video is unknown or has no stored media.
        ContentError: the media cannot be decoded.
    """
    with ctx.session_factory() as session:
        video = session.get(Video, video_id)
        if video is None:
            raise BadInputError(f"video {video_id} does not exist")
        item = VideoInput(
            key=str(video_id),
            media_path=video.media_path,
            title=video.title or "",
            description=video.description or "",
        )
    if item.media_path is None and not (item.title or item.description):
        raise BadInputError(f"video {video_id} has neither media nor text to embed")
    pipe = content_pipeline(ctx)
    (features,) = embed_videos([item], pipe, errors="raise")
    assert isinstance(features, ContentFeatures)
    feature_store(ctx).put(item.key, pipe.profile.profile_version, features)
    log.info("video %d: content features stored (%s)", video_id, pipe.profile.profile_version)
    return features
