"""Validate an upload completely, then create the video, its events and its job in one go.

Shared by the REST API and the Predict / Ingestion tabs. Nothing is written to SQL before the
media has been probed and the event log validated; files are stored under names the server
chooses (never a path or name taken from the client), and a failed commit removes the file.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from m3tr.app.services import Services
from m3tr.core.db.models import Job, JobState, Video, VideoStatus
from m3tr.core.db.repository import replace_events
from m3tr.core.db.session import transaction
from m3tr.core.events.log import SUFFIXES, EventLog, EventLogError, EventLogRules, read_event_log

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")
JOB_KIND = "ingest"
_CHUNK = 1 << 20


class UploadError(ValueError):
    """An upload was refused; the message says why, in words for the person who sent it."""


@dataclass(frozen=True)
class Submission:
    video_id: int
    job_id: int
    n_events: int
    duration_s: float


def display_name(client_name: str | None, fallback: str) -> str:
    """The client's file name reduced to its last component, for messages only (never a path)."""
    if not client_name:
        return fallback
    name = client_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    if len(name) > 120:  # shorten the stem, keep the suffix: it says what the file is
        suffix = Path(name).suffix[:16]
        name = name[: 120 - len(suffix) - 1] + "\u2026" + suffix
    return name or fallback


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def _incoming_dir(services: Services) -> Path:
    d = services.settings.media_dir / ".incoming"
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_stream(
    src: BinaryIO, dest_dir: Path, suffix: str, max_bytes: int, what: str
) -> tuple[Path, str]:
    """Copy ``src`` to a new server-named file in ``dest_dir``; refuse past ``max_bytes``.

    Returns (path, sha256 hex). The partial file is removed on any error.
    """
    dest = dest_dir / f"{uuid.uuid4().hex}{suffix}"
    digest = hashlib.sha256()
    size = 0
    try:
        with dest.open("xb") as out:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadError(
                        f"{what} is too large: more than {max_bytes // (1 << 20)} MB "
                        "(the limit is M3TR_MAX_UPLOAD_MB)"
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if size == 0:
        dest.unlink(missing_ok=True)
        raise UploadError(f"{what} is empty")
    return dest, digest.hexdigest()


def save_path(
    src: Path, dest_dir: Path, suffix: str, max_bytes: int, what: str
) -> tuple[Path, str]:
    """Like :func:`save_stream` for a file already on this machine (a Gradio upload)."""
    if not src.is_file():
        raise UploadError(f"{what} was not received")
    if src.stat().st_size > max_bytes:
        raise UploadError(
            f"{what} is too large: {src.stat().st_size / (1 << 20):.1f} MB, the limit is "
            f"{max_bytes // (1 << 20)} MB (M3TR_MAX_UPLOAD_MB)"
        )
    with src.open("rb") as fh:
        return save_stream(fh, dest_dir, suffix, max_bytes, what)


def check_video_name(name: str) -> str:
    """The lower-case suffix of an accepted video name; raises UploadError otherwise."""
    suffix = _suffix(name)
    if suffix not in VIDEO_SUFFIXES:
        raise UploadError(
            f"{name} is not a video file we accept: expected {', '.join(VIDEO_SUFFIXES)}"
        )
    return suffix


def check_events_name(name: str) -> str:
    suffix = _suffix(name)
    if suffix not in SUFFIXES:
        raise UploadError(
            f"{name}: unsupported event-log type {suffix or '(none)'!r}; use .csv, .jsonl or .parquet"
        )
    return suffix


def probe_video(path: Path, name: str) -> float:
    """Duration in seconds of a stored upload; raises UploadError when it is not a video, or
    not a whole one (first frame undecodable, index pointing past the end of the file)."""
    from m3tr.core.content.decode import check_complete, probe_media
    from m3tr.core.content.errors import DecodeError

    try:
        probe = probe_media(path)
    except DecodeError as exc:
        raise UploadError(f"{name} is not a readable video ({exc.reason})") from None
    if not probe.has_video:
        raise UploadError(f"{name} has no video stream (audio only)")
    if not probe.duration_s or probe.duration_s <= 0:
        raise UploadError(f"{name} has no measurable duration")
    try:  # a file cut short after its index probes fine: decode and check it now
        check_complete(path)
    except DecodeError as exc:
        raise UploadError(f"{name} is not a complete video ({exc.reason})") from None
    return float(probe.duration_s)


def validate_events(path: Path, name: str, services: Services) -> EventLog:
    s = services.settings
    rules = EventLogRules(vocabulary=s.event_types, max_events=s.max_events_per_log)
    try:
        return read_event_log(path, rules)
    except EventLogError as exc:
        raise UploadError(str(exc).replace(path.name, name)) from None


def ingest_upload(
    services: Services,
    media: Path | BinaryIO,
    media_name: str | None,
    events: Path | BinaryIO | None = None,
    events_name: str | None = None,
    title: str | None = None,
    description: str | None = None,
) -> Submission:
    """Validate, store and register one uploaded video; enqueue its pipeline job.

    ``media``/``events`` are local paths (Gradio) or readable binary streams (REST). Raises
    :class:`UploadError` with a clear message, having written nothing, on any bad input.
    """
    s = services.settings
    max_bytes = s.max_upload_mb << 20
    mname = display_name(media_name, "the video")
    suffix = check_video_name(mname)
    ename = display_name(events_name, "the event log") if events is not None else None
    esuffix = check_events_name(ename) if ename is not None else None
    incoming = _incoming_dir(services)

    def _save(src: Path | BinaryIO, sfx: str, what: str) -> tuple[Path, str]:
        if isinstance(src, Path):
            return save_path(src, incoming, sfx, max_bytes, what)
        return save_stream(src, incoming, sfx, max_bytes, what)

    media_tmp, sha = _save(media, suffix, mname)
    events_tmp: Path | None = None
    final: Path | None = None
    try:
        duration = probe_video(media_tmp, mname)
        event_log = None
        if events is not None:
            assert ename is not None and esuffix is not None
            events_tmp, _ = _save(events, esuffix, ename)
            event_log = validate_events(events_tmp, ename, services)
        external_id = uuid.uuid4().hex
        final = s.media_dir / f"upload-{external_id}{suffix}"
        shutil.move(media_tmp, final)
        with transaction(services.sessions) as session:
            video = Video(
                source="upload",
                external_id=external_id,
                title=(title or "").strip() or None,
                description=(description or "").strip() or None,
                media_path=str(final.resolve()),
                media_sha256=sha,
                duration_s=duration,
                split="live",
                status=VideoStatus.INGESTED,
                extra={"original_name": mname},
            )
            session.add(video)
            session.flush()
            n_events = replace_events(session, video, event_log) if event_log is not None else 0
            job = Job(
                kind=JOB_KIND,
                video_id=video.id,
                state=JobState.QUEUED,
                step="queued",
                params={"predict": True, "source": "upload"},
            )
            session.add(job)
            session.flush()
            video_id, job_id = video.id, job.id
    except BaseException:
        media_tmp.unlink(missing_ok=True)
        if final is not None:
            final.unlink(missing_ok=True)
        raise
    finally:
        if events_tmp is not None:
            events_tmp.unlink(missing_ok=True)
    log.info("upload %s stored as video %d (%d events), job %d", mname, video_id, n_events, job_id)
    send_job(services, job_id)
    return Submission(video_id=video_id, job_id=job_id, n_events=n_events, duration_s=duration)


def send_job(services: Services, job_id: int) -> None:
    """Enqueue a committed job; if sending fails the job row says so (state failed)."""
    try:
        services.enqueue(job_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure is reported on the job row
        log.exception("could not enqueue job %d", job_id)
        with transaction(services.sessions) as session:
            job = session.get(Job, job_id)
            if job is not None:
                job.state = JobState.FAILED
                job.error = f"could not start the job: {exc}"
