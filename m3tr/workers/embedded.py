"""Run a Celery worker inside the current process, in a background thread.

Used by ``m3tr serve`` in the embedded deployment: the web app and the worker share one
process, hence one :class:`PipelineContext` and one vector store (Qdrant local mode's lock is
held by this process only). Modelled on ``celery.contrib.testing.worker.start_worker``: the
worker runs with a ``threads`` pool and without remote control, gossip, mingle or heartbeats.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from celery import Celery
from celery.contrib.testing.worker import TestWorkController
from celery.utils.nodenames import anon_nodename
from celery.worker import state as worker_state

log = logging.getLogger(__name__)


class EmbeddedWorker:
    """A worker thread: ``start()`` returns once it consumes; ``stop()`` waits for it to end."""

    def __init__(
        self,
        app: Celery,
        queues: Sequence[str] = ("cpu", "gpu"),
        concurrency: int = 1,
        pool: str = "threads",
        loglevel: str = "INFO",
    ) -> None:
        self.app = app
        self.queues = list(queues)
        self.controller = TestWorkController(
            app=app,
            concurrency=concurrency,
            hostname=anon_nodename(),
            pool=pool,
            loglevel=loglevel,
            queues=list(queues),
            ready_callback=None,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self.thread = threading.Thread(
            target=self.controller.start, name="m3tr-worker", daemon=True
        )

    def start(self, timeout_s: float = 30.0) -> None:
        self.thread.start()
        if not self.controller._on_started.wait(timeout_s):
            raise RuntimeError(f"the embedded worker did not start within {timeout_s:.0f} s")
        log.info("embedded worker started (queues: %s)", ",".join(self.queues))

    def stop(self, timeout_s: float = 30.0) -> None:
        worker_state.should_terminate = 0
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            log.warning("embedded worker still busy after %.0f s; leaving it", timeout_s)
        worker_state.should_terminate = None
