"""Serving the fused M3TR model (kind ``m3tr``): one target video and its retrieved neighbours.

The batch is built exactly as ``m3tr train`` (``m3tr.core.training.service``) builds its training
rows, so train and serve agree:

- content: the video's stored :class:`ContentFeatures` under the checkpoint's encoder profile,
  stacked by ``arrays_from_features`` (text tokens pooled to the same n_w, AV frames + mask);
- rows: ``training.data.rows_from_db``, the function that builds the training rows, with the
  side features (``videos.extra`` keys) recorded in the checkpoint (``side_columns``);
- events: the log cut by ``split_observed`` at the checkpoint's T_obs (only ``[0, T_obs]`` reaches
  the model), then ``video_tensors`` with the model's ``max_events`` and ``event_keep``;
- neighbours: the S matured videos the ``predict`` step retrieved from the live bank (never the
  video itself), with the same features, their observed floors and their final labels: the label
  stored at ``horizon_s == H`` when there is one, else the count of logged events up to H. As in
  training, neighbours without an event log or content features are left out (slot masked).
  The checkpoint names the trajectory space its training neighbours were retrieved in
  (``trajectory_space``: the MHP and its transform). ``m3tr train`` with an active MHP version
  retrieves them in that version's space (``training.bank_space``), the live bank's, so the
  model takes the bank's Eq. 3 neighbours; when the live bank was built in another space (or
  the model was trained without an active MHP), ``predict`` retrieves the model's neighbours
  by content only and logs and records why.

The loaded :class:`~m3tr.core.fusion.predictor.Predictor` is cached per model version in the
process (``PipelineContext.cached``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from m3tr.core.db.registry import ActiveModel
    from m3tr.core.fusion.batch import FusionBatch
    from m3tr.core.fusion.predictor import Predictor
    from m3tr.core.pipeline.context import PipelineContext
    from m3tr.core.task.trajectory_space import TrajectorySpace
    from m3tr.core.training.data import TaskData

log = logging.getLogger(__name__)


class FusedModelUnavailable(RuntimeError):
    """The active fused model cannot serve this video (broken checkpoint, missing features)."""


@dataclass(frozen=True)
class FusedForecast:
    """Counts at the horizon from the fused model.

    per_type: {type: {"median", "lo", "hi"}} for the model's event types; total: the same for
    the sum over types; level: the central interval level; n_neighbours: filled neighbour slots.
    neighbours: how they were retrieved (the retrieval mode, and why by content only when the
    live bank is in another trajectory space than the model's training neighbours).
    """

    model_version_id: int
    per_type: dict[str, dict[str, float]]
    total: dict[str, float]
    level: float
    n_neighbours: int
    neighbours: str = ""


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


def side_columns(predictor: Predictor, model: ActiveModel) -> tuple[str, ...]:
    """The ``videos.extra`` keys the model's side features were trained with (its checkpoint)."""
    cols = predictor.extra.get("side_columns")
    if cols is None:
        raise FusedModelUnavailable(
            f"model version {model.id} ({model.name!r}): its checkpoint does not record the side "
            "features it was trained with (side_columns); retrain it with `m3tr train`"
        )
    cols = tuple(str(c) for c in cols)
    if 2 * len(cols) != predictor.config.d_side:
        raise FusedModelUnavailable(
            f"model version {model.id}: side_columns {list(cols)} give {2 * len(cols)} features, "
            f"the model takes d_side={predictor.config.d_side}"
        )
    return cols


def trajectory_space(predictor: Predictor) -> TrajectorySpace | None:
    """The space the model's training neighbours were retrieved in (None: by content only)."""
    from m3tr.core.task.trajectory_space import TrajectorySpace

    return TrajectorySpace.from_dict(predictor.extra.get("trajectory_space"))


def _rows(
    ctx: PipelineContext,
    predictor: Predictor,
    model: ActiveModel,
    video_ids: Sequence[int],
    target_id: int,
) -> TaskData:
    """TaskData of ``video_ids`` (the target first) by ``rows_from_db``, the builder of the
    training rows, with the checkpoint's side columns, then their content features.

    Neighbours (every id but ``target_id``) lacking an event log or content features are
    dropped; the target keeps an empty log and must have features.
    """
    from m3tr.core.content import FeatureStore
    from m3tr.core.training.content import arrays_from_features
    from m3tr.core.training.data import rows_from_db

    pv = _profile_version(ctx, predictor)
    columns = side_columns(predictor, model)
    store = FeatureStore(ctx.feature_dir)
    if not store.has(str(target_id), pv):
        raise FusedModelUnavailable(f"video {target_id}: no content features under {pv}")
    ids = [int(v) for v in video_ids if int(v) == target_id or store.has(str(v), pv)]
    with ctx.session_factory() as session:
        data = rows_from_db(session, predictor.spec, ids, columns, without_events=(target_id,))
    if not len(data) or int(data.video_ids[0]) != target_id:
        raise FusedModelUnavailable(f"video {target_id} does not exist")
    data = replace(data, source="serve")
    return data.with_content(arrays_from_features([store.get(str(v), pv) for v in data.video_ids]))


def build_batch(
    ctx: PipelineContext,
    predictor: Predictor,
    model: ActiveModel,
    video_id: int,
    neighbour_ids: Sequence[int],
) -> tuple[FusionBatch, TaskData]:
    """The FusionBatch (B = 1) of ``video_id`` with up to S of ``neighbour_ids`` (in order)."""
    from m3tr.core.fusion.batch import FusionBatch
    from m3tr.core.training.tensors import video_tensors

    cfg = predictor.config
    s = int(cfg.top_s)
    nb_ids = [int(v) for v in neighbour_ids if int(v) != video_id]
    data = _rows(ctx, predictor, model, [video_id, *nb_ids], video_id)
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
    ctx: PipelineContext,
    model: ActiveModel,
    video_id: int,
    neighbour_ids: Sequence[int],
    neighbours: str = "",
) -> FusedForecast:
    """Final counts per type and in total (median and interval) from the fused model;
    ``neighbours`` says how ``neighbour_ids`` were retrieved (kept in the forecast).

    Raises:
        FusedModelUnavailable: the checkpoint does not load, the target has no content features
            under the model's profile, or the model rejects the batch.
    """
    predictor = load_fused(ctx, model)
    batch, data = build_batch(ctx, predictor, model, video_id, neighbour_ids)
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
    return FusedForecast(model.id, out, total, float(fc.level), n_nb, neighbours)


def describe(fused: FusedForecast, model: ActiveModel) -> dict[str, Any]:
    """What the predictions row records about the fused forecast (JSON-ready)."""
    return {
        "model_version_id": fused.model_version_id,
        "model": model.name,
        "total": fused.total,
        "level": fused.level,
        "n_neighbours": fused.n_neighbours,
        "neighbours": fused.neighbours,
    }
