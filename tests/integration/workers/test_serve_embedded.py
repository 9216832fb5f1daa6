"""Embedded default: ``m3tr serve`` runs the web app and a worker in one process (filesystem
broker, SQLite, Qdrant Edge owned by that process); ``m3tr ingest`` from another process
and a REST upload both go through it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.workers.conftest import HORIZON_S, M3TR, OBS_S, REPO, VOCAB, write_log

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_app_and_worker_in_one_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3TR_")}
    env.update(
        M3TR_HOME=str(home),
        M3TR_OBS_WINDOW_S=str(OBS_S),
        M3TR_HORIZON_S=str(HORIZON_S),
        M3TR_EVENT_TYPES=",".join(VOCAB),
        PYTHONUNBUFFERED="1",
    )
    inbox = tmp_path / "inbox"
    for i in range(3):
        write_clip(ClipSpec(name=f"old{i}", style=i), inbox / f"old{i}.mp4")
        write_log(inbox / f"old{i}.csv", seed=i, matured=True)
    new_clip = write_clip(ClipSpec(name="new", style=1), tmp_path / "new.mp4")
    new_log = write_log(tmp_path / "new.csv", seed=9, matured=False)

    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*M3TR, "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()[
                -3000:
            ]
            time.sleep(0.5)

        out = subprocess.run(
            [*M3TR, "ingest", str(inbox), "--timeout", "180"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert out.returncode == 0 and "done 3, failed 0" in out.stderr, out.stderr[-3000:]

        with new_clip.open("rb") as media, new_log.open("rb") as events:
            created = httpx.post(
                f"{base}/api/videos",
                files={"media": ("new.mp4", media, "video/mp4"), "events": ("new.csv", events, "text/csv")},
                data={"title": "a new clip"},
                timeout=60,
            )  # fmt: skip
        assert created.status_code == 201, created.text
        job_url, pred_url = created.json()["job_url"], created.json()["prediction_url"]
        deadline = time.monotonic() + 120
        while (job := httpx.get(job_url, timeout=5).json())["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.3)
        assert job["state"] == "done", job
        pred = httpx.get(pred_url, timeout=5).json()
        assert pred["retrieval_mode"] == "temporal_aware"
        assert len(pred["neighbours"]) == 3  # the three matured videos, served by the same store
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    # the process flushed and released the Edge store on exit: another process can open it,
    # and the bank the worker wrote is there
    from m3tr.core.retrieval.edge_store import EdgeStore

    store = EdgeStore(home / "qdrant-edge")
    try:
        assert sum(store.count(c) for c in store.list_collections()) >= 3
    finally:
        store.close()
