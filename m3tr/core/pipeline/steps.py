"""The step table: every step a job can run, the worker queue it runs on and its task name.

The one owner of step names: ``pipeline.plan`` runs them, ``workers.tasks`` registers one
Celery task per step (``task_name``) and ``workers.celery_app`` routes each to its queue.
Encoders and the temporal model go to ``gpu`` workers, I/O and serving to ``cpu`` workers.
No imports: the worker configuration reads it without loading the pipeline's steps.
"""

from __future__ import annotations

QUEUE_GPU = "gpu"
QUEUE_CPU = "cpu"

# step -> queue, in pipeline order
STEP_QUEUES: dict[str, str] = {
    "store_media": QUEUE_CPU,
    "store_events": QUEUE_CPU,
    "embed_content": QUEUE_GPU,
    "embed_temporal": QUEUE_GPU,
    "upsert_vectors": QUEUE_CPU,
    "predict": QUEUE_CPU,
    "rebuild_bank": QUEUE_GPU,  # may compute MHP signatures
    "train": QUEUE_GPU,
}
STEPS = tuple(STEP_QUEUES)
TASK_PREFIX = "m3tr."


def task_name(step: str) -> str:
    """The Celery task that runs ``step`` (``m3tr.<step>``).

    Raises:
        KeyError: ``step`` is not in the table.
    """
    if step not in STEP_QUEUES:
        raise KeyError(f"unknown pipeline step {step!r} (steps: {', '.join(STEPS)})")
    return f"{TASK_PREFIX}{step}"
