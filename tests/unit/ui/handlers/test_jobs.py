"""Job views, the jobs table, bank statistics, waiting for a job."""

from __future__ import annotations

import numpy as np
import pytest

from m3tr.app.ui.handlers.jobs import bank_statistics, job_counts, job_line, list_jobs
from m3tr.app.ui.handlers.predict import wait_for_job
from m3tr.app.views.jobs import job_view
from m3tr.core.db.models import Job, JobState
from m3tr.core.db.session import transaction
from tests.unit.ui.factories import add_video, live_bank_of, make_services


@pytest.fixture
def services(tmp_path):
    return make_services(tmp_path / "home")[0]


def _job(services, **fields) -> int:
    with transaction(services.sessions) as s:
        job = Job(kind="ingest", **fields)
        s.add(job)
        s.flush()
        return job.id


def test_job_view_and_line(services):
    jid = _job(services, state=JobState.RUNNING, step="embed_content", progress=0.4)
    view = job_view(services, jid)
    assert not view.finished
    assert job_line(view) == f"Job {jid} (ingest, video None): running, step embed_content, 40%"
    failed = job_view(services, _job(services, state=JobState.FAILED, error="bad codec"))
    assert failed.finished and job_line(failed).endswith("Error: bad codec")
    with pytest.raises(LookupError):
        job_view(services, 12345)


def test_list_jobs_newest_first_and_by_state(services):
    a = _job(services, state=JobState.DONE, progress=1.0)
    b = _job(services, state=JobState.FAILED, error="boom")
    table = list_jobs(services)
    assert table["job"].tolist() == [b, a]
    assert table.loc[0, "error"] == "boom" and table.loc[1, "progress"] == "100%"
    assert list_jobs(services, state="done")["job"].tolist() == [a]
    assert job_counts(services) == {"done": 1, "failed": 1}


def test_bank_statistics(services):
    stats = dict(bank_statistics(services).values.tolist())
    assert stats["videos"] == "0" and stats["live bank"] == "none yet"
    ids = [add_video(services, f"v{i}", [1.0, 2.0]) for i in range(3)]
    rng = np.random.default_rng(0)
    live_bank_of(services, {i: rng.normal(size=4) for i in ids},
                 {ids[0]: rng.normal(size=3), ids[1]: None, ids[2]: rng.normal(size=3)})  # fmt: skip
    stats = dict(bank_statistics(services).values.tolist())
    assert stats["videos"] == "3" and stats["events"] == "6"
    assert stats["bank content vectors"] == "3" and stats["bank trajectory vectors"] == "2"
    assert stats["bank backend"] == "numpy"


def test_wait_for_job_yields_changes_until_done(services):
    jid = _job(services, state=JobState.QUEUED)
    script = iter([
        {"state": JobState.RUNNING, "step": "embed_content", "progress": 0.3},
        {"state": JobState.RUNNING, "step": "embed_content", "progress": 0.3},
        {"state": JobState.DONE, "step": "done", "progress": 1.0},
    ])  # fmt: skip

    def advance(_: float) -> None:
        with transaction(services.sessions) as s:
            job = s.get(Job, jid)
            for k, v in next(script).items():
                setattr(job, k, v)

    seen = [(v.state, v.step) for v in wait_for_job(services, jid, sleep=advance)]
    assert seen == [("queued", None), ("running", "embed_content"), ("done", "done")]


def test_wait_for_job_times_out(services):
    jid = _job(services, state=JobState.RUNNING)
    with pytest.raises(TimeoutError, match=f"job {jid} is still running"):
        list(wait_for_job(services, jid, timeout_s=0.0, sleep=lambda _: None))
