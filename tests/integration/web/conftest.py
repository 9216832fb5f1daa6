"""Real ``m3tr serve`` processes (embedded: SQLite, filesystem broker, worker in the process) on
a test workspace, driven over loopback; their memory read from ``/proc/<pid>/status``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.integration.workers.conftest import HORIZON_S, M3TR, OBS_S, REPO, VOCAB

STARTUP_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of process ``pid`` in KB (VmRSS: now; VmHWM: its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


class RssSampler:
    """The highest RSS of a process while the ``with`` block runs (sampled every 10 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self.start_kb = proc_kb(pid)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, proc_kb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, proc_kb(self.pid))

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.start_kb) / 1024


@dataclass
class Server:
    """One workspace and the ``m3tr serve`` processes started on it, one after another."""

    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        log = self.home.parent / f"serve{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("w") as fh:
            self.proc = subprocess.Popen(
                [*M3TR, "serve", "--port", str(self.port)],
                env=self.env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown code runs
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        return "\n".join(p.read_text() for p in self.logs)

    def sql(self, query: str) -> list[tuple]:
        engine = create_engine(f"sqlite:///{self.home / 'm3tr.db'}")
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(query))]
        finally:
            engine.dispose()

    def files(self, *parts: str) -> list[Path]:
        root = self.home.joinpath(*parts)
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def wait_jobs(self, n: int, timeout: float) -> list[tuple]:
        """(id, state, step, attempts, error) of every job, once ``n`` exist and all ended."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.sql("select id, state, step, attempts, error from jobs order by id")
            if len(jobs) >= n and all(j[1] in ("done", "failed") for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs not finished in {timeout} s: {jobs}\n"
                                     f"{self.log_text()[-4000:]}")  # fmt: skip
            time.sleep(0.5)


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M3TR_", "GRADIO_"))}
    tmp = home / "tmp"  # the server's temporary files (multipart spooling) land here
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        M3TR_HOME=str(home),
        M3TR_OBS_WINDOW_S=str(OBS_S),
        M3TR_HORIZON_S=str(HORIZON_S),
        M3TR_EVENT_TYPES=",".join(VOCAB),
        TMPDIR=str(tmp),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    started: list[Server] = []

    def make(**extra: str) -> Server:
        home = tmp_path / f"home{len(started)}"
        home.mkdir()
        server = Server(home=home, env=server_env(home, **extra))
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
