"""Step ``upsert_vectors``: put the video's semantic and temporal vectors into the live bank.

Point ids are video ids, so re-running replaces the point (one set of vectors per video and
bank). With no live bank yet, one is created (and made live) for the current encoder profile and
temporal source; creation is serialised (a process lock, and a PostgreSQL advisory lock across
processes) so concurrent first videos never create two banks.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text

from m3tr.core.db.models import Video
from m3tr.core.pipeline.content import feature_store, profile_version
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError
from m3tr.core.pipeline.signatures import load_temporal
from m3tr.core.pipeline.trajectory_step import (
    STANDIN_TAG,
    active_model,
    bank_profile,
    standin_dim,
    temporal_tag,
)
from m3tr.core.retrieval.bank import (
    BankInfo,
    BankItem,
    add_to_bank,
    build_bank,
    live_bank,
    set_live,
)
from m3tr.core.retrieval.similarity import SEMANTIC, TEMPORAL
from m3tr.core.retrieval.sources import final_labels, video_payload

log = logging.getLogger(__name__)

_BANK_LOCK = threading.Lock()
_ADVISORY_KEY = 0x6D337472  # "m3tr"


def ensure_live_bank(ctx: PipelineContext, semantic_dim: int) -> BankInfo:
    """The live bank, created for the current profile and temporal source if there is none."""
    info = live_bank(ctx.session_factory)
    if info is not None:
        return info
    with _BANK_LOCK, ctx.session_factory() as session:
        is_pg = session.get_bind().dialect.name == "postgresql"
        if is_pg:
            session.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
        try:
            info = live_bank(ctx.session_factory)
            if info is not None:
                return info
            tag = temporal_tag(ctx)
            model = active_model(ctx)
            temporal_dim = standin_dim(ctx) if tag == STANDIN_TAG else _model_dim(ctx)
            store = ctx.store()
            info = build_bank(
                ctx.session_factory,
                store,
                [],
                profile=bank_profile(ctx, profile_version(ctx), tag),
                dims={SEMANTIC: semantic_dim, TEMPORAL: temporal_dim},
                model_version_id=None if model is None else model.id,
            )
            info = set_live(ctx.session_factory, info.id)
            log.info("created live bank %s", info.collection)
            return info
        finally:
            if is_pg:
                session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                session.commit()


def _model_dim(ctx: PipelineContext) -> int:
    from m3tr.core.pipeline import mhp_bridge

    model = active_model(ctx)
    assert model is not None
    return mhp_bridge.signature_dim(ctx, model)


def upsert_vectors(ctx: PipelineContext, video_id: int) -> BankInfo:
    """Write the vectors of ``video_id`` into the live bank (replacing its point if present).

    Raises:
        BadInputError: the video is unknown or has no content features yet.
    """
    pv = profile_version(ctx)
    try:
        features = feature_store(ctx).get(str(video_id), pv)
    except KeyError as exc:
        raise BadInputError(f"video {video_id}: no content features under {pv}") from exc
    bank = ensure_live_bank(ctx, int(features.R.shape[0]))
    model = active_model(ctx)
    tag = temporal_tag(ctx)
    tv = load_temporal(ctx.feature_dir, tag, video_id)
    with ctx.session_factory() as session:
        video = session.get(Video, video_id)
        if video is None:
            raise BadInputError(f"video {video_id} does not exist")
        payload = video_payload(video, final_labels(session, [video_id])[video_id])
    payload["temporal_source"] = None if tv is None else tv.source
    payload["cold_start"] = bool(tv is not None and tv.cold_start)
    item = BankItem(video_id, features.R, None if tv is None else tv.for_retrieval, payload)
    info = add_to_bank(
        ctx.session_factory,
        ctx.store(),
        bank.id,
        [item],
        profile=bank_profile(ctx, pv, tag),
        model_version_id=None if model is None else model.id,
    )
    log.info("video %d: vectors in bank %s", video_id, info.collection)
    return info
