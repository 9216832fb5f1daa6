"""A log at the cap through the REST API, with the default settings: the server's peak memory
stays within 2 GB of its idle level, and the forecast is done (issue 17). Also: one event more
than the cap is refused with a 422 that names the limit."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from m3tr.app.settings import Settings
from m3tr.bench.memory import write_log
from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.web.conftest import RssSampler, Server, proc_kb, server_env
from tests.integration.workers.conftest import M3TR, REPO

pytestmark = pytest.mark.integration

BOUND_MB = 2048


def _upload(server: Server, clip: Path, log: Path) -> httpx.Response:
    with clip.open("rb") as media, log.open("rb") as events:
        return httpx.post(
            f"{server.base}/api/videos",
            files={"media": (clip.name, media, "video/mp4"),
                   "events": (log.name, events, "text/csv")},
            data={"title": f"cap test {log.stem}"},
            timeout=600,
        )  # fmt: skip


def _done(server: Server, job_url: str, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    while (job := httpx.get(job_url, timeout=60).json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline and server.proc.poll() is None, job
        time.sleep(0.5)
    return job


def test_a_log_at_the_cap_is_served_within_2_gb_of_idle(tmp_path: Path) -> None:
    """On a built demo workspace (a trained MHP model active: the forecast simulates futures
    from the whole history), as the issue's report did."""
    home = tmp_path / "demo"
    env = server_env(tmp_path / "unused")
    for var in ("M3TR_HOME", "M3TR_OBS_WINDOW_S", "M3TR_HORIZON_S", "M3TR_EVENT_TYPES"):
        env.pop(var)  # the default settings
    built = subprocess.run(
        [*M3TR, "demo", "--home", str(home), "--videos", "16", "--build-only"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    summary = built.stdout + built.stderr
    assert "demo-mhp" in summary, summary[-2000:]  # a trained MHP model is active
    server = Server(home=home, env={**env, "M3TR_HOME": str(home)})
    server.start()
    try:
        _serve_the_cap(server, tmp_path)
    finally:
        server.stop()


def _serve_the_cap(server: Server, tmp_path: Path) -> None:
    defaults = Settings(home=server.home)
    cap, window = defaults.max_events_per_log, defaults.obs_window_s
    clip = write_clip(ClipSpec(name="cap"), tmp_path / "cap.mp4")
    warm = _upload(server, clip, write_log(tmp_path / "warm.csv", 50, window))
    assert _done(server, warm.json()["job_url"])["state"] == "done"
    idle_kb = proc_kb(server.pid)

    at_cap = write_log(tmp_path / "cap.csv", cap, window)  # every event in the window
    with RssSampler(server.pid) as rss:
        created = _upload(server, clip, at_cap)
        assert created.status_code == 201, created.text
        assert created.json()["n_events"] == cap
        job = _done(server, created.json()["job_url"])
        pred = httpx.get(created.json()["prediction_url"], timeout=120)
    peak_mb = (rss.peak_kb - idle_kb) / 1024
    print(f"cap {cap} events: server peak {peak_mb:.0f} MB above idle ({idle_kb / 1024:.0f} MB)")
    assert job["state"] == "done", job
    assert pred.status_code == 200 and pred.json()["forecast"], pred.text[:500]
    assert peak_mb < BOUND_MB, peak_mb

    over = _upload(server, clip, write_log(tmp_path / "over.csv", cap + 1, window))
    assert over.status_code == 422
    assert f"exceed the cap of {cap}" in over.json()["detail"]
