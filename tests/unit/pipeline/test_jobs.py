from __future__ import annotations

from m3tr.core.db.models import Video, VideoStatus
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.jobs import (
    begin_step,
    create_job,
    fail_job,
    finish_job,
    get_job,
    recent_jobs,
    state_counts,
    unfinished_jobs,
)


def _job(ctx: PipelineContext, with_video: bool = False) -> int:
    with transaction(ctx.session_factory) as s:
        vid = None
        if with_video:
            v = Video(source="t", external_id="a")
            s.add(v)
            s.flush()
            vid = v.id
        return create_job(s, "ingest", video_id=vid, params={"events_path": "x.csv"}).id


def test_job_lifecycle_and_attempts(ctx: PipelineContext) -> None:
    jid = _job(ctx)
    assert get_job(ctx.session_factory, jid).state == "queued"
    job = begin_step(ctx.session_factory, jid, "store_events", 0.0, "task-1")
    assert job is not None and job.state == "running" and job.attempts == 1
    again = begin_step(ctx.session_factory, jid, "store_events", 0.0, "task-1")  # redelivered
    assert again is not None and again.attempts == 2
    nxt = begin_step(ctx.session_factory, jid, "embed_temporal", 0.5, "task-2")
    assert nxt is not None and nxt.attempts == 1 and nxt.progress == 0.5
    finish_job(ctx.session_factory, jid)
    done = get_job(ctx.session_factory, jid)
    assert done.state == "done" and done.progress == 1.0 and done.finished
    # a late duplicate task neither restarts nor fails a finished job
    assert begin_step(ctx.session_factory, jid, "predict", 0.9, "task-3") is None
    fail_job(ctx.session_factory, jid, "late failure")
    assert get_job(ctx.session_factory, jid).state == "done"


def test_fail_job_records_error_and_fails_video(ctx: PipelineContext) -> None:
    jid = _job(ctx, with_video=True)
    fail_job(ctx.session_factory, jid, "store_events: log.csv, line 2: bad type")
    job = get_job(ctx.session_factory, jid)
    assert job.state == "failed" and "line 2" in (job.error or "")
    with ctx.session_factory() as s:
        video = s.get(Video, job.video_id)
        assert video.status == VideoStatus.FAILED and "line 2" in video.error


def test_listing_and_counts(ctx: PipelineContext) -> None:
    ids = [_job(ctx) for _ in range(3)]
    begin_step(ctx.session_factory, ids[0], "store_events", 0.0, None)
    finish_job(ctx.session_factory, ids[1])
    with ctx.session_factory() as s:
        assert [j.id for j in recent_jobs(s, limit=2)] == [ids[2], ids[1]]
        assert [j.id for j in unfinished_jobs(s)] == [ids[0], ids[2]]
        assert state_counts(s, ids) == {"running": 1, "done": 1, "queued": 1}


def test_a_late_duplicate_of_an_earlier_step_is_dropped(ctx: PipelineContext) -> None:
    jid = _job(ctx)
    plan = ["store_events", "embed_content", "embed_temporal"]
    assert begin_step(ctx.session_factory, jid, "store_events", 0.0, "a", plan=plan) is not None
    assert begin_step(ctx.session_factory, jid, "embed_content", 0.3, "b", plan=plan) is not None
    # the first step's message again (re-sent by a recovery): it must not move the job back
    assert begin_step(ctx.session_factory, jid, "store_events", 0.0, "c", plan=plan) is None
    job = get_job(ctx.session_factory, jid)
    assert job.step == "embed_content" and job.progress == 0.3 and job.attempts == 1


def test_a_step_whose_worker_keeps_dying_fails_its_job(ctx: PipelineContext) -> None:
    jid = _job(ctx, with_video=True)
    for attempt in (1, 2, 3):  # each start without an end: the worker died mid-step
        job = begin_step(ctx.session_factory, jid, "predict", 0.8, "t", max_attempts=3)
        assert job is not None and job.attempts == attempt
    assert begin_step(ctx.session_factory, jid, "predict", 0.8, "t", max_attempts=3) is None
    job = get_job(ctx.session_factory, jid)
    assert job.state == "failed" and "started 3 times and never finished" in (job.error or "")


def test_job_errors_never_show_server_folders(ctx: PipelineContext) -> None:
    jid = _job(ctx)
    fail_job(
        ctx.session_factory,
        jid,
        "store_media: /srv/m3tr/home/media/upload-1f.mp4: not a readable media file; "
        "see https://example.org/a/b",
    )
    error = get_job(ctx.session_factory, jid).error or ""
    assert "/srv" not in error and "upload-1f.mp4: not a readable" in error
    assert "https://example.org/a/b" in error
