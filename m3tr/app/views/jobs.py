"""A job's state, as the REST API and the Predict tab show it."""

from __future__ import annotations

from m3tr.app.services import Services
from m3tr.core.pipeline.jobs import JobView, get_job

__all__ = ["JobView", "job_view"]


def job_view(services: Services, job_id: int) -> JobView:
    """The job's current state; raises LookupError (``JobNotFound``) for an unknown id."""
    return get_job(services.sessions, int(job_id))
