"""Serving the fused M3TR model (kind ``m3tr``): one target video and its retrieved neighbours.

The batch is built exactly as ``m3tr train`` (``m3tr.core.training.service``) builds its training
rows, so train and serve agree:

- content: the video's stored :class:`ContentFeatures` under the checkpoint's encoder profile,
  stacked by ``arrays_from_features`` (text tokens pooled to the same n_w, AV frames + mask);
- side features: ``videos.extra`` through the same log1p/missing-flag columns as ``load_from_db``;
- events: the log cut by ``split_observed`` at the checkpoint's T_obs (only ``[0, T_obs]`` reaches
  the model), then ``video_tensors`` with the model's ``max_events`` and ``event_keep``;
- neighbours: the S matured videos the ``predict`` step retrieved from the live bank (never the
  video itself), with the same features, their observed floors and their final labels: the label
  stored at ``horizon_s == H`` when there is one, else the count of logged events up to H. As in
  training, neighbours without an event log or content features are left out (slot masked).

The loaded :class:`~m3tr.core.fusion.predictor.Predictor` is cached per model version in the
process (``PipelineContext.cached``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from sqlalchemy import select

from m3tr.core.db.models import Label, Video
from m3tr.core.db.repository import load_events

if TYPE_CHECKING:
    from m3tr.core.fusion.batch import FusionBatch
    from m3tr.core.fusion.predictor import Predictor
    from m3tr.core.pipeline.context import PipelineContext
    from m3tr.core.pipeline.temporal import ActiveModel
    from m3tr.core.task.spec import TaskSpec
    from m3tr.core.training.data import TaskData

log = logging.getLogger(__name__)


class FusedModelUnavailable(RuntimeError):
    """The active fused model cannot serve this video (broken checkpoint, missing features)."""


@dataclass(frozen=True)
class FusedForecast:
    """Counts at the horizon from the fused model.

    per_type: {type: {"median", "lo", "hi"}} for the model's event types; total: the same for
    the sum over types; level: the central interval level; n_neighbours: filled neighbour slots.
    """

    model_version_id: int
    per_type: dict[str, dict[str, float]]
    total: dict[str, float]
    level: float
    n_neighbours: int


def load_fused(ctx: PipelineContext, model: ActiveModel) -> Predictor:
    """The Predictor of fused model version ``model`` (loaded once per process)."""

    def build() -> Predictor:
        from m3tr.core.fusion.predictor import CheckpointError, load_predictor

        if not model.checkpoint_path:
            raise FusedModelUnavailable(f"model version {model.id} has no checkpoint path")
        try:
            return load_predictor(model.checkpoint_path)
        except (CheckpointError, OSError, KeyError, ValueError, RuntimeError) as exc:
            raise FusedModelUnavailable(
                f"model version {model.id} ({model.name!r}): cannot load "
                f"{model.checkpoint_path}: {exc}"
            ) from exc

    return ctx.cached(f"fused:{model.id}", build)


def _profile_version(ctx: PipelineContext, predictor: Predictor) -> str:
    """The encoder profile version the model was trained on (the training's feature keys)."""
    from m3tr.core.content import get_profile

    if "profile_version" in predictor.extra:  # includes the text fit the model was trained with
        return str(predictor.extra["profile_version"])
    return get_profile(str(predictor.extra.get("profile", ctx.encoder_profile))).profile_version


def _rows(
    ctx: PipelineContext, spec: TaskSpec, pv: str, video_ids: Sequence[int], target_id: int
) -> TaskData:
    """TaskData of ``video_ids`` (the target first), as ``load_from_db`` + ``_with_content``.

    Neighbours (every id but ``target_id``) lacking an event log or content features are
    dropped; the target keeps an empty log and must have features.
    """
    from m3tr.core.content import FeatureStore
    from m3tr.core.task.spec import split_observed
    from m3tr.core.training.content import arrays_from_features
    from m3tr.core.training.data import CED_SIDE_COLUMNS, TaskData, side_features, side_names

    store = FeatureStore(ctx.feature_dir)
    ids = [int(v) for v in video_ids]
    with ctx.session_factory() as session:
        videos = {v.id: v for v in session.scalars(select(Video).where(Video.id.in_(ids)))}
        events = load_events(session, ids)
        h_labels: dict[tuple[int, str], int] = {}
        if np.isfinite(spec.horizon_s):
            rows = session.execute(
                select(Label.video_id, Label.type, Label.count).where(
                    Label.horizon_s == spec.horizon_s, Label.video_id.in_(ids)
                )
            ).all()
            h_labels = {(int(vid), str(typ)): int(c) for vid, typ, c in rows}
    keep, ev_t, ev_k, targets, extras = [], [], [], [], []
    for vid in ids:
        is_target = vid == target_id
        if vid not in videos or not store.has(str(vid), pv):
            if is_target:
                raise FusedModelUnavailable(f"video {vid}: no content features under {pv}")
            continue
        if vid not in events and not is_target:
            continue  # training only ever saw videos with an event log
        t, typ = events.get(vid, (np.zeros(0), np.zeros(0, dtype=object)))
        known = np.isin(typ.astype(str), spec.event_types)
        k = spec.type_index(typ[known].astype(str), where=f"video {vid}")
        to, ko, tgt = split_observed(t[known], k, spec)
        for j, name in enumerate(spec.event_types):
            tgt[j] = h_labels.get((vid, name), tgt[j])
        keep.append(vid)
        ev_t.append(to)
        ev_k.append(ko)
        targets.append(tgt)
        extras.append(dict(videos[vid].extra or {}))
    data = TaskData(
        spec=spec,
        video_ids=np.array(keep, dtype=np.int64),
        keys=[str(v) for v in keep],
        texts=[""] * len(keep),
        event_t=ev_t,
        event_k=ev_k,
        targets=np.stack(targets),
        side=side_features(pd.DataFrame(extras, index=range(len(keep))), CED_SIDE_COLUMNS),
        side_names=side_names(CED_SIDE_COLUMNS),
        source="serve",
    )
    return data.with_content(arrays_from_features([store.get(str(v), pv) for v in keep]))


def build_batch(
    ctx: PipelineContext, predictor: Predictor, video_id: int, neighbour_ids: Sequence[int]
) -> tuple[FusionBatch, TaskData]:
    """The FusionBatch (B = 1) of ``video_id`` with up to S of ``neighbour_ids`` (in order)."""
    from m3tr.core.fusion.batch import FusionBatch
    from m3tr.core.training.tensors import video_tensors

    cfg = predictor.config
    spec = predictor.spec
    s = int(cfg.top_s)
    nb_ids = [int(v) for v in neighbour_ids if int(v) != video_id]
    data = _rows(ctx, spec, _profile_version(ctx, predictor), [video_id, *nb_ids], video_id)
    data = data.subset(np.arange(min(len(data), 1 + s)))  # the target, then the first S usable
    vt = video_tensors(data, cfg.max_events, keep=cfg.event_keep)  # one AV layout for all rows
    target = vt.index(torch.tensor([0]))
    if s == 0:
        return FusionBatch(target=target), data
    n_nb = len(data) - 1
    idx = torch.zeros(s, dtype=torch.long)  # empty slots point at row 0, masked out
    idx[:n_nb] = torch.arange(1, n_nb + 1)
    mask = torch.zeros(1, s, dtype=torch.bool)
    mask[0, :n_nb] = True
    y = torch.from_numpy(data.y_log()).float()  # (1 + n_nb, O)
    neighbours = vt.index(idx)  # (S, ...) = B * S rows
    batch = FusionBatch(
        target=target,
        neighbours=neighbours,
        nb_floor=neighbours.floor.view(1, s, -1),  # (1, S, O)
        nb_labels=y[idx].view(1, s, -1) * mask[..., None],  # (1, S, O)
        nb_mask=mask,
    )
    return batch, data


def fused_forecast(
    ctx: PipelineContext, model: ActiveModel, video_id: int, neighbour_ids: Sequence[int]
) -> FusedForecast:
    """Final counts per type and in total (median and interval) from the fused model.

    Raises:
        FusedModelUnavailable: the checkpoint does not load, the target has no content features
            under the model's profile, or the model rejects the batch.
    """
    predictor = load_fused(ctx, model)
    batch, data = build_batch(ctx, predictor, video_id, neighbour_ids)
    try:
        fc = predictor.predict(batch)
    except (RuntimeError, ValueError) as exc:
        raise FusedModelUnavailable(f"model version {model.id}: cannot forecast: {exc}") from exc
    counts = fc.counts()  # {"median", "lo", "hi"}: (1, O)
    obs = data.obs_counts[0]  # (K,)
    observed = [*obs.tolist(), int(obs.sum())]
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(fc.names):
        have = float(observed[j])
        med = max(float(counts["median"][0, j]), have)
        lo = min(max(float(counts["lo"][0, j]), have), med)
        hi = max(float(counts["hi"][0, j]), med)
        if not np.isfinite([med, lo, hi]).all():
            raise FusedModelUnavailable(f"model version {model.id}: non-finite forecast for {name}")
        out[name] = {"median": med, "lo": lo, "hi": hi}
    total = out.pop("total")
    n_nb = 0 if batch.nb_mask is None else int(batch.nb_mask.sum())
    return FusedForecast(model.id, out, total, float(fc.level), n_nb)


def describe(fused: FusedForecast, model: ActiveModel) -> dict[str, Any]:
    """What the predictions row records about the fused forecast (JSON-ready)."""
    return {
        "model_version_id": fused.model_version_id,
        "model": model.name,
        "total": fused.total,
        "level": fused.level,
        "n_neighbours": fused.n_neighbours,
    }
