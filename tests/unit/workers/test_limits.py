"""The step guard stops a step past its memory or time limit, in its own thread only."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from m3tr.workers.limits import StepGuard, StepMemoryExceeded, StepTimeExceeded, rss_bytes


def _run(guard: StepGuard, body) -> BaseException | None:  # noqa: ANN001
    """Run ``body`` as a watched step in a worker thread; the exception it ended with."""
    outcome: list[BaseException | None] = [None]

    def target() -> None:
        try:
            with guard.watch(1, "predict"):
                body()
        except BaseException as exc:  # noqa: BLE001 - what the step ended with
            outcome[0] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    assert not t.is_alive()
    return outcome[0]


@pytest.mark.skipif(rss_bytes() is None, reason="needs /proc/self/statm")
def test_a_step_growing_past_its_memory_is_stopped_and_frees_it() -> None:
    guard = StepGuard(memory_mb=100, time_s=60, interval_s=0.05)
    before = rss_bytes()
    held: list[np.ndarray] = []

    def grow() -> None:
        for _ in range(200):  # up to 2 GB, 10 MB at a time: stopped long before
            held.append(np.ones(10 << 17))  # 10 MB, touched
            time.sleep(0.01)

    exc = _run(guard, grow)
    assert isinstance(exc, StepMemoryExceeded)
    assert 100 <= sum(a.nbytes for a in held) >> 20 < 600
    held.clear()
    assert "M3TR_JOB_MEMORY_MB" in guard.describe(exc, "predict")
    assert rss_bytes() - before < 200 << 20  # type: ignore[operator]


def test_a_step_past_its_time_is_stopped_and_others_run_on() -> None:
    guard = StepGuard(memory_mb=10_000, time_s=0.3, interval_s=0.05)

    def spin() -> None:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            sum(range(1000))

    started = time.monotonic()
    exc = _run(guard, spin)
    assert isinstance(exc, StepTimeExceeded) and time.monotonic() - started < 5
    assert "M3TR_JOB_TIME_LIMIT_S" in guard.describe(exc, "train")
    assert _run(guard, lambda: time.sleep(0.05)) is None  # the next step is unaffected


def test_code_that_falls_back_on_any_exception_does_not_swallow_the_stop() -> None:
    guard = StepGuard(memory_mb=10_000, time_s=0.2, interval_s=0.05)
    fallbacks = []

    def with_fallback() -> None:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                sum(range(1000))
            except Exception:  # noqa: BLE001 - what library fallbacks do
                fallbacks.append(True)

    assert isinstance(_run(guard, with_fallback), StepTimeExceeded) and fallbacks == []


def test_a_step_that_swallows_the_first_stop_is_stopped_again() -> None:
    guard = StepGuard(memory_mb=10_000, time_s=0.2, interval_s=0.05)
    swallowed = []

    def stubborn() -> None:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                sum(range(1000))
            except StepTimeExceeded:
                if not swallowed:
                    swallowed.append(True)
                    continue
                raise

    exc = _run(guard, stubborn)
    assert isinstance(exc, StepTimeExceeded) and swallowed == [True]
