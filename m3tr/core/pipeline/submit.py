"""Register videos (and their event logs) for ingestion: a video row and a job row per file.

The caller commits, and only then sends the job (``m3tr.workers.enqueue.enqueue_job``): a task never
runs before its job row exists. Registering the same file again finds the same video
(``source``, ``external_id``); if its bytes and its event log are unchanged and it is already
ready, nothing is queued.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from m3tr.core.db.models import Job, JobState, Video, VideoStatus
from m3tr.core.pipeline.jobs import create_job
from m3tr.core.pipeline.media import sha256_file
from m3tr.core.pipeline.plan import INGEST

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")


@dataclass(frozen=True)
class Registration:
    """video_id, and the job to send (None when the video is unchanged and ready, or running)."""

    video_id: int
    job_id: int | None
    external_id: str


def _unchanged(video: Video, media_sha: str, events_sha: str | None) -> bool:
    if video.status != VideoStatus.READY or video.media_sha256 != media_sha:
        return False
    stored = (video.extra or {}).get("events", {}).get("sha256")
    return stored == events_sha


def _pending_job(session: Session, video_id: int) -> Job | None:
    q = select(Job).where(
        Job.video_id == video_id,
        Job.kind == INGEST,
        Job.state.in_((JobState.QUEUED, JobState.RUNNING)),
    )
    return session.scalars(q.order_by(Job.id.desc())).first()


def register_ingest(
    session: Session,
    upload_path: str | Path,
    *,
    events_path: str | Path | None = None,
    source: str = "folder",
    external_id: str | None = None,
    title: str | None = None,
    description: str | None = None,
    split: str = "live",
    force: bool = False,
    published_at: dt.datetime | None = None,
    author: str | None = None,
) -> Registration:
    """Find or create the video of ``upload_path`` and add its ingestion job (not sent yet).

    Metadata given (title, description, published_at, author: a manifest row) is written on the
    video, also when it exists already."""
    upload = Path(upload_path).resolve()
    ext_id = external_id or upload.stem
    media_sha = sha256_file(upload) if upload.is_file() else ""
    events = Path(events_path).resolve() if events_path is not None else None
    events_sha = sha256_file(events) if events is not None and events.is_file() else None
    video = session.scalars(
        select(Video).where(Video.source == source, Video.external_id == ext_id)
    ).first()
    existed = video is not None
    if video is None:
        video = Video(
            source=source,
            external_id=ext_id,
            title=title if title is not None else upload.stem.replace("_", " "),
            description=description,
            split=split,
            status=VideoStatus.NEW,
            extra={"original_name": upload.name},
        )
        session.add(video)
        session.flush()
    _set_metadata(video, title, description, published_at, author)
    if existed and not force:
        if _unchanged(video, media_sha, events_sha):
            log.info("%s: unchanged and ready (video %d); nothing to do", upload.name, video.id)
            return Registration(video.id, None, ext_id)
        pending = _pending_job(session, video.id)
        if pending is not None and pending.state == JobState.RUNNING:
            log.info("%s: already running as job %d", upload.name, pending.id)
            return Registration(video.id, None, ext_id)
        if pending is not None:
            # queued but perhaps never sent (a crash between commit and send): send it again
            log.info("%s: already queued as job %d; sending it again", upload.name, pending.id)
            return Registration(video.id, pending.id, ext_id)
    params = {"upload_path": str(upload), "predict": True, "source": source}
    if events is not None:
        params["events_path"] = str(events)
    job = create_job(session, INGEST, video_id=video.id, params=params)
    return Registration(video.id, job.id, ext_id)


def _set_metadata(
    video: Video,
    title: str | None,
    description: str | None,
    published_at: dt.datetime | None,
    author: str | None,
) -> None:
    if title is not None:
        video.title = title
    if description is not None:
        video.description = description
    if published_at is not None:
        video.published_at = published_at
    if author is not None:
        video.extra = {**(video.extra or {}), "author": author}


def find_inputs(folder: str | Path) -> list[Path]:
    """Video files directly inside ``folder`` (by suffix), sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def events_for(video: Path, events: str | Path | None) -> Path | None:
    """The event log of ``video``: ``<events>/<stem>.{csv,jsonl,parquet}`` when ``events`` (a
    folder) is given, else ``<stem>.csv``/``.jsonl``/``.parquet`` beside the video; else None."""
    candidates: list[Path] = []
    if events is not None:
        e = Path(events)
        if not e.is_dir():
            raise FileNotFoundError(f"{e}: the events location must be a folder of <stem>.csv logs")
        candidates = [e / f"{video.stem}{sfx}" for sfx in (".csv", ".jsonl", ".parquet")]
    else:
        candidates = [video.with_suffix(sfx) for sfx in (".csv", ".jsonl", ".parquet")]
    return next((c for c in candidates if c.is_file()), None)


def split_event_file(path: str | Path, out_dir: str | Path) -> Path:
    """Split one log of many videos (a ``video`` column naming file stems) into
    ``<out_dir>/<stem>.csv`` per video; returns ``out_dir``. Rows are validated per video later,
    by each video's job (a bad row fails that video only).

    Raises:
        EventLogError: the file cannot be read or has no ``video`` column.
    """
    import pandas as pd

    from m3tr.core.events.log import SUFFIXES, EventLogError

    src = Path(path)
    kind = SUFFIXES.get(src.suffix.lower())
    if kind is None:
        raise EventLogError(f"{src.name}: unsupported file type; use .csv, .jsonl or .parquet")
    try:
        if kind == "csv":
            df = pd.read_csv(src, dtype=str, keep_default_na=False)
        elif kind == "jsonl":
            df = pd.read_json(src, lines=True, dtype=False)
        else:
            df = pd.read_parquet(src)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise EventLogError(f"{src.name}: cannot be read as {kind}: {exc}") from None
    df = df.rename(columns=lambda c: str(c).strip().lower())
    if "video" not in df.columns:
        raise EventLogError(
            f"{src.name}: a combined log needs a 'video' column naming the video files' stems "
            f"(found: {', '.join(map(str, df.columns))})"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stem, rows in df.groupby(df["video"].astype(str), sort=True):
        if not stem or "/" in stem or stem.startswith("."):
            raise EventLogError(f"{src.name}: bad video name {stem!r} in column 'video'")
        rows.drop(columns=["video"]).to_csv(out / f"{stem}.csv", index=False)
    log.info("%s: split into %d per-video logs under %s", src.name, df["video"].nunique(), out)
    return out
