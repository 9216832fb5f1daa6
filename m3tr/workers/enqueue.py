"""Send a committed job to the workers: its first step, on that step's queue."""

from __future__ import annotations

import logging

from m3tr.core.pipeline.jobs import get_job
from m3tr.core.pipeline.plan import next_step
from m3tr.workers.context import get_context
from m3tr.workers.tasks import send_step

log = logging.getLogger(__name__)


def enqueue_job(job_id: int) -> str | None:
    """Send the first (or, for a started job, the current) step of ``job_id``.

    Call only after the transaction that created the job row has committed. Returns the step
    sent, or None when the job is already finished.
    """
    job = get_job(get_context().session_factory, job_id)
    if job.finished:
        return None
    step = (
        job.step if job.step and job.state == "running" else next_step(job.kind, job.params, None)
    )
    if step is None:
        return None
    send_step(job_id, step)
    log.info("job %d sent (%s)", job_id, step)
    return step
