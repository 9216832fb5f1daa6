"""Bridge to the temporal core for an active MHP model version: signatures and forecasts.

The model version's checkpoint folder is loaded once per process (``load_mhp``). Simulations
are seeded by the video id, so re-running a step gives the same signature and the same forecast
(idempotent rows and vectors).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from m3tr.core.task.trajectory_space import BANK_SIGNATURE_LENGTH

if TYPE_CHECKING:
    from m3tr.core.db.registry import ActiveModel
    from m3tr.core.pipeline.context import PipelineContext
    from m3tr.core.retrieval.similarity import RetrievalResult
    from m3tr.core.temporal.mhp import MHP

log = logging.getLogger(__name__)

SIGNATURE_LENGTH = BANK_SIGNATURE_LENGTH  # L: rows of X^s, h(t) on L times over the window


class TemporalModelUnavailable(RuntimeError):
    """An active temporal model version cannot be loaded (missing or broken checkpoint)."""


def load_model(ctx: PipelineContext, model: ActiveModel) -> MHP:
    """The MHP of ``model`` (cached per process)."""

    def build() -> MHP:
        from m3tr.core.temporal import load_mhp

        if not model.checkpoint_path:
            raise TemporalModelUnavailable(f"model version {model.id} has no checkpoint path")
        try:
            return load_mhp(model.checkpoint_path, ctx.device)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise TemporalModelUnavailable(
                f"model version {model.id} ({model.name!r}): cannot load {model.checkpoint_path}: {exc}"
            ) from exc

    return ctx.cached(f"mhp:{model.id}:{ctx.device}", build)


def _vocab(ctx: PipelineContext, mhp: MHP) -> tuple[str, ...]:
    from m3tr.core.training.bank_space import mhp_vocabulary

    return mhp_vocabulary(mhp, ctx.event_rules.vocabulary)


def _sequence(ctx: PipelineContext, mhp: MHP, t: np.ndarray, types: np.ndarray, key: int):  # noqa: ANN202
    """The observed events (in the window, of known types) as an ``EventSequence``: the same
    function service training signs its rows with (``training.bank_space``)."""
    from m3tr.core.training.bank_space import observed_sequence

    return observed_sequence(mhp, t, types, ctx.obs_window_s, key, ctx.event_rules.vocabulary)


def _generator(video_id: int, mhp: MHP) -> torch.Generator:
    """A generator seeded by the video (same draws on every re-run), on the model's device."""
    device = next(mhp.parameters()).device
    return torch.Generator(device=device).manual_seed(int(video_id) * 7919 + 17)


def signature_dim(ctx: PipelineContext, model: ActiveModel) -> int:
    """d_s of the model's retrieval vector (its trajectory transform's output)."""
    from m3tr.core.temporal.trajectory import vector_dim

    return vector_dim(load_model(ctx, model))


def signature(
    ctx: PipelineContext, model: ActiveModel, video_id: int, t: np.ndarray, types: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """X^s (L, d) float32 over the whole observation window, the retrieval vector (d_s,)
    through the model version's trajectory transform (``training.bank_space``, as service
    training signs its rows), and whether it is a cold start."""
    from m3tr.core.training.bank_space import version_vectors

    mhp = load_model(ctx, model)
    seq = _sequence(ctx, mhp, t, types, video_id)
    vectors, feats = version_vectors(mhp, [seq], ctx.obs_window_s)
    return feats.X[0], vectors[0], bool(feats.cold_start[0])  # (L, d), (d_s,)


def forecast(
    ctx: PipelineContext,
    model: ActiveModel,
    video_id: int,
    t: np.ndarray,
    types: np.ndarray,
    neighbours: RetrievalResult,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """MHP forecast: ({type: {median, lo, hi}}, cumulative-total trajectory with intensities)."""
    from m3tr.core.temporal import forecast as mhp_forecast

    mhp = load_model(ctx, model)
    seq = _sequence(ctx, mhp, t, types, video_id)
    names = list(_vocab(ctx, mhp))
    lo_q = (1 - ctx.interval) / 2
    fc = mhp_forecast(
        mhp,
        seq,
        ctx.obs_window_s,
        ctx.horizon_s,
        mhp.config.n_types,
        mhp.config.time_unit_s,
        type_names=names,
        n_paths=ctx.forecast_samples,
        quantiles=(lo_q, 0.5, 1 - lo_q),
        max_events=ctx.forecast_max_events,
        generator=_generator(video_id, mhp),
    )
    per_type = {
        k: {
            "median": float(fc.final_quantiles[1, i]),
            "lo": float(fc.final_quantiles[0, i]),
            "hi": float(fc.final_quantiles[2, i]),
        }
        for i, k in enumerate(names)
    }
    trajectory = {
        "t": fc.grid_s.tolist(),
        "lo": fc.cumulative_total_quantiles[0].tolist(),
        "median": fc.cumulative_total_quantiles[1].tolist(),
        "hi": fc.cumulative_total_quantiles[2].tolist(),
        "intensity": {
            "t": fc.grid_s.tolist(),
            "types": names,
            "unit_s": fc.time_unit_s,
            "total": fc.intensity_total.T.tolist(),  # (G, K)
            "hawkes": fc.intensity_hawkes.T.tolist(),
            "correction": fc.intensity_correction.T.tolist(),
        },
        "n_paths": fc.n_paths,
        "truncated_paths": fc.truncated_paths,  # paths stopped by the event cap: counts too low
        "cold_start": fc.cold_start,
    }
    return {**per_type, "method": "mhp"}, trajectory
