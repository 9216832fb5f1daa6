"""Fault: a worker killed (SIGKILL) in the middle of a task; a new worker finishes the job."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from m3tr.core.db.models import BankVersion, Event, Job, Prediction, Video
from m3tr.core.events.log import EventLogRules, read_event_log
from m3tr.core.retrieval.bank import live_bank
from m3tr.core.retrieval.similarity import SEMANTIC
from tests.integration.workers.conftest import VOCAB, Service, open_live_bank, write_log

pytestmark = pytest.mark.integration


def test_killed_worker_job_completes_once_on_a_new_worker(
    service: Service, data_dir: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    clips = sorted((data_dir / "microlens" / "videos").glob("*.mp4"))
    if not clips:
        pytest.skip("MicroLens videos missing")
    n_events = 0
    for i, clip in enumerate(clips):
        shutil.copy(clip, inbox / clip.name)
        log = write_log(inbox / f"{clip.stem}.csv", seed=20 + i, matured=i > 0)
        n_events += len(read_event_log(log, EventLogRules(vocabulary=VOCAB)))

    first = service.start_worker(concurrency=1)
    sender = service.cli_background("ingest", str(inbox), "--no-wait")

    def mid_task(jobs: list) -> bool:
        return any(j.state == "running" and j.step == "embed_content" for j in jobs)

    jobs = service.wait_jobs(len(clips), timeout=120, until=mid_task)
    first.kill()  # SIGKILL: no warm shutdown, no acknowledgement, no cleanup
    first.wait()
    assert sender.wait(60) == 0
    victim = next(j for j in jobs if j.state == "running" and j.step == "embed_content")
    with service.sessions() as s:
        frozen = s.get(Job, victim.id)
        assert (frozen.state, frozen.step) == ("running", "embed_content")

    t0 = time.monotonic()
    service.start_worker(concurrency=2)
    done = service.wait_jobs(len(clips), timeout=200)
    assert all(j.state == "done" for j in done), done
    recovered_after = time.monotonic() - t0
    assert "m3tr.embed_content" in service.logs[1].read_text()

    # exactly one set of rows and vectors
    with service.sessions() as s:
        assert len(s.scalars(select(Video)).all()) == len(clips)
        assert len(s.scalars(select(Event)).all()) == n_events
        preds = s.scalars(select(Prediction)).all()
        assert sorted(p.video_id for p in preds) == sorted(s.scalars(select(Video.id)).all())
        assert len(s.scalars(select(BankVersion)).all()) == 1
    service.stop_workers()
    store = open_live_bank(service.home)
    try:
        bank = live_bank(service.sessions)
        assert store.count(bank.collection, SEMANTIC) == len(clips)
    finally:
        store.close()
    print(f"recovered {len(clips)} jobs {recovered_after:.0f} s after the new worker started")
