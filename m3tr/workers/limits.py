"""Per-step memory and time limits in the worker: a step past its limit fails alone.

A watchdog thread samples the process's resident memory (``/proc/self/statm``) and each running
step's clock every ``interval_s``. A step whose process has grown more than ``memory_mb`` above
where it stood when the step began, or that has run longer than ``time_s``, gets
:class:`StepMemoryExceeded` / :class:`StepTimeExceeded` raised in its thread (CPython's
``PyThreadState_SetAsyncExc``, the mechanism of ``func_timeout`` and ``stopit``): the step
unwinds, its memory is released, the job fails with a message naming the limit, and the process
(in the embedded deployment, also the web server) carries on. The exception arrives at the
step's next Python bytecode, so one enormous native allocation can still outrun it; that is what
the attempt cap (``m3tr.core.pipeline.jobs.begin_step``) is for: a step whose worker dies three
times is not sent a fourth time.

With several steps running in one process (``--concurrency`` > 1, threads pool) memory is the
process's, shared: past ``concurrency * memory_mb`` the step that has run longest is stopped.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class StepLimitExceeded(BaseException):  # noqa: N818 - named for what happened, as in Celery
    """A step ran past one of its limits (raised inside the step's thread).

    A ``BaseException``, like ``KeyboardInterrupt``: library code that falls back on any
    ``Exception`` (a content-only fallback, say) must not swallow it and carry on.
    """


class StepMemoryExceeded(StepLimitExceeded):
    """The step's process grew past the step's memory budget."""


class StepTimeExceeded(StepLimitExceeded):
    """The step ran past its time limit."""


def rss_bytes() -> int | None:
    """Resident memory of this process (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class _Running:
    thread_id: int
    job_id: int
    step: str
    started: float
    rss0: int | None
    stop: type[StepLimitExceeded] | None = None
    raised_at: float = 0.0


class StepGuard:
    """Watches the steps running in this process; one per process (see :func:`get_guard`)."""

    def __init__(self, memory_mb: int, time_s: float, interval_s: float = 0.2) -> None:
        self.memory = int(memory_mb) << 20
        self.time_s = float(time_s)
        self.interval_s = interval_s
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def describe(self, exc: StepLimitExceeded, step: str) -> str:
        """The job-row text for a step stopped by this guard."""
        if isinstance(exc, StepTimeExceeded):
            return (
                f"{step}: stopped after {self.time_s:g} s, the time limit of a job step "
                "(M3TR_JOB_TIME_LIMIT_S); not retried"
            )
        return (
            f"{step}: stopped when it had taken more than {self.memory >> 20} MB of memory, the "
            "limit of a job step (M3TR_JOB_MEMORY_MB); not retried"
        )

    @contextmanager
    def watch(self, job_id: int, step: str) -> Iterator[None]:
        """Run the body as a watched step of ``job_id`` (in the calling thread)."""
        tid = threading.get_ident()
        with self._lock:
            self._running[tid] = _Running(tid, job_id, step, time.monotonic(), rss_bytes())
            self._ensure_thread()
        try:
            yield
        finally:
            while True:  # a stop landing here, before the record is gone, must not escape later
                try:
                    with self._lock:
                        self._running.pop(tid, None)
                    break
                except StepLimitExceeded:
                    continue

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="m3tr-step-guard", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval_s)
            with self._lock:  # raised only under the lock: the thread is still in its step
                self._tick(time.monotonic())

    def _tick(self, now: float) -> None:
        victim = self._victim(now)
        if victim is not None:
            running, kind, reason = victim
            running.stop = kind
            log.warning("job %d: stopping step %s (%s)", running.job_id, running.step, reason)
        for r in self._running.values():
            # again every 0.5 s: a GC callback or a library may have swallowed the last one
            if r.stop is not None and now - r.raised_at >= 0.5:
                r.raised_at = now
                _raise_in(r.thread_id, r.stop)

    def _victim(self, now: float) -> tuple[_Running, type[StepLimitExceeded], str] | None:
        live = [r for r in self._running.values() if r.stop is None]
        for r in live:
            if now - r.started > self.time_s:
                return r, StepTimeExceeded, f"ran {now - r.started:.0f} s"
        rss = rss_bytes()
        with_base = [r for r in live if r.rss0 is not None]
        if rss is None or not with_base:
            return None
        base = min(r.rss0 for r in with_base if r.rss0 is not None)
        grown = rss - base
        if grown > self.memory * len(self._running):
            oldest = min(with_base, key=lambda r: r.started)
            return oldest, StepMemoryExceeded, f"process grew by {grown >> 20} MB"
        return None


def _raise_in(thread_id: int, exc: type[BaseException]) -> None:
    n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))
    if n > 1:  # never expected; undo rather than hit the wrong threads
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


_guard: StepGuard | None = None
_guard_lock = threading.Lock()


def get_guard() -> StepGuard:
    """The process's guard, with the limits of the settings."""
    from m3tr.app.settings import get_settings

    global _guard
    with _guard_lock:
        if _guard is None:
            s = get_settings()
            _guard = StepGuard(s.job_memory_mb, s.job_time_limit_s)
        return _guard
