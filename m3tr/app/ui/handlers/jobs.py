"""Job rows for the Predict tab's progress line and the Ingestion tab's table."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from m3tr.app.services import Services
from m3tr.core.db.models import BankVersion, Job, JobState, Video
from m3tr.core.pipeline.jobs import JobView

FINISHED = (JobState.DONE, JobState.FAILED)
JOB_COLUMNS = ["job", "kind", "video", "state", "step", "progress", "error", "created", "finished"]


def job_line(view: JobView) -> str:
    """One plain-text line: ``Job 3 (ingest, video 7): running, step embed, 40%``."""
    pct = round(100 * max(0.0, min(1.0, view.progress or 0.0)))
    text = f"Job {view.id} ({view.kind}, video {view.video_id}): {view.state}"
    if view.step:
        text += f", step {view.step}"
    text += f", {pct}%"
    if view.error:
        text += f". Error: {view.error}"
    return text


def list_jobs(services: Services, limit: int = 200, state: str | None = None) -> pd.DataFrame:
    """Most recent jobs first, as a table."""
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if state:
        q = q.where(Job.state == state)
    with services.sessions() as session:
        rows = [
            {
                "job": j.id,
                "kind": j.kind,
                "video": j.video_id,
                "state": j.state,
                "step": j.step or "",
                "progress": f"{round(100 * (j.progress or 0.0))}%",
                "error": j.error or "",
                "created": j.created_at.strftime("%Y-%m-%d %H:%M:%S") if j.created_at else "",
                "finished": j.finished_at.strftime("%H:%M:%S") if j.finished_at else "",
            }
            for j in session.scalars(q)
        ]
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def job_counts(services: Services) -> dict[str, int]:
    with services.sessions() as session:
        rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    return {str(s): int(n) for s, n in rows}


def bank_statistics(services: Services) -> pd.DataFrame:
    """One row per fact: videos by status, event and label counts, the live bank's sizes."""
    from m3tr.core.db.repository import table_counts

    with services.sessions() as session:
        counts = table_counts(session)
        by_status = dict(
            session.execute(select(Video.status, func.count()).group_by(Video.status)).all()
        )
        live = session.scalars(
            select(BankVersion).where(BankVersion.is_live.is_(True)).order_by(BankVersion.id.desc())
        ).first()
    rows: list[tuple[str, str]] = [
        ("videos", f"{counts['videos']:,}"),
        *((f"videos {k}", f"{v:,}") for k, v in sorted(by_status.items())),
        ("events", f"{counts['events']:,}"),
        ("labels", f"{counts['labels']:,}"),
    ]
    if live is None:
        rows.append(("live bank", "none yet"))
    else:
        rows += [
            ("live bank", live.collection),
            ("bank backend", live.backend),
            ("bank encoder profile", live.encoder_profile),
            ("bank videos", f"{live.n_videos:,}"),
            ("bank content vectors", f"{live.n_semantic:,}"),
            ("bank trajectory vectors", f"{live.n_temporal:,}"),
        ]
    return pd.DataFrame(rows, columns=["what", "value"])
