"""Lists of videos, jobs and predictions with filters and keyset (cursor) pagination.

A page is ordered by id (newest first by default) and the cursor is the last id it returned, so
a walk through the pages visits every row that existed when it started exactly once, however
many rows are added meanwhile (offsets would skip or repeat rows). Shared by the REST API, the
CLI and the UI.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from m3tr.core.db.models import Job, ModelVersion, Prediction, Video

T = TypeVar("T")
MAX_LIMIT = 500
ORDERS = ("desc", "asc")


class ListError(ValueError):
    """A bad filter or cursor; the message names it."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Filters:
    """Filters shared by the lists (each list uses those that apply to it)."""

    state: Sequence[str] = ()
    q: str | None = None  # case-insensitive substring of title / external id
    kind: str | None = None
    video_id: int | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def encode_cursor(last_id: int, order: str) -> str:
    return base64.urlsafe_b64encode(f"{order}:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> int:
    """The last id of the previous page. Raises ListError for a cursor this list did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        got_order, _, last = raw.partition(":")
        value = int(last)
    except (ValueError, UnicodeDecodeError):
        raise ListError(f"cursor {cursor[:40]!r} is not one this list returned") from None
    if got_order != order:
        raise ListError(f"cursor was made for order={got_order}, not order={order}")
    return value


def _page(
    session: Session, q: Select, id_col: Any, limit: int, cursor: str | None, order: str
) -> tuple[list[Any], str | None]:
    if order not in ORDERS:
        raise ListError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ListError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if cursor:
        last = decode_cursor(cursor, order)
        q = q.where(id_col < last if order == "desc" else id_col > last)
    q = q.order_by(id_col.desc() if order == "desc" else id_col.asc()).limit(limit + 1)
    rows = list(session.execute(q).all())
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(int(rows[-1][0].id), order) if more and rows else None
    return rows, nxt


def _created(q: Select, col: Any, f: Filters) -> Select:
    if f.created_after is not None:
        q = q.where(col >= f.created_after)
    if f.created_before is not None:
        q = q.where(col < f.created_before)
    return q


def list_videos(
    session: Session,
    f: Filters,
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
) -> Page[Video]:
    """Videos by status (``state``), title/external-id search (``q``), source (``kind``), created."""
    q = select(Video)
    if f.state:
        q = q.where(Video.status.in_(list(f.state)))
    if f.kind:
        q = q.where(Video.source == f.kind)
    if f.q:
        like = f"%{f.q.lower()}%"
        q = q.where(
            or_(func.lower(Video.title).like(like), func.lower(Video.external_id).like(like))
        )
    q = _created(q, Video.created_at, f)
    rows, nxt = _page(session, q, Video.id, limit, cursor, order)
    return Page([r[0] for r in rows], nxt)


def list_jobs(
    session: Session,
    f: Filters,
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
) -> Page[Job]:
    """Jobs by state, kind, video and created time."""
    q = select(Job)
    if f.state:
        q = q.where(Job.state.in_(list(f.state)))
    if f.kind:
        q = q.where(Job.kind == f.kind)
    if f.video_id is not None:
        q = q.where(Job.video_id == f.video_id)
    if f.q:
        q = q.where(func.lower(Job.error).like(f"%{f.q.lower()}%"))
    q = _created(q, Job.created_at, f)
    rows, nxt = _page(session, q, Job.id, limit, cursor, order)
    return Page([r[0] for r in rows], nxt)


def prediction_query(f: Filters, latest_only: bool = False) -> Select:
    """(Prediction, Video, model name) rows matching ``f`` (``kind`` filters by model name)."""
    q = (
        select(Prediction, Video, ModelVersion.name)
        .join(Video, Video.id == Prediction.video_id)
        .outerjoin(ModelVersion, ModelVersion.id == Prediction.model_version_id)
    )
    if f.video_id is not None:
        q = q.where(Prediction.video_id == f.video_id)
    if f.kind:
        q = q.where(ModelVersion.name == f.kind)
    if f.q:
        like = f"%{f.q.lower()}%"
        q = q.where(
            or_(func.lower(Video.title).like(like), func.lower(Video.external_id).like(like))
        )
    if f.state:
        q = q.where(Video.status.in_(list(f.state)))
    q = _created(q, Prediction.created_at, f)
    if latest_only:
        newest = select(func.max(Prediction.id)).group_by(Prediction.video_id).scalar_subquery()
        q = q.where(Prediction.id.in_(newest))
    return q


def list_predictions(
    session: Session,
    f: Filters,
    limit: int = 50,
    cursor: str | None = None,
    order: str = "desc",
    latest_only: bool = False,
) -> Page[tuple[Prediction, Video, str | None]]:
    rows, nxt = _page(
        session, prediction_query(f, latest_only), Prediction.id, limit, cursor, order
    )
    return Page([(r[0], r[1], r[2]) for r in rows], nxt)
