"""What a process that runs workers needs from this package (``m3tr serve``, ``m3tr worker``,
``m3tr demo``): the Celery app and its broker, the in-process worker, and the re-sending of
jobs a killed worker left unfinished.

The app imports from ``m3tr.workers`` only this module, ``enqueue`` (send a job) and
``context`` (the process's pipeline context); ``scripts/import-graph`` checks it. The workers
import from the app only ``m3tr.app.settings``.
"""

from __future__ import annotations

from m3tr.workers.celery_app import broker_folders, get_app, is_embedded
from m3tr.workers.embedded import EmbeddedWorker
from m3tr.workers.recovery import resend_interrupted_jobs

__all__ = ["EmbeddedWorker", "broker_folders", "get_app", "is_embedded", "resend_interrupted_jobs"]
