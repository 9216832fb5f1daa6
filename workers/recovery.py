"""Re-send jobs whose message was lost with a killed embedded worker.

The filesystem broker deletes a message when a worker takes it, so a worker killed mid-task
takes its message with it. An embedded deployment has exactly one worker, so when it starts,
every job left ``running`` lost its message: it is sent again at its current step (steps are
idempotent). Redis deployments never need this: unacknowledged messages come back by themselves
after the visibility timeout.
"""

from __future__ import annotations

import logging

from m3tr_core.db.models import JobState
from m3tr_core.pipeline.jobs import unfinished_jobs
from m3tr_core.pipeline.plan import PlanError, plan_steps
from workers.context import get_context
from workers.tasks import send_step

log = logging.getLogger(__name__)


def resend_interrupted_jobs() -> list[int]:
    """Send again every ``running`` job at its current step; returns their ids."""
    ctx = get_context()
    with ctx.session_factory() as session:
        jobs = [j for j in unfinished_jobs(session) if j.state == JobState.RUNNING]
    sent = []
    for job in jobs:
        try:
            steps = plan_steps(job.kind, job.params)
        except PlanError:
            continue
        step = job.step if job.step in steps else steps[0]
        send_step(job.id, step)
        sent.append(job.id)
    if sent:
        log.info("re-sent %d interrupted jobs: %s", len(sent), sent)
    return sent
