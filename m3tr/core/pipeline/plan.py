"""Which steps a job runs, in which order, and running one step of a job.

Job kinds and their steps (each step is idempotent, and restartable on its own):

- ``ingest``: [store_media if ``params.upload_path``] [store_events if ``params.events_path``]
  embed_content, embed_temporal, upsert_vectors, [predict unless ``params.predict`` is false]
- ``ingest_events``: store_events, embed_temporal, upsert_vectors, predict
- ``predict``: predict
- ``reforecast``: embed_temporal, upsert_vectors, predict (after events were appended to the log
  of a ready video: ``m3tr.core.pipeline.live``)
- ``rebuild_bank``: rebuild_bank (a new bank version of every video, then made live;
  ``params.make_live`` false keeps the current one live)
- ``train``: train [rebuild_bank for the new model, which then becomes active with its bank,
  unless ``params.activate`` is false]

Step names, their queues and task names: ``pipeline.steps``. The plan is a pure function of
the job's kind and params, so a worker picking up any step of a job finds the same next step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from m3tr.core.db.models import Video, VideoStatus
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.content import embed_content
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.events import store_events
from m3tr.core.pipeline.jobs import JobView, set_progress
from m3tr.core.pipeline.media import store_media
from m3tr.core.pipeline.predict import predict
from m3tr.core.pipeline.rebuild import rebuild_bank
from m3tr.core.pipeline.steps import STEPS
from m3tr.core.pipeline.train import train_mhp, trained_model
from m3tr.core.pipeline.trajectory_step import embed_temporal
from m3tr.core.pipeline.vectors import upsert_vectors

log = logging.getLogger(__name__)

INGEST = "ingest"
INGEST_EVENTS = "ingest_events"
PREDICT = "predict"
REFORECAST = "reforecast"
REBUILD_BANK = "rebuild_bank"
TRAIN = "train"


class PlanError(ValueError):
    """A job whose kind or params name no runnable plan."""


def plan_steps(kind: str, params: Mapping[str, Any]) -> list[str]:
    """The ordered steps of a job of ``kind`` with ``params``."""
    if kind == INGEST:
        steps = []
        if params.get("upload_path"):
            steps.append("store_media")
        if params.get("events_path"):
            steps.append("store_events")
        steps += ["embed_content", "embed_temporal", "upsert_vectors"]
        if params.get("predict", True):
            steps.append("predict")
        return steps
    if kind == INGEST_EVENTS:
        if not params.get("events_path"):
            raise PlanError("an ingest_events job needs params.events_path")
        return ["store_events", "embed_temporal", "upsert_vectors", "predict"]
    if kind == PREDICT:
        return ["predict"]
    if kind == REFORECAST:
        return ["embed_temporal", "upsert_vectors", "predict"]
    if kind == REBUILD_BANK:
        return ["rebuild_bank"]
    if kind == TRAIN:
        return ["train", "rebuild_bank"] if params.get("activate", True) else ["train"]
    raise PlanError(f"no pipeline plan for job kind {kind!r}")


def next_step(kind: str, params: Mapping[str, Any], step: str | None) -> str | None:
    """The step after ``step`` (the first one for None); None when the plan is finished."""
    steps = plan_steps(kind, params)
    if step is None:
        return steps[0] if steps else None
    if step not in steps:
        raise PlanError(f"step {step!r} is not part of a {kind!r} job ({', '.join(steps)})")
    i = steps.index(step)
    return steps[i + 1] if i + 1 < len(steps) else None


def step_progress(kind: str, params: Mapping[str, Any], step: str) -> float:
    """Share of the job done when ``step`` starts, in [0, 1)."""
    steps = plan_steps(kind, params)
    return steps.index(step) / len(steps) if step in steps else 0.0


def _video(job: JobView) -> int:
    if job.video_id is None:
        raise PlanError(f"job {job.id} ({job.kind}) has no video")
    return job.video_id


_RUNNERS: dict[str, Callable[[PipelineContext, JobView], object]] = {
    "store_media": lambda ctx, job: store_media(ctx, _video(job), job.params["upload_path"]),
    "store_events": lambda ctx, job: store_events(ctx, _video(job), job.params["events_path"]),
    "embed_content": lambda ctx, job: embed_content(ctx, _video(job)),
    "embed_temporal": lambda ctx, job: embed_temporal(ctx, _video(job)),
    "upsert_vectors": lambda ctx, job: upsert_vectors(ctx, _video(job)),
    "predict": lambda ctx, job: predict(ctx, _video(job)),
    "rebuild_bank": lambda ctx, job: _rebuild(ctx, job),
    "train": lambda ctx, job: train_mhp(
        ctx, job, lambda frac: set_progress(ctx.session_factory, job.id, "train", 0.9 * frac)
    ),
}


if set(_RUNNERS) != set(STEPS):  # the step table (pipeline.steps) and the runners agree
    raise RuntimeError(f"steps without a runner or runners without a step: "
                       f"{sorted(set(_RUNNERS) ^ set(STEPS))}")  # fmt: skip


def _rebuild(ctx: PipelineContext, job: JobView) -> object:
    """A bank for the current model, or, in a train job, for the model it trained."""
    if job.kind == TRAIN:
        model = trained_model(ctx, job)
        if model is None:
            raise PlanError(f"job {job.id}: no trained model version to build a bank for")
        return rebuild_bank(ctx, model=model)
    return rebuild_bank(ctx, make_live=job.params.get("make_live", True))


def run_step(ctx: PipelineContext, job: JobView, step: str) -> None:
    """Run one step of ``job`` (everything it writes is committed when this returns)."""
    if step not in _RUNNERS:
        raise PlanError(f"unknown step {step!r}")
    _RUNNERS[step](ctx, job)
    if step == "store_media" or step == "store_events":
        _mark_video(ctx, _video(job), VideoStatus.INGESTED, only_from=(VideoStatus.NEW,))
    if step == "upsert_vectors":
        _mark_video(ctx, _video(job), VideoStatus.READY)


def _mark_video(
    ctx: PipelineContext, video_id: int, status: str, only_from: tuple[str, ...] | None = None
) -> None:
    with transaction(ctx.session_factory) as session:
        video = session.get(Video, video_id)
        if video is None:
            return
        if only_from is None or video.status in only_from:
            video.status = status
            video.error = None
