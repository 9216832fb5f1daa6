"""Step ``predict``: neighbours from the live bank (Eq. 3), a forecast, ONE predictions row.

Neighbours: matured videos only, never the video itself (``filter_for("service")``), by Eq. 3
when the video has a temporal vector, by content only otherwise (the row says which).

Forecast, by what is available (``trajectory["method"]`` records it):
- ``fused``: an active fused model (kind ``m3tr``, ``pipeline.fused``) gives the final counts per
  type (median and interval) from the video and its neighbours; the cumulative curve (and the
  intensity split) still comes from the MHP simulation when a temporal model is active, else from
  the neighbours (``trajectory["curve_method"]`` says which), and ``trajectory["fused"]`` holds
  the fused total. A fused model that cannot serve the video is logged and skipped. Its
  neighbours are retrieved by content only (logged, and said in ``trajectory["fused"]``) when
  the live bank's trajectory vectors are in another space than its training neighbours';
- ``mhp``: an active temporal model's simulated futures (quantiles of the final counts and of the
  cumulative curve);
- ``neighbours`` (cold start, no trained model): score-weighted quantiles of the matured
  neighbours' final labels, never below what the video already has;
- ``observed``: no model and no neighbour: the counts observed so far (a lower bound).

The row is keyed by (video, model version, events seen), the fused model's version when it made
the forecast, else the temporal model's: re-running on the same log replaces it, never duplicates
it; a forecast after new events (or with another model) adds a row, so the history is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from m3tr.core.db.models import Prediction, Video, utcnow
from m3tr.core.db.repository import load_events
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.content import feature_store, profile_version
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError
from m3tr.core.pipeline.signatures import load_temporal
from m3tr.core.pipeline.trajectory_step import FUSED_MODEL_KINDS, active_model, temporal_tag
from m3tr.core.retrieval.bank import BankInfo, live_bank
from m3tr.core.retrieval.leakage import filter_for
from m3tr.core.retrieval.similarity import Neighbour, RetrievalResult, retrieve
from m3tr.core.task.trajectory_space import TrajectorySpace

if TYPE_CHECKING:
    from m3tr.core.db.registry import ActiveModel
    from m3tr.core.pipeline.fused import FusedForecast

log = logging.getLogger(__name__)

_WRITE_LOCK = threading.Lock()
TRAJECTORY_POINTS = 24


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> list[float]:
    """Quantiles of ``values`` (n,) under non-negative ``weights`` (n,) (midpoint rule)."""
    v = np.asarray(values, dtype=np.float64)  # (n,)
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)  # (n,)
    if w.sum() <= 0:
        w = np.ones_like(w)
    keep = w > 0
    v, w = v[keep], w[keep]
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()  # (n,)
    return [float(np.interp(q, cdf, v)) for q in qs]


def observed_curve(
    t: np.ndarray, t_obs: float, points: int = TRAJECTORY_POINTS
) -> tuple[list[float], list[float]]:
    """Cumulative event count on a grid of ``points`` times in [0, t_obs]."""
    grid = np.linspace(0.0, t_obs, points)  # (P,)
    counts = np.searchsorted(np.sort(t), grid, side="right")  # (P,)
    return grid.tolist(), counts.astype(float).tolist()


def neighbour_forecast(
    hits: list[Neighbour], observed: dict[str, int], vocab: list[str], interval: float
) -> tuple[dict[str, Any], str]:
    """Per-type {median, lo, hi} from the neighbours' final labels; returns (forecast, method)."""
    lo_q, hi_q = (1 - interval) / 2, 1 - (1 - interval) / 2
    out: dict[str, Any] = {}
    method = "observed"
    for k in vocab:
        have = float(observed.get(k, 0))
        rows = [(h.payload.get("labels", {}).get(k), h.combined) for h in hits]
        rows = [(float(v), max(float(w), 0.0)) for v, w in rows if v is not None]
        if rows:
            vals, wts = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
            lo, med, hi = weighted_quantiles(vals, wts, [lo_q, 0.5, hi_q])
            out[k] = {"median": max(med, have), "lo": max(lo, have), "hi": max(hi, have)}
            method = "neighbours"
        elif have > 0:
            out[k] = {"median": have, "lo": have, "hi": have}
    return out, method


def _neighbour_rows(result: RetrievalResult) -> list[dict[str, Any]]:
    return [
        {
            "video_id": h.video_id,
            "score": h.combined,
            "content": h.content,
            "temporal": h.temporal,
            "content_raw": h.content_raw,
            "temporal_raw": h.temporal_raw,
            "label": h.payload.get("labels", {}),
            "external_id": h.payload.get("external_id"),
        }
        for h in result.hits
    ]


def predict(ctx: PipelineContext, video_id: int) -> int:
    """Forecast ``video_id`` and upsert its predictions row; returns the row id."""
    pv = profile_version(ctx)
    try:
        features = feature_store(ctx).get(str(video_id), pv)
    except KeyError as exc:
        raise BadInputError(f"video {video_id}: no content features under {pv}") from exc
    with ctx.session_factory() as session:
        video = session.get(Video, video_id)
        if video is None:
            raise BadInputError(f"video {video_id} does not exist")
        t, types = load_events(session, [video_id]).get(
            video_id, (np.zeros(0), np.zeros(0, dtype=object))
        )
        seen = observation(video, t)
    early = t <= ctx.obs_window_s
    observed = (
        {
            str(k): int(n)
            for k, n in zip(*np.unique(types[early].astype(str), return_counts=True), strict=True)
        }
        if early.any()
        else {}
    )
    model = active_model(ctx)
    tv = load_temporal(ctx.feature_dir, temporal_tag(ctx), video_id)
    bank = live_bank(ctx.session_factory)
    result = RetrievalResult([], "content_only", "no live bank yet", 0)
    started = time.perf_counter()
    if bank is not None:
        result = retrieve(
            ctx.store(),
            bank.collection,
            features.R,
            None if tv is None else tv.for_retrieval,
            top_s=ctx.top_s,
            filter=filter_for("service", video_id),
            query_id=video_id,
            temporal_reason=(
                "cold start: no event observed yet" if tv is not None and tv.cold_start else None
            ),
        )
    retrieved = time.perf_counter()
    vocab = list(ctx.event_rules.vocabulary)
    grid, curve = observed_curve(t[early], ctx.obs_window_s)
    trajectory: dict[str, Any] = {"t": grid, "median": curve, "lo": curve, "hi": curve}
    if model is not None and tv is not None and tv.source == "mhp":
        from m3tr.core.pipeline import mhp_bridge

        forecast, trajectory = mhp_bridge.forecast(
            ctx, model, video_id, t[early], types[early], result
        )
        splice_observed(trajectory, grid, curve, ctx.obs_window_s)
        method = forecast.pop("method", "mhp")
    else:
        forecast, method = neighbour_forecast(result.hits, observed, vocab, ctx.interval)
        total = {q: sum(v[q] for v in forecast.values()) for q in ("median", "lo", "hi")}
        trajectory = {
            "t": [*grid, float(ctx.horizon_s)],
            "median": [*curve, total["median"]],
            "lo": [*curve, total["lo"]],
            "hi": [*curve, total["hi"]],
        }
    fused_model = active_model(ctx, FUSED_MODEL_KINDS)
    row_model = model
    if fused_model is not None:
        fused = _fused(ctx, fused_model, video_id, result, bank, features.R)
        if fused is not None:
            from m3tr.core.pipeline.fused import describe

            forecast.update(fused.per_type)
            if method != "mhp":  # the neighbours' curve ends at the fused total
                for q in ("median", "lo", "hi"):
                    trajectory[q][-1] = max(fused.total[q], trajectory[q][-2])
            else:  # the MHP gives the curve's shape, the fused model its level
                level_curve_to_total(
                    trajectory, ctx.obs_window_s, float(sum(observed.values())), fused.total
                )
            trajectory["curve_method"] = method
            trajectory["fused"] = describe(fused, fused_model)
            method, row_model = "fused", fused_model
    log.info(
        "video %d: %d neighbours from %s in %.1f ms, forecast (%s) in %.2f s",
        video_id, len(result.hits), bank.collection if bank else "no bank",
        (retrieved - started) * 1e3, method, time.perf_counter() - retrieved,
    )  # fmt: skip
    match_intensity_to_curve(trajectory, float(ctx.obs_window_s))
    trajectory["observed_until"] = float(ctx.obs_window_s)
    trajectory["method"] = method
    trajectory["retrieval_reason"] = result.reason
    values = {
        "bank_version_id": None if bank is None else bank.id,
        "horizon_s": float(ctx.horizon_s),
        "forecast": forecast,
        "interval": float(ctx.interval),
        "trajectory": trajectory,
        "neighbours": _neighbour_rows(result),
        "retrieval_mode": result.mode,
        "encoder_profile": pv,
        **seen,
    }
    return _upsert_prediction(ctx, video_id, None if row_model is None else row_model.id, values)


def observation(video: Video, t: np.ndarray) -> dict[str, Any]:
    """What a forecast was made from: the events in the log (all of them, read in one query, so
    never half an append) and the time they were observed up to: the latest event, or later when
    the sender of the events said so (``videos.extra["observed_until_s"]``)."""
    declared = (video.extra or {}).get("observed_until_s")
    latest = float(t.max()) if len(t) else 0.0
    until = max(latest, float(declared)) if declared is not None else latest
    return {"n_events": int(len(t)), "observed_until_s": until}


def splice_observed(
    trajectory: dict[str, Any], grid: list[float], curve: list[float], obs_until: float
) -> None:
    """Replace a simulated curve's points in [0, obs_until] by the observed curve, so the
    drawn forecast starts at the observed count at T_obs instead of a line from (0, 0)."""
    t = np.asarray(trajectory["t"], dtype=np.float64)  # (G,)
    keep = t > obs_until  # (G,)
    trajectory["t"] = [*grid, *t[keep].tolist()]
    for q in ("median", "lo", "hi"):
        v = np.asarray(trajectory[q], dtype=np.float64)[keep]
        trajectory[q] = [*curve, *np.maximum(v, curve[-1] if curve else 0.0).tolist()]


def level_curve_to_total(
    trajectory: dict[str, Any], obs_until: float, observed_total: float, total: dict[str, float]
) -> None:
    """Rescale the growth after ``obs_until`` of each band (median, lo, hi) of a simulated
    cumulative curve so that it ends at ``total[band]``, keeping the curve's shape.

    The table and the curve then tell one story: the fused model's final counts, reached along
    the MHP's simulated path. The MHP's own ends are kept in ``trajectory["mhp_total"]``.
    """
    t = np.asarray(trajectory["t"], dtype=np.float64)  # (G,)
    after = t > obs_until  # (G,)
    if not after.any():
        return
    trajectory["mhp_total"] = {q: float(trajectory[q][-1]) for q in ("median", "lo", "hi")}
    bands = {}
    for q in ("median", "lo", "hi"):
        v = np.asarray(trajectory[q], dtype=np.float64)  # (G,)
        growth = np.maximum(v - observed_total, 0.0)  # (G,)
        target = max(float(total[q]) - observed_total, 0.0)
        if growth[-1] > 0:
            scaled = observed_total + growth * (target / growth[-1])
        else:  # a flat simulated curve has no shape to keep: grow linearly over the grid
            scaled = observed_total + target * np.cumsum(after) / after.sum()
        bands[q] = np.where(after, scaled, v)
    lo = np.minimum(bands["lo"], bands["median"])
    hi = np.maximum(bands["hi"], bands["median"])
    trajectory.update(median=bands["median"].tolist(), lo=lo.tolist(), hi=hi.tolist())


def intensity_integral(intensity: dict[str, Any], start_s: float) -> float:
    """Events the plotted total intensity adds over ``[start_s, end of its grid]`` (trapezoid
    over its grid; intensities are per ``unit_s``)."""
    t = np.asarray(intensity["t"], dtype=np.float64)  # (G,)
    lam = np.asarray(intensity["total"], dtype=np.float64).reshape(len(t), -1).sum(1)  # (G,)
    keep = t >= start_s
    return float(np.trapezoid(lam[keep], t[keep] / float(intensity.get("unit_s", 1.0))))


def match_intensity_to_curve(trajectory: dict[str, Any], obs_until: float) -> None:
    """Scale the plotted intensity after ``obs_until`` so that its integral is the plotted
    median curve's increase over the same span: the table, the curve and the intensity tell
    one story. The simulation gives the mean intensity over paths and the curve is a median
    (and a fused model may set the level), so without this the plotted rate could imply far
    more (or fewer) events than the curve shows. The factor is kept as ``intensity["scale"]``
    (1.0: nothing changed); the Hawkes/correction split keeps its proportions."""
    intensity = trajectory.get("intensity")
    if not intensity or not intensity.get("t"):
        return
    t_curve = np.asarray(trajectory["t"], dtype=np.float64)  # (G',)
    median = np.asarray(trajectory["median"], dtype=np.float64)  # (G',)
    t_grid = np.asarray(intensity["t"], dtype=np.float64)  # (G,)
    after = t_grid >= obs_until
    if after.sum() < 2:
        return
    start, end = float(t_grid[after][0]), float(t_grid[-1])
    increase = float(np.interp(end, t_curve, median) - np.interp(start, t_curve, median))
    integral = intensity_integral(intensity, start)
    scale = increase / integral if integral > 0 else 1.0
    for key in ("total", "hawkes", "correction"):
        if intensity.get(key) is None:
            continue
        arr = np.asarray(intensity[key], dtype=np.float64)  # (G, K)
        arr[after] *= scale
        intensity[key] = arr.tolist()
    intensity["scale"] = float(scale)


def _fused(
    ctx: PipelineContext,
    model: ActiveModel,
    video_id: int,
    result: RetrievalResult,
    bank: BankInfo | None,
    semantic: np.ndarray,
) -> FusedForecast | None:
    """The fused model's forecast, or None (logged) when it cannot serve this video.

    Its neighbours are ``result``'s when the live bank's trajectory vectors are in the space the
    model was trained with; otherwise they are retrieved again by content only (``semantic``,
    the video's R (d_R,)), and the reason is logged and kept in the forecast."""
    from m3tr.core.pipeline.fused import (
        FusedModelUnavailable,
        fused_forecast,
        load_fused,
        trajectory_space,
    )

    try:
        hits = result
        if bank is not None and result.mode == "temporal_aware":
            trained = trajectory_space(load_fused(ctx, model))
            served = TrajectorySpace.of_bank(bank.model_version_id)
            if trained != served:
                reason = (
                    f"the live bank's trajectory vectors ({served}) are not those the model was "
                    f"trained with ({trained or 'none: content-only retrieval'})"
                )
                log.info("video %d: fused model %d: neighbours by content only: %s",
                         video_id, model.id, reason)  # fmt: skip
                hits = retrieve(
                    ctx.store(),
                    bank.collection,
                    semantic,
                    None,
                    top_s=ctx.top_s,
                    filter=filter_for("service", video_id),
                    query_id=video_id,
                    temporal_reason=reason,
                )
        how = hits.mode if hits.reason is None else f"{hits.mode}: {hits.reason}"
        return fused_forecast(ctx, model, video_id, [h.video_id for h in hits.hits], how)
    except FusedModelUnavailable as exc:
        log.warning("video %d: fused model not used: %s", video_id, exc)
        return None


def _upsert_prediction(
    ctx: PipelineContext, video_id: int, model_version_id: int | None, values: dict[str, Any]
) -> int:
    """One row per (video, model version, events seen), also when the model version is NULL:
    a rerun on the same log replaces its row, a forecast after new events adds one (history)."""
    with _WRITE_LOCK, transaction(ctx.session_factory) as session:
        session.get(Video, video_id, with_for_update=True)  # serialise writers of this video
        q = select(Prediction).where(
            Prediction.video_id == video_id, Prediction.n_events == values["n_events"]
        )
        q = q.where(
            Prediction.model_version_id.is_(None)
            if model_version_id is None
            else Prediction.model_version_id == model_version_id
        )
        row = session.scalars(q).first()
        if row is None:
            row = Prediction(video_id=video_id, model_version_id=model_version_id, **values)
            session.add(row)
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.created_at = utcnow()  # made again now: the newest forecast of this video
        session.flush()
        return int(row.id)
