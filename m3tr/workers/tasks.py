"""Named Celery tasks. Each takes a job id, re-reads the job from SQL and runs one step.

A task: marks the job running at its step, runs the step (idempotent, committed on return),
then sends the job's next step (or marks the job done). Errors:
- bad input (corrupt media, invalid event log): the job fails once with the error text;
- transient (database, Redis, Qdrant unreachable): retried with exponential backoff, and the
  job fails with the error text once retries run out;
- anything else: the job fails with the error text (a bug; the traceback is logged);
- past its memory or time limit (``m3tr.workers.limits``): the job fails once, saying which limit.
A step runs only if the job has not moved past it (a late duplicate message is dropped), and a
step whose worker died ``MAX_STEP_ATTEMPTS`` times fails its job instead of running again.
"""

from __future__ import annotations

import logging
import random

from celery import Task, shared_task
from celery.exceptions import Retry

from m3tr.core.pipeline.errors import describe_error, is_bad_input, is_transient
from m3tr.core.pipeline.jobs import begin_step, fail_job, finish_job, get_job
from m3tr.core.pipeline.plan import PlanError, next_step, plan_steps, run_step, step_progress
from m3tr.core.pipeline.steps import STEPS, task_name
from m3tr.workers.context import get_context
from m3tr.workers.limits import StepLimitExceeded, get_guard

log = logging.getLogger(__name__)

MAX_RETRIES = 8
# A step started this many times without finishing (its worker died each time) fails its job.
MAX_STEP_ATTEMPTS = 3
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0

STEP_TASKS = {step: task_name(step) for step in STEPS}  # the step table's task names


def backoff_s(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: exponential with jitter, capped."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**retries) * random.uniform(0.75, 1.25)


def send_step(job_id: int, step: str) -> None:
    """Send the task of ``step`` for ``job_id`` (routed to its queue by ``task_routes``)."""
    from m3tr.workers.celery_app import get_app

    get_app().send_task(STEP_TASKS[step], args=[job_id])


def run_job_step(task: Task, job_id: int, step: str) -> None:
    """Body shared by every step task."""
    ctx = get_context()
    try:
        job = get_job(ctx.session_factory, job_id)
        job = begin_step(
            ctx.session_factory,
            job_id,
            step,
            step_progress(job.kind, job.params, step),
            task.request.id,
            plan=_plan(job.kind, job.params),
            max_attempts=MAX_STEP_ATTEMPTS,
        )
        if job is None:
            return
        log.info("job %d: step %s started (attempt %d)", job_id, step, job.attempts)
        guard = get_guard()
        try:
            with guard.watch(job_id, step):
                run_step(ctx, job, step)
        except StepLimitExceeded as exc:
            fail_job(ctx.session_factory, job_id, guard.describe(exc, step))
            return
        following = next_step(job.kind, job.params, step)
        if following is None:
            finish_job(ctx.session_factory, job_id)
            log.info("job %d done", job_id)
        else:
            send_step(job_id, following)
    except Retry:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure ends on the job row
        _handle_failure(task, ctx, job_id, step, exc)


def _plan(kind: str, params: dict) -> list[str]:
    try:
        return plan_steps(kind, params)
    except PlanError:
        return []


def _handle_failure(task: Task, ctx, job_id: int, step: str, exc: Exception) -> None:  # noqa: ANN001
    text = f"{step}: {describe_error(exc)}"
    if is_bad_input(exc):
        log.warning("job %d: bad input at %s: %s", job_id, step, exc)
        _fail_or_retry(task, ctx, job_id, text, exc)
        return
    if is_transient(exc):
        if task.request.retries < MAX_RETRIES:
            delay = backoff_s(task.request.retries)
            log.warning(
                "job %d: transient error at %s, retry in %.0f s: %s", job_id, step, delay, exc
            )
            raise task.retry(exc=exc, countdown=delay, max_retries=MAX_RETRIES)
        text = f"{text} (gave up after {MAX_RETRIES} retries)"
    else:
        log.exception("job %d: unexpected error at %s", job_id, step)
    _fail_or_retry(task, ctx, job_id, text, exc)


def _fail_or_retry(task: Task, ctx, job_id: int, text: str, exc: Exception) -> None:  # noqa: ANN001
    """Record the failure; if even that cannot be written (database down), retry the task."""
    try:
        fail_job(ctx.session_factory, job_id, text)
    except Exception as db_exc:  # noqa: BLE001
        if is_transient(db_exc) and task.request.retries < MAX_RETRIES:
            raise task.retry(exc=db_exc, countdown=backoff_s(task.request.retries)) from exc
        raise


def _step_task(step: str):  # noqa: ANN202 - a Celery task
    @shared_task(bind=True, name=STEP_TASKS[step], acks_late=True, ignore_result=True)
    def _task(self: Task, job_id: int) -> None:
        run_job_step(self, int(job_id), step)

    _task.__doc__ = f"Run the ``{step}`` step of a job (see m3tr.core.pipeline.plan)."
    return _task


store_media_task = _step_task("store_media")
store_events_task = _step_task("store_events")
embed_content_task = _step_task("embed_content")
embed_temporal_task = _step_task("embed_temporal")
upsert_vectors_task = _step_task("upsert_vectors")
predict_task = _step_task("predict")
rebuild_bank_task = _step_task("rebuild_bank")
train_task = _step_task("train")
