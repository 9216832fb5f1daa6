"""Re-send jobs whose message was lost with a killed embedded worker.

The filesystem broker deletes a message when a worker takes it, so a worker killed mid-task
takes its message with it. An embedded deployment has exactly one worker, so when it starts:
- a job with a step message waiting in the queue folder is left alone (a ``running`` job whose
  step finished has its next step waiting there: sending its current step again would run it
  twice and move the job backwards);
- a job left ``running`` with no message waiting lost it with the killed worker: it is sent
  again at its current step (which then counts a second attempt);
- a ``queued`` job whose message is not in the queue folder (taken, then lost before the job
  row said ``running``) is sent again from its first step.
Workers also drop a step message for a job already past that step. Redis deployments never
need this:
unacknowledged messages come back by themselves after the visibility timeout.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

from m3tr.core.db.models import JobState
from m3tr.core.pipeline.jobs import unfinished_jobs
from m3tr.core.pipeline.plan import PlanError, plan_steps
from m3tr.workers.context import get_context
from m3tr.workers.tasks import STEP_TASKS, send_step

log = logging.getLogger(__name__)


def queued_job_ids(queue_dir: Path) -> set[int]:
    """Job ids of the step messages waiting in a filesystem-broker folder."""
    ids: set[int] = set()
    names = set(STEP_TASKS.values())
    for path in queue_dir.glob("*.msg"):
        try:
            headers = json.loads(path.read_text()).get("headers", {})
            if headers.get("task") in names:
                args = ast.literal_eval(headers.get("argsrepr") or "()")
                ids.add(int(args[0]))
        except (OSError, ValueError, SyntaxError, IndexError, TypeError):
            continue  # taken by a worker meanwhile, or not ours
    return ids


def resend_interrupted_jobs(queue_dir: Path | None = None) -> list[int]:
    """Send again every interrupted job (see the module docstring); returns their ids."""
    ctx = get_context()
    with ctx.session_factory() as session:
        jobs = unfinished_jobs(session)
    waiting = queued_job_ids(queue_dir) if queue_dir is not None else set()
    sent = []
    for job in jobs:
        if job.id in waiting:
            continue  # its next message is in the queue: sending another would run a step twice
        if job.state == JobState.QUEUED and queue_dir is None:
            continue
        try:
            steps = plan_steps(job.kind, job.params)
        except PlanError:
            continue
        step = job.step if job.state == JobState.RUNNING and job.step in steps else steps[0]
        send_step(job.id, step)
        sent.append(job.id)
    if sent:
        log.info("re-sent %d interrupted jobs: %s", len(sent), sent)
    return sent
