"""Small, reusable queries and writes on the schema. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from m3tr.core.db.models import Event, Label, Video
from m3tr.core.events.log import EventLog

_CHUNK = 20_000


class VideoNotFound(LookupError):
    pass


def find_video(session: Session, ref: str | int, source: str | None = None) -> Video:
    """A video by internal id (an integer) or by external id (any source unless given)."""
    ref_s = str(ref)
    if ref_s.isdigit() and source is None:
        video = session.get(Video, int(ref_s))
        if video is not None:
            return video
    q = select(Video).where(Video.external_id == ref_s)
    if source is not None:
        q = q.where(Video.source == source)
    found = session.scalars(q).all()
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        sources = ", ".join(sorted(v.source for v in found))
        raise VideoNotFound(
            f"external id {ref_s!r} exists in several sources ({sources}); name one"
        )
    raise VideoNotFound(f"no video with id or external id {ref_s!r}")


def bulk_insert_events(
    session: Session,
    video_ids: np.ndarray,
    t: np.ndarray,
    types: Sequence[str],
    users: Sequence[str | None] | None,
) -> int:
    """Insert many event rows fast (Core executemany in chunks). Returns rows written."""
    n = len(t)
    conn = session.connection()
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        rows = [
            {
                "video_id": int(video_ids[i]),
                "t": float(t[i]),
                "type": types[i],
                "user": None if users is None else users[i],
            }
            for i in range(start, stop)
        ]
        conn.execute(insert(Event), rows)
    return n


def replace_events(session: Session, video: Video, event_log: EventLog) -> int:
    """Make ``event_log`` the video's whole event log (idempotent re-import)."""
    session.execute(delete(Event).where(Event.video_id == video.id))
    n = len(event_log)
    return bulk_insert_events(
        session,
        np.full(n, video.id, dtype=np.int64),
        event_log.t,
        list(event_log.type),
        None if event_log.user is None else list(event_log.user),
    )


def upsert_label(
    session: Session, video_id: int, type_: str, count: int, horizon_s: float | None = None
) -> None:
    q = select(Label).where(Label.video_id == video_id, Label.type == type_)
    q = q.where(Label.horizon_s.is_(None) if horizon_s is None else Label.horizon_s == horizon_s)
    label = session.scalars(q).first()
    if label is None:
        session.add(Label(video_id=video_id, type=type_, horizon_s=horizon_s, count=int(count)))
    else:
        label.count = int(count)


def load_events(
    session: Session, video_ids: Iterable[int] | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Events per video as ``{video_id: (t (n,) float64, type (n,) object)}``, sorted by t."""
    q = select(Event.video_id, Event.t, Event.type).order_by(Event.video_id, Event.t, Event.id)
    if video_ids is not None:
        ids = list(video_ids)
        if not ids:
            return {}
        q = q.where(Event.video_id.in_(ids))
    rows = session.execute(q).all()
    if not rows:
        return {}
    vid = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    t = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    typ = np.array([r[2] for r in rows], dtype=object)
    cuts = np.flatnonzero(np.diff(vid)) + 1
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(rows)], strict=True):
        out[int(vid[a])] = (t[a:b], typ[a:b])
    return out


def table_counts(session: Session) -> dict[str, int]:
    return {
        "videos": session.scalar(select(func.count()).select_from(Video)) or 0,
        "events": session.scalar(select(func.count()).select_from(Event)) or 0,
        "labels": session.scalar(select(func.count()).select_from(Label)) or 0,
    }
