"""Recovery runs each step once: ``kill -9`` of ``m3tr serve`` with jobs queued and running,
restart, and every step of every job has run exactly once (issue 17); the one step that was
running when the process died runs again, as its second attempt.

Steps are counted from the worker's own log line, ``job J: step S started (attempt A)``.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.web.conftest import Server
from tests.integration.workers.conftest import write_log

pytestmark = pytest.mark.integration

STARTED = re.compile(r"job (\d+): step (\w+) started \(attempt (\d+)\)")
N_JOBS = 6


def _upload(base: str, clip: Path, log: Path) -> int:
    with clip.open("rb") as media, log.open("rb") as events:
        r = httpx.post(
            f"{base}/api/videos",
            files={"media": (clip.name, media, "video/mp4"),
                   "events": (log.name, events, "text/csv")},
            data={"title": f"recovery clip {clip.stem}"},
            timeout=120,
        )  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["job_id"])


def _starts(text: str) -> list[tuple[int, str, int]]:
    return [(int(j), s, int(a)) for j, s, a in STARTED.findall(text)]


def test_kill_9_with_jobs_queued_and_running_then_restart_runs_each_step_once(
    make_server, tmp_path: Path
) -> None:
    server: Server = make_server()
    server.start()
    inbox = tmp_path / "inbox"
    pairs = []
    for i in range(N_JOBS):
        clip = write_clip(
            ClipSpec(name=f"k{i}", style=i % 4, phase=i / N_JOBS), inbox / f"k{i}.mp4"
        )
        pairs.append((clip, write_log(inbox / f"k{i}.csv", seed=70 + i, matured=i % 2 == 0)))
    with ThreadPoolExecutor(N_JOBS) as pool:
        job_ids = list(pool.map(lambda p: _upload(server.base, *p), pairs))

    # kill once every job has begun and some have their next step waiting in the queue
    deadline = time.monotonic() + 600
    while len(_starts(server.logs[0].read_text())) < N_JOBS + 2:
        assert time.monotonic() < deadline, server.log_text()[-3000:]
        failed = server.sql("select id, error from jobs where state = 'failed'")
        assert not failed, failed
        time.sleep(0.2)
    server.kill9()
    before = server.sql("select id, state, step from jobs order by id")
    assert any(s == "running" for _, s, _ in before), before
    first = _starts(server.logs[0].read_text())

    server.start()
    jobs = server.wait_jobs(N_JOBS, timeout=900)
    assert [j[1] for j in jobs] == ["done"] * N_JOBS, jobs
    second = _starts(server.logs[1].read_text())

    runs = Counter((j, s) for j, s, _ in first + second)
    twice = {k: n for k, n in runs.items() if n > 1}
    # at most the one step the worker was running when it died ran again (concurrency 1)
    assert len(twice) <= 1 and all(n == 2 for n in twice.values()), (twice, first, second)
    for job, step in twice:
        assert (job, step, 2) in second  # counted as its second attempt
    assert {(j, s) for j, s, a in first + second if a > 1} <= set(twice)
    steps = ["embed_content", "embed_temporal", "upsert_vectors", "predict"]
    assert {(j, s) for j in job_ids for s in steps} == set(runs), runs
    resent = re.findall(r"re-sent (\d+) interrupted jobs", server.logs[1].read_text())
    assert len(resent) <= 1 and int((resent or ["0"])[0]) <= 1, resent
    assert (
        server.sql(
            "select video_id, count(*) from predictions group by video_id having count(*) > 1"
        )
        == []
    )
    assert server.sql("select count(distinct video_id) from predictions") == [(N_JOBS,)]
    expected = sum(len(log.read_text().splitlines()) - 1 for _, log in pairs)
    assert server.sql("select count(*) from events") == [(expected,)]
    print(f"recovery: killed with {before}; twice: {twice}; re-sent: {resent}")
