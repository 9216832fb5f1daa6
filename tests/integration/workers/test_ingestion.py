"""End to end through real workers: MicroLens videos with event logs, bad inputs, re-runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from m3tr.core.content import FeatureStore
from m3tr.core.db.models import Event, Job, Prediction, Video, VideoStatus
from m3tr.core.retrieval.bank import live_bank
from m3tr.core.retrieval.similarity import SEMANTIC, TEMPORAL
from tests.integration.workers.conftest import OBS_S, Service, open_live_bank, write_log

pytestmark = pytest.mark.integration


@pytest.fixture
def inbox(data_dir: Path, tmp_path: Path) -> Path:
    """The three MicroLens videos with logs (two matured), a corrupt video, a bad log."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    clips = sorted((data_dir / "microlens" / "videos").glob("*.mp4"))
    if len(clips) < 3:
        pytest.skip("MicroLens videos missing")
    for i, clip in enumerate(clips):
        shutil.copy(clip, folder / clip.name)
        write_log(folder / f"{clip.stem}.csv", seed=i, matured=i < 2)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x13\x37" * 4000)
    shutil.copy(clips[0], folder / "badlog.mp4")
    (folder / "badlog.csv").write_text("t,type\n1.5,like\n2.0,dance\n")
    return folder


def test_ingest_folder_end_to_end_with_failures_isolated(service: Service, inbox: Path) -> None:
    service.start_worker(concurrency=2)
    out = service.cli("ingest", str(inbox), "--timeout", "240")
    assert "done 3, failed 2" in out.stderr, out.stderr[-3000:]
    assert out.returncode == 1  # some jobs failed

    with service.sessions() as s:
        jobs = {s.get(Video, j.video_id).external_id: j for j in s.scalars(select(Job))}
        assert {k: j.state for k, j in jobs.items()} == {
            "1002": "done",
            "10034": "done",
            "10040": "done",
            "corrupt": "failed",
            "badlog": "failed",
        }
        assert "corrupt.mp4" in jobs["corrupt"].error and jobs["corrupt"].step == "store_media"
        assert "badlog.csv, line 3" in jobs["badlog"].error and "dance" in jobs["badlog"].error
        bad = s.scalars(select(Video).where(Video.external_id.in_(["corrupt", "badlog"]))).all()
        assert all(v.status == VideoStatus.FAILED and v.error for v in bad)
        assert not s.scalars(select(Event).where(Event.video_id.in_([v.id for v in bad]))).all()
        good = {v.external_id: v for v in s.scalars(select(Video).where(Video.status == "ready"))}
        assert set(good) == {"1002", "10034", "10040"}
        preds = {p.video_id: p for p in s.scalars(select(Prediction))}
    assert set(preds) == {v.id for v in good.values()}
    matured = {good["1002"].id, good["10034"].id}
    # not matured: its neighbours are matured videos the bank held when its forecast was made
    # (with two jobs at a time, one of them may still have been ingesting)
    target = preds[good["10040"].id]
    assert {n["video_id"] for n in target.neighbours} <= matured and target.neighbours
    assert target.retrieval_mode == "temporal_aware" and target.forecast
    features = FeatureStore(service.home / "features")
    pv = features.current_version("lite-v2")  # the lite text fit made at the first embedding
    assert pv is not None and all(features.has(str(v.id), pv) for v in good.values())

    # re-running the finished ingestion queues nothing and changes nothing
    before = (service.count(Video), service.count(Event), service.count(Prediction))
    again = service.cli("ingest", str(inbox), "--timeout", "120")
    assert "2 queued, 3 unchanged" in again.stderr, again.stderr[-2000:]
    assert again.returncode == 1
    with service.sessions() as s:
        n_jobs = len(s.scalars(select(Job)).all())
    assert n_jobs == 5 + 2  # only the two failed inputs were tried again (and failed again)
    assert (service.count(Video), service.count(Event), service.count(Prediction)) == before

    # a re-forecast once every job has finished retrieves both matured videos
    late = inbox.parent / "late.csv"
    late.write_text(f"t,type\n{OBS_S - 1:.1f},like\n")
    out = service.cli("events", "append", str(late), "--video", "10040", "--wait")
    assert out.returncode == 0, out.stderr[-2000:]
    with service.sessions() as s:
        newest = s.scalars(
            select(Prediction)
            .where(Prediction.video_id == good["10040"].id)
            .order_by(Prediction.id.desc())
        ).first()
    assert newest is not None and newest.id != target.id
    assert {n["video_id"] for n in newest.neighbours} == matured

    service.stop_workers()
    store = open_live_bank(service.home)
    try:
        bank = live_bank(service.sessions)
        assert bank is not None and bank.n_videos == 3
        assert store.count(bank.collection, SEMANTIC) == 3
        assert store.count(bank.collection, TEMPORAL) == 3
    finally:
        store.close()
