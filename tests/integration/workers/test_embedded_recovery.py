"""Embedded broker (filesystem, SQLite): a worker killed mid-task; the next embedded worker
re-sends interrupted jobs from SQL when their message went with the killed worker, and leaves
them when it is still waiting, so every job ends done with every row written once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from m3tr.core.db.models import Event, Prediction, Video
from m3tr.core.db.session import make_engine, make_session_factory
from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.workers.conftest import HORIZON_S, OBS_S, VOCAB, Service, write_log

pytestmark = pytest.mark.integration


def test_embedded_worker_resends_interrupted_jobs(tmp_path: Path) -> None:
    from m3tr.app.migrate import upgrade

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3TR_")}
    env.update(
        M3TR_HOME=str(home),
        M3TR_OBS_WINDOW_S=str(OBS_S),
        M3TR_HORIZON_S=str(HORIZON_S),
        M3TR_EVENT_TYPES=",".join(VOCAB),
        PYTHONUNBUFFERED="1",
    )
    url = f"sqlite:///{(home / 'm3tr.db').resolve()}"
    upgrade(url)
    engine = make_engine(url)
    svc = Service(home=home, env=env, sessions=make_session_factory(engine))
    inbox = tmp_path / "inbox"
    # tiny clips: the first embed_content loads the encoders, a window wide enough to kill in
    clips = [write_clip(ClipSpec(name=f"e{i}", style=i), inbox / f"e{i}.mp4") for i in range(3)]
    for i, clip in enumerate(clips):
        write_log(inbox / f"{clip.stem}.csv", seed=40 + i, matured=i > 0)
    try:
        first = svc.start_worker(concurrency=1)
        sender = svc.cli_background("ingest", str(inbox), "--no-wait")
        svc.wait_jobs(
            len(clips),
            until=lambda jobs: any(
                j.state == "running" and j.step == "embed_content" for j in jobs
            ),
        )
        first.kill()
        first.wait()
        assert sender.wait(60) == 0
        svc.start_worker(concurrency=1)
        jobs = svc.wait_jobs(len(clips), timeout=180)
        assert [j.state for j in jobs] == ["done"] * len(clips), jobs
        # the killed worker's step either went with it (the next worker re-sends the job from
        # SQL) or was still waiting in the broker (recovery leaves it, so it runs once): which
        # one depends on when the kill lands; the counts below check that every step ran once
        log1 = svc.logs[1].read_text()
        assert "re-sent" in log1 or "m3tr.embed_content" in log1, log1[-2000:]
        with svc.sessions() as s:
            assert len(s.scalars(select(Video)).all()) == len(clips)
            assert len(s.scalars(select(Prediction)).all()) == len(clips)
            n_events = len(s.scalars(select(Event)).all())
        expected = sum(len((inbox / f"{c.stem}.csv").read_text().splitlines()) - 1 for c in clips)
        assert n_events == expected
    finally:
        svc.stop_workers()
        engine.dispose()
