"""A job past its limit fails alone: the embedded worker stops the step in its own thread, the
job fails once with the limit named, the web server in the same process answers on, a restart
does not send the job again, and the next upload is served (issue 17).

The time limit is the one used here, set to 0.01 s: the watchdog ticks every 0.2 s, so the
first step that lasts past one tick (decoding and embedding the clip, reading 150k events) is
stopped whatever the machine's speed (at 0.5 s, a quiet machine finished every step in time
and the job was done). The memory limit shares the same mechanism (the step
guard, ``m3tr.workers.limits``); tests/unit/workers/test_limits.py grows a real step past it.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.web.conftest import Server
from tests.integration.workers.conftest import OBS_S, VOCAB, write_log

pytestmark = pytest.mark.integration


def _upload(server: Server, clip: Path, log: Path, title: str) -> dict:
    with clip.open("rb") as media, log.open("rb") as events:
        r = httpx.post(
            f"{server.base}/api/videos",
            files={"media": (clip.name, media, "video/mp4"),
                   "events": (log.name, events, "text/csv")},
            data={"title": title},
            timeout=300,
        )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


def _wait(server: Server, job_url: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while (job := httpx.get(job_url, timeout=30).json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline and server.proc.poll() is None, job
        time.sleep(0.5)
    return job


def test_a_job_past_its_time_limit_fails_alone(make_server, tmp_path: Path) -> None:
    server: Server = make_server(M3TR_JOB_TIME_LIMIT_S="0.01")
    server.start()
    clip = write_clip(ClipSpec(name="heavy"), tmp_path / "heavy.mp4")
    heavy = tmp_path / "heavy.csv"  # 150k events inside the observation window
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, OBS_S, 150_000))
    kinds = rng.choice(VOCAB, size=t.size)
    heavy.write_text("t,type\n" + "".join(f"{a:.3f},{k}\n" for a, k in zip(t, kinds, strict=True)))
    pid = server.pid

    created = _upload(server, clip, heavy, "heavy")
    job = _wait(server, created["job_url"])
    assert job["state"] == "failed", job
    assert "M3TR_JOB_TIME_LIMIT_S" in job["error"] and "not retried" in job["error"], job
    assert server.proc.poll() is None and server.pid == pid  # the web server lived through it
    assert httpx.get(f"{server.base}/healthz", timeout=30).status_code == 200
    attempts = server.sql(f"select attempts from jobs where id = {created['job_id']}")

    server.stop()
    server.env.pop("M3TR_JOB_TIME_LIMIT_S")
    server.start()
    light = write_log(tmp_path / "light.csv", seed=3, matured=False)
    second = _upload(server, clip, light, "light")
    assert _wait(server, second["job_url"])["state"] == "done"
    # the failed job was not sent again by the restart
    assert server.sql(f"select state, attempts from jobs where id = {created['job_id']}") == [
        ("failed", attempts[0][0])
    ]
    assert f"job {created['job_id']}: step" not in server.logs[1].read_text()
