"""Job ``rebuild_bank``: a new bank version from every video's stored vectors, then made live.

Used after the encoder profile or the temporal model changes (vectors of different versions
never mix in one bank). The new bank is built beside the live one, which keeps serving until
the switch (one transaction); missing trajectory vectors are computed on the way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from m3tr.core.db import registry
from m3tr.core.db.models import BankVersion, Video
from m3tr.core.db.registry import ActiveModel
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.content import feature_store, profile_version
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError
from m3tr.core.pipeline.signatures import load_temporal
from m3tr.core.pipeline.trajectory_step import (
    STANDIN_TAG,
    active_model,
    bank_profile,
    embed_temporal,
    standin_dim,
)
from m3tr.core.retrieval.bank import BankInfo, BankItem, build_bank, set_live
from m3tr.core.retrieval.similarity import SEMANTIC, TEMPORAL
from m3tr.core.retrieval.sources import SourceReport, iter_bank_items

log = logging.getLogger(__name__)


def rebuild_bank(
    ctx: PipelineContext,
    *,
    make_live: bool = True,
    progress: Callable[[int], None] | None = None,
    model: ActiveModel | None = None,
) -> BankInfo:
    """Build a bank of every video with content features (current profile and temporal model).

    ``model``: build for this temporal model version instead of the active one; with
    ``make_live`` the model is then activated and the bank made live in ONE transaction, so
    ingestion never sees a live bank of another model than the active one.

    Raises:
        BadInputError: no video has content features for the current profile.
    """
    pv = profile_version(ctx)
    features = feature_store(ctx)
    activate = model is not None
    model = model or active_model(ctx)
    tag = STANDIN_TAG if model is None else f"mhp-{model.id}"

    def semantic(videos: Sequence[Video]) -> list[np.ndarray | None]:
        return [
            features.get(str(v.id), pv).R if features.has(str(v.id), pv) else None for v in videos
        ]

    def temporal(video_ids: Sequence[int]) -> list[np.ndarray | None]:
        out = []
        for vid in video_ids:
            tv = load_temporal(ctx.feature_dir, tag, vid) or embed_temporal(ctx, vid, model)
            out.append(None if tv is None else tv.for_retrieval)
        return out

    report = SourceReport()
    items: Iterator[BankItem] = iter_bank_items(
        ctx.session_factory, semantic, temporal, report=report
    )
    first = next(items, None)
    if first is None:
        raise BadInputError(f"no video has content features for profile {pv}; nothing to build")
    if tag == STANDIN_TAG:
        d_s = standin_dim(ctx)
    else:
        from m3tr.core.pipeline import mhp_bridge

        assert model is not None
        d_s = mhp_bridge.signature_dim(ctx, model)

    def all_items() -> Iterator[BankItem]:
        yield first
        yield from items

    info = build_bank(
        ctx.session_factory,
        ctx.store(),
        all_items(),
        profile=bank_profile(ctx, pv, tag),
        dims={SEMANTIC: int(first.semantic.shape[0]), TEMPORAL: d_s},
        model_version_id=None if model is None else model.id,
        progress=progress,
    )
    if make_live and activate:
        assert model is not None
        info = _activate_with_bank(ctx, model, info.id)
    elif make_live:
        info = set_live(ctx.session_factory, info.id)
    log.info(
        "rebuilt bank %s: %d videos (%d skipped without content features, %d without trajectory)",
        info.collection,
        info.n_videos,
        report.skipped_no_semantic,
        report.no_temporal,
    )
    return info


def _activate_with_bank(ctx: PipelineContext, model: ActiveModel, bank_id: int) -> BankInfo:
    """Make ``model`` the active one of its kind and ``bank_id`` the live bank, atomically."""
    with transaction(ctx.session_factory) as session:
        registry.activate(session, model.kind, model.id, live_bank=bank_id)
        info = BankInfo.of(session.get(BankVersion, bank_id))
    log.info("model version %d active with live bank %s", model.id, info.collection)
    return info
