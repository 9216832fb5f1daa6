"""Job rows: create, advance (state, step, percent), finish, fail with the error text.

A job row is the durable record of one unit of background work. Workers re-read it on every
task, so a redelivered or re-sent task finds where the job stands. Terminal states (``done``,
``failed``) are never left again by a late duplicate task.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.db.models import Job, JobState, Video, VideoStatus, utcnow
from m3tr.core.db.session import transaction

log = logging.getLogger(__name__)

TERMINAL = (JobState.DONE, JobState.FAILED)


class JobNotFound(LookupError):
    pass


@dataclass(frozen=True)
class JobView:
    """A detached, read-only copy of a job row (safe to use after the session closes)."""

    id: int
    kind: str
    video_id: int | None
    state: str
    step: str | None
    progress: float
    error: str | None
    params: dict[str, Any]
    attempts: int

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            kind=job.kind,
            video_id=job.video_id,
            state=job.state,
            step=job.step,
            progress=float(job.progress or 0.0),
            error=job.error,
            params=dict(job.params or {}),
            attempts=int(job.attempts or 0),
        )

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL


def create_job(
    session: Session,
    kind: str,
    *,
    video_id: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> Job:
    """Add a queued job row (the caller commits, and only then sends the task)."""
    job = Job(
        kind=kind,
        video_id=video_id,
        state=JobState.QUEUED,
        step=None,
        progress=0.0,
        params=dict(params or {}),
        attempts=0,
    )
    session.add(job)
    session.flush()
    return job


def get_job(factory: sessionmaker[Session], job_id: int) -> JobView:
    with factory() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id}")
        return JobView.of(job)


def begin_step(
    factory: sessionmaker[Session],
    job_id: int,
    step: str,
    progress: float,
    task_id: str | None,
    *,
    plan: Sequence[str] = (),
    max_attempts: int | None = None,
) -> JobView | None:
    """Mark the job running at ``step``; None when the task must not run. It must not when:

    - the job is already finished;
    - the job already stands at a later step of ``plan`` (a stale duplicate message: running it
      would move the job backwards);
    - ``step`` has already been started ``max_attempts`` times without finishing (its worker
      died each time, e.g. killed for memory): the job fails here, with a message saying so.
    """
    with transaction(factory) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise JobNotFound(f"no job with id {job_id}")
        if job.state in TERMINAL:
            log.info("job %d is already %s; skipping step %s", job_id, job.state, step)
            return None
        if job.state == JobState.RUNNING and _later(plan, job.step, step):
            log.warning("job %d is at %s already; dropping a late %s", job_id, job.step, step)
            return None
        if job.state == JobState.QUEUED or job.started_at is None:
            job.started_at = utcnow()
        # attempts: how many times the current step has been started (1 = no retry so far)
        again = job.state == JobState.RUNNING and job.step == step
        if again and max_attempts is not None and int(job.attempts or 0) >= max_attempts:
            _fail(session, job, f"{step}: started {job.attempts} times and never finished (the "
                                "worker was stopped each time, perhaps for memory); not retried")  # fmt: skip
            return None
        job.attempts = int(job.attempts or 0) + 1 if again else 1
        job.state = JobState.RUNNING
        job.step = step
        job.progress = float(progress)
        if task_id:
            job.task_id = task_id
        return JobView.of(job)


def set_progress(factory: sessionmaker[Session], job_id: int, step: str, progress: float) -> None:
    """Record progress inside a step (no-op once the job is finished)."""
    with transaction(factory) as session:
        job = session.get(Job, job_id)
        if job is not None and job.state not in TERMINAL:
            job.step = step
            job.progress = float(progress)


def finish_job(factory: sessionmaker[Session], job_id: int, step: str = "done") -> None:
    """Mark the job done at 100 %."""
    with transaction(factory) as session:
        job = session.get(Job, job_id)
        if job is None or job.state in TERMINAL:
            return
        job.state = JobState.DONE
        job.step = step
        job.progress = 1.0
        job.error = None
        job.finished_at = utcnow()


def _later(plan: Sequence[str], current: str | None, step: str) -> bool:
    """True when ``current`` comes after ``step`` in ``plan``."""
    if current not in plan or step not in plan:
        return False
    return plan.index(current) > plan.index(step)


_ABS_PATH = re.compile(r"(?<![\w.:/])(/[^\s'\"():,;]+)+")


def public_error(text: str) -> str:
    """``text`` without the server's folders: each absolute path is cut to its file name."""
    return _ABS_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "/", text)


def _fail(session: Session, job: Job, error: str) -> None:
    error = public_error(error)[:4000]
    job.state = JobState.FAILED
    job.error = error
    job.finished_at = utcnow()
    if job.video_id is not None:
        video = session.get(Video, job.video_id)
        if video is not None and video.status != VideoStatus.READY:
            video.status = VideoStatus.FAILED
            video.error = error
    log.warning("job %d failed: %s", job.id, error)


def fail_job(factory: sessionmaker[Session], job_id: int, error: str) -> None:
    """Mark the job failed with ``error`` (server paths cut to file names); its video (if any,
    and not ready) is marked failed too."""
    with transaction(factory) as session:
        job = session.get(Job, job_id)
        if job is None or job.state in TERMINAL:
            return
        _fail(session, job, error)


def recent_jobs(
    session: Session, limit: int = 30, states: Sequence[str] | None = None, kind: str | None = None
) -> list[JobView]:
    """Newest jobs first."""
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if states:
        q = q.where(Job.state.in_(list(states)))
    if kind:
        q = q.where(Job.kind == kind)
    return [JobView.of(j) for j in session.scalars(q)]


def jobs_by_id(session: Session, ids: Iterable[int]) -> list[JobView]:
    id_list = list(ids)
    if not id_list:
        return []
    return [JobView.of(j) for j in session.scalars(select(Job).where(Job.id.in_(id_list)))]


def unfinished_jobs(session: Session) -> list[JobView]:
    """Jobs neither done nor failed, oldest first (for re-sending after an embedded restart)."""
    q = select(Job).where(Job.state.not_in(TERMINAL)).order_by(Job.id)
    return [JobView.of(j) for j in session.scalars(q)]


def state_counts(session: Session, ids: Iterable[int] | None = None) -> dict[str, int]:
    """Number of jobs per state (of ``ids`` when given)."""
    q = select(Job.state, func.count()).group_by(Job.state)
    if ids is not None:
        q = q.where(Job.id.in_(list(ids)))
    return {state: int(n) for state, n in session.execute(q)}
