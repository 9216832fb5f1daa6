"""30 uploads at once, each with its event log, through a real ``m3tr serve``: every one is
accepted, every job ends done, and every video has exactly one prediction (issue 17)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.web.conftest import Server
from tests.integration.workers.conftest import write_log

pytestmark = pytest.mark.integration

N = 30


def test_30_parallel_uploads_with_event_logs_all_done_one_prediction_each(
    make_server, tmp_path: Path
) -> None:
    server: Server = make_server()
    server.start()
    inbox = tmp_path / "inbox"
    clips = [
        write_clip(ClipSpec(name=f"p{i}", style=i % 4, phase=i / N), inbox / f"p{i}.mp4")
        for i in range(4)
    ]
    logs = [write_log(inbox / f"p{i}.csv", seed=100 + i, matured=i % 3 == 0) for i in range(N)]

    def upload(i: int) -> tuple[int, dict]:
        clip = clips[i % len(clips)]
        with clip.open("rb") as media, logs[i].open("rb") as events:
            r = httpx.post(
                f"{server.base}/api/videos",
                files={"media": (f"v{i}.mp4", media, "video/mp4"),
                       "events": (logs[i].name, events, "text/csv")},
                data={"title": f"parallel {i}"},
                timeout=300,
            )  # fmt: skip
        return r.status_code, r.json()

    with ThreadPoolExecutor(N) as pool:
        answers = list(pool.map(upload, range(N)))
    assert [code for code, _ in answers] == [201] * N, answers
    video_ids = sorted(body["video_id"] for _, body in answers)
    assert len(set(video_ids)) == N
    for (_, body), log in zip(answers, logs, strict=True):
        assert body["n_events"] == len(log.read_text().splitlines()) - 1

    jobs = server.wait_jobs(N, timeout=1500)
    assert [j[1] for j in jobs] == ["done"] * N, [j for j in jobs if j[1] != "done"]
    assert server.sql(
        "select video_id, count(*) from predictions group by video_id order by video_id"
    ) == [(v, 1) for v in video_ids]
    for v in video_ids[:3]:
        r = httpx.get(f"{server.base}/api/videos/{v}/prediction", timeout=30)
        assert r.status_code == 200 and r.json()["video_id"] == v
