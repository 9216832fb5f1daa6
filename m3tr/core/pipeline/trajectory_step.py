"""Step ``embed_temporal``: the video's trajectory vector from its observed event log.

With an active temporal model version (kind ``mhp``) the vector is the mean-pooled MHP signature
X^s (§3.2.2). A fused model (kind ``m3tr``) is never a temporal model here: it is served by the
``predict`` step (``m3tr.core.pipeline.fused``), and activating one leaves trajectory vectors as
they are. One model version is active per kind. Without one (cold start: nothing trained yet) it is the log-binned
event-count stand-in of ``m3tr.core.retrieval.standin_temporal``, flagged as such (source
``eventbins``; banks built from it carry ``+eventbins`` in their profile). A video without any
event in the observation window gets no temporal vector: retrieval falls back to content only.
"""

from __future__ import annotations

import logging

import numpy as np

from m3tr.core.db import registry
from m3tr.core.db.models import Video
from m3tr.core.db.registry import ActiveModel
from m3tr.core.db.repository import load_events
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError
from m3tr.core.pipeline.signatures import TemporalVector, delete_temporal, save_temporal
from m3tr.core.retrieval.standin_temporal import STANDIN_SUFFIX, event_bin_signature

log = logging.getLogger(__name__)

STANDIN_TAG = "eventbins"
STANDIN_BINS_PER_TYPE = 12
TEMPORAL_MODEL_KINDS = ("mhp",)  # checkpoints that sign event logs (MHP folders)
FUSED_MODEL_KINDS = ("m3tr",)  # fusion checkpoints, served by ``pipeline.fused``


def active_model(
    ctx: PipelineContext, kinds: tuple[str, ...] = TEMPORAL_MODEL_KINDS
) -> ActiveModel | None:
    """The active model version of one of ``kinds`` (newest first), or None (cold start).

    The default is the temporal (MHP) model; pass ``FUSED_MODEL_KINDS`` for the fused one."""
    with ctx.session_factory() as session:
        return registry.active(session, kinds)


def temporal_tag(ctx: PipelineContext) -> str:
    """Where this process's temporal vectors go: the active model, or the stand-in."""
    model = active_model(ctx)
    return STANDIN_TAG if model is None else f"mhp-{model.id}"


def standin_dim(ctx: PipelineContext) -> int:
    return STANDIN_BINS_PER_TYPE * len(ctx.event_rules.vocabulary)


def bank_profile(ctx: PipelineContext, profile_version: str, tag: str) -> str:
    """The bank profile of vectors made with ``tag`` (stand-in banks say so)."""
    return f"{profile_version}{STANDIN_SUFFIX}" if tag == STANDIN_TAG else profile_version


def embed_temporal(
    ctx: PipelineContext, video_id: int, model: ActiveModel | None = None
) -> TemporalVector | None:
    """Compute and store the temporal vector of ``video_id``; None when it has no early events.

    ``model``: sign with this model version instead of the active one (a bank being built for a
    model that is not active yet)."""
    with ctx.session_factory() as session:
        if session.get(Video, video_id) is None:
            raise BadInputError(f"video {video_id} does not exist")
        events = load_events(session, [video_id]).get(video_id)
    model = model or active_model(ctx)
    tag = STANDIN_TAG if model is None else f"mhp-{model.id}"
    if model is not None:  # the MHP also signs an empty log (cold start, flagged)
        t, types = events if events is not None else (np.zeros(0), np.zeros(0, dtype=object))
        tv = _mhp_vector(ctx, model, video_id, t, types)
    elif events is None:
        delete_temporal(ctx.feature_dir, tag, video_id)
        log.info("video %d: no events, no temporal vector (content-only retrieval)", video_id)
        return None
    else:
        t, types = events
        vec = event_bin_signature(
            t, types, list(ctx.event_rules.vocabulary), ctx.obs_window_s, standin_dim(ctx)
        )
        tv = None if vec is None else TemporalVector(vec, None, STANDIN_TAG, STANDIN_TAG, None)
    if tv is None:
        delete_temporal(ctx.feature_dir, tag, video_id)
        log.info("video %d: no events in the observation window, no temporal vector", video_id)
        return None
    save_temporal(ctx.feature_dir, video_id, tv)
    log.info(
        "video %d: temporal vector (%s%s, d=%d)",
        video_id,
        tv.source,
        ", cold start" if tv.cold_start else "",
        tv.vector.shape[0],
    )
    return tv


def _mhp_vector(
    ctx: PipelineContext, model: ActiveModel, video_id: int, t: np.ndarray, types: np.ndarray
) -> TemporalVector:
    """X^s of the active MHP (``mhp_bridge``) and its whitened trajectory vector."""
    from m3tr.core.pipeline import mhp_bridge

    signature, vector, cold = mhp_bridge.signature(ctx, model, video_id, t, types)  # (L, d)
    return TemporalVector(
        vector=vector.astype(np.float32),  # (d_s,)
        signature=signature,
        source="mhp",
        tag=f"mhp-{model.id}",
        model_version_id=model.id,
        cold_start=cold,
    )
