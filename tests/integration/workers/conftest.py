"""Real services for worker tests: PostgreSQL (fresh database per test), Redis (db 13), and real
``m3tr worker`` subprocesses that own a Qdrant local-mode folder in the test's workspace.

The test process never opens the Qdrant folder while a worker runs (local mode is
single-process); it checks vectors after stopping the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.synthetic.events import default_params, simulate_hawkes, write_event_csv

REPO = Path(__file__).resolve().parents[3]
M3TR = [sys.executable, "-m", "m3tr.app.cli.main"]
REDIS_URL = os.environ.get("M3TR_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
VOCAB = ("like", "comment", "share")
OBS_S = 1800.0
HORIZON_S = 7200.0


def redis_or_skip() -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
        client.close()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")


@dataclass
class Service:
    """A workspace on real PostgreSQL + Redis, and the worker processes started on it."""

    home: Path
    env: dict[str, str]
    sessions: sessionmaker[Session]
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*M3TR, *args], env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def cli_background(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*M3TR, *args], env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen:
        log = self.home / f"worker{len(self.workers)}.log"
        fh = log.open("w")
        proc = subprocess.Popen(
            [*M3TR, "worker", "-Q", "cpu,gpu", "-c", str(concurrency), "--pool", "threads"],
            env=self.env,
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        self.logs.append(log)
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        return proc

    def stop_workers(self) -> None:
        """Warm shutdown (SIGTERM): finishes the current task, releases the Qdrant lock."""
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def wait_jobs(
        self, n: int, timeout: float = 120, until: Callable[[list], bool] | None = None
    ) -> list:
        """Poll job rows until ``n`` exist and all are finished (or ``until`` holds)."""
        from m3tr.core.pipeline.jobs import recent_jobs

        deadline = time.monotonic() + timeout
        while True:
            with self.sessions() as s:
                jobs = recent_jobs(s, limit=10_000)
            if until is not None and until(jobs):
                return jobs
            if until is not None and len(jobs) >= n and all(j.finished for j in jobs):
                raise AssertionError(f"every job finished before the awaited condition: {jobs}")
            if until is None and len(jobs) >= n and all(j.finished for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in self.logs)
                raise AssertionError(f"jobs not finished in {timeout} s: {jobs}\n{logs}")
            time.sleep(0.1)

    def count(self, model: type) -> int:
        with self.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def service(pg_url: str, tmp_path: Path) -> Iterator[Service]:
    from m3tr.app.migrate import upgrade
    from m3tr.core.db.session import make_engine, make_session_factory

    redis_or_skip()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "M3TR_HOME": str(home),
        "M3TR_DATABASE_URL": pg_url,
        "M3TR_BROKER_URL": REDIS_URL,
        # a key prefix of its own: concurrent test runs on this Redis never take each other's tasks
        "M3TR_BROKER_KEY_PREFIX": f"m3tr-test-{uuid.uuid4().hex[:12]}:",
        "M3TR_VECTOR_BACKEND": "qdrant-edge",
        "M3TR_VISIBILITY_TIMEOUT_S": "60",
        "M3TR_OBS_WINDOW_S": str(OBS_S),
        "M3TR_HORIZON_S": str(HORIZON_S),
        "M3TR_EVENT_TYPES": ",".join(VOCAB),
        "M3TR_ENCODER_PROFILE": "lite",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("M3TR_QDRANT_URL", None)
    upgrade(pg_url)
    engine = make_engine(pg_url)
    svc = Service(home=home, env=env, sessions=make_session_factory(engine))
    try:
        yield svc
    finally:
        svc.stop_workers()
        engine.dispose()
        redis_or_skip()  # flush what the test left in the broker


def write_log(path: Path, seed: int, matured: bool, scale: float = 0.2) -> Path:
    """A Hawkes log for one video: past the horizon (matured) or only the early window."""
    span = HORIZON_S * 1.2 if matured else OBS_S
    t, types = simulate_hawkes(default_params(scale, VOCAB), span, np.random.default_rng(seed))
    return write_event_csv(path, t, types)


def open_live_bank(home: Path):  # noqa: ANN201 - EdgeStore
    """Open the workspace's Qdrant Edge folder (only once the workers have stopped)."""
    from m3tr.core.retrieval.edge_store import EdgeStore

    return EdgeStore(home / "qdrant-edge")
