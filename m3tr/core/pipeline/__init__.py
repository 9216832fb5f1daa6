"""The ingestion and prediction pipeline as plain library steps (workers stay thin).

Each step takes a :class:`PipelineContext` and a video id, re-reads what it needs from SQL and
the stores, and is idempotent: ``store_media``, ``store_events``, ``embed_content``,
``embed_temporal``, ``upsert_vectors``, ``predict``. ``plan`` says which steps a job runs;
``jobs`` keeps each job's state, step, progress and error in SQL; ``submit`` registers inputs.
"""

from m3tr.core.pipeline.content import embed_content
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError, describe_error, is_bad_input, is_transient
from m3tr.core.pipeline.events import store_events
from m3tr.core.pipeline.jobs import (
    JobView,
    begin_step,
    create_job,
    fail_job,
    finish_job,
    get_job,
    recent_jobs,
    state_counts,
    unfinished_jobs,
)
from m3tr.core.pipeline.media import sha256_file, store_media
from m3tr.core.pipeline.plan import next_step, plan_steps, run_step, step_progress
from m3tr.core.pipeline.predict import predict
from m3tr.core.pipeline.submit import Registration, events_for, find_inputs, register_ingest
from m3tr.core.pipeline.trajectory_step import embed_temporal
from m3tr.core.pipeline.vectors import upsert_vectors

__all__ = [
    "BadInputError",
    "JobView",
    "PipelineContext",
    "Registration",
    "begin_step",
    "create_job",
    "describe_error",
    "embed_content",
    "embed_temporal",
    "events_for",
    "fail_job",
    "find_inputs",
    "finish_job",
    "get_job",
    "is_bad_input",
    "is_transient",
    "next_step",
    "plan_steps",
    "predict",
    "recent_jobs",
    "register_ingest",
    "run_step",
    "sha256_file",
    "state_counts",
    "step_progress",
    "store_events",
    "store_media",
    "unfinished_jobs",
    "upsert_vectors",
]
