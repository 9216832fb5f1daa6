"""Transient errors: the database goes away mid-run; tasks retry with backoff and finish."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from m3tr.core.db.models import Event, Prediction, Video
from m3tr.core.pipeline.jobs import recent_jobs
from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.workers.conftest import Service, write_log
from tests.integration.workers.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

N = 8


def test_database_outage_is_retried_and_jobs_complete(
    service: Service, pg_url: str, tmp_path: Path
) -> None:
    url = make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.up()
    # the worker reaches PostgreSQL only through the proxy; the test reads it directly
    service.env["M3TR_DATABASE_URL"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    inbox = tmp_path / "inbox"
    for i in range(N):
        write_clip(ClipSpec(name=f"v{i}", style=i % 4), inbox / f"v{i}.mp4")
        write_log(inbox / f"v{i}.csv", seed=i, matured=i % 2 == 0)
    service.start_worker(concurrency=1)
    sender = service.cli_background("ingest", str(inbox), "--no-wait")
    # once the encoders are loaded (a first job done), every step reads SQL within moments
    service.wait_jobs(N, timeout=180, until=lambda jobs: any(j.state == "done" for j in jobs))
    proxy.down()
    time.sleep(5)  # tasks now fail with connection errors and are retried with backoff
    with service.sessions() as s:
        during = recent_jobs(s)
    assert len(during) == N and not all(j.finished for j in during), during
    proxy.up()
    assert sender.wait(120) == 0
    jobs = service.wait_jobs(N, timeout=240)
    try:
        assert [j.state for j in jobs] == ["done"] * N, jobs
        log = service.logs[0].read_text()
        assert "transient error" in log and "retry in" in log
        with service.sessions() as s:
            assert len(s.scalars(select(Video)).all()) == N
            assert len(s.scalars(select(Prediction)).all()) == N
            n_events = len(s.scalars(select(Event)).all())
        expected = sum(len((inbox / f"v{i}.csv").read_text().splitlines()) - 1 for i in range(N))
        assert n_events == expected
    finally:
        proxy.down()
