"""Live re-forecasts: append validated events to a video's log, then forecast it again.

``append_events`` runs in the caller's transaction: the batch is written whole or not at all,
with the re-forecast job row, and the job is sent only after the commit, so a forecast never
reads half an append (the ``predict`` step reads the log in one query and records how many
events it saw). Every forecast is kept (``predictions``, one row per log state); the batch's
``observed_until_s`` (default: its latest event) is the time the next forecast is made at.

Rules for a batch (validated before by ``m3tr.core.events.log``, same messages as a log file):
- events exactly equal to stored ones (t, type, user) are skipped, so a resent batch is harmless;
- the whole log stays within the per-log cap;
- ``observed_until_s`` is not before the batch's latest event;
- the video is ready (then a ``reforecast`` job is created), or still being ingested (then the
  pending ingest job, whose later steps read the new events, makes the forecast).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from m3tr.core.db.models import Event, Job, JobState, Video, VideoStatus
from m3tr.core.db.repository import VideoNotFound, bulk_insert_events
from m3tr.core.events.log import EventLog
from m3tr.core.pipeline.jobs import create_job
from m3tr.core.pipeline.plan import INGEST, REFORECAST

log = logging.getLogger(__name__)


class AppendRefused(ValueError):
    """A batch that cannot be appended (cap, time, video state); nothing was written."""


@dataclass(frozen=True)
class Appended:
    video_id: int
    n_added: int
    n_duplicates: int
    n_events: int  # the whole log after the append
    observed_until_s: float
    job_id: int
    new_job: bool  # False: an ingest job already pending will forecast (do not send it again)


def _pending_ingest(session: Session, video_id: int) -> Job | None:
    return session.scalars(
        select(Job)
        .where(
            Job.video_id == video_id,
            Job.kind == INGEST,
            Job.state.in_((JobState.QUEUED, JobState.RUNNING)),
        )
        .order_by(Job.id.desc())
    ).first()


def append_events(
    session: Session,
    video_id: int,
    batch: EventLog,
    *,
    max_events: int,
    observed_until_s: float | None = None,
) -> Appended:
    """Append ``batch`` to the log of ``video_id`` and add the job that re-forecasts it.

    Raises:
        VideoNotFound: no such video.
        AppendRefused: the batch breaks a rule above (nothing written).
    """
    video = session.get(Video, video_id, with_for_update=True)  # one append at a time per video
    if video is None:
        raise VideoNotFound(f"no video with id {video_id}")
    pending = None
    if video.status != VideoStatus.READY:
        pending = _pending_ingest(session, video_id)
        if pending is None:
            raise AppendRefused(
                f"video {video_id} is {video.status}, not ready: ingest it again before "
                "appending events"
            )
    latest = float(batch.t.max()) if len(batch) else 0.0
    if observed_until_s is not None and observed_until_s < latest:
        raise AppendRefused(
            f"observed_until_s={observed_until_s:g} is before the batch's latest event "
            f"(t={latest:g})"
        )
    stored = session.execute(
        select(Event.t, Event.type, Event.user).where(Event.video_id == video_id)
    ).all()
    seen = {(float(t), str(k), u) for t, k, u in stored}
    users = batch.user if batch.user is not None else np.full(len(batch), None, dtype=object)
    keep = np.array(
        [
            (float(t), str(k), u) not in seen
            for t, k, u in zip(batch.t, batch.type, users, strict=True)
        ],
        dtype=bool,
    )  # (n,)
    n_new = int(keep.sum())
    if len(stored) + n_new > max_events:
        raise AppendRefused(
            f"video {video_id} has {len(stored)} events; {n_new} more would exceed the cap of "
            f"{max_events} per log (M3TR_MAX_EVENTS_PER_LOG)"
        )
    if n_new:
        bulk_insert_events(
            session,
            np.full(n_new, video_id, dtype=np.int64),
            batch.t[keep],
            list(batch.type[keep]),
            None if batch.user is None else list(batch.user[keep]),
        )
    extra = dict(video.extra or {})
    until = max(float(extra.get("observed_until_s") or 0.0), latest, observed_until_s or 0.0)
    extra["observed_until_s"] = until
    extra["appends"] = int(extra.get("appends", 0)) + 1
    video.extra = extra
    if pending is not None:
        job_id, new_job = int(pending.id), False
    else:
        job_id, new_job = int(create_job(session, REFORECAST, video_id=video_id).id), True
    session.flush()
    total = session.scalar(select(func.count()).where(Event.video_id == video_id)) or 0
    log.info(
        "video %d: appended %d events (%d already stored), log now %d events, observed until "
        "%g s; job %d",
        video_id,
        n_new,
        len(batch) - n_new,
        total,
        until,
        job_id,
    )
    return Appended(video_id, n_new, len(batch) - n_new, int(total), until, job_id, new_job)
