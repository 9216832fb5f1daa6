"""Step ``store_events``: validate an event-log file and make it the video's whole log in SQL.

The file is read and validated completely before anything is written, and the replacement is
one transaction: an invalid log leaves the previous events exactly as they were.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from m3tr.core.db.models import Video
from m3tr.core.db.repository import replace_events, upsert_label
from m3tr.core.db.session import transaction
from m3tr.core.events.log import EventLog, read_event_log
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError
from m3tr.core.pipeline.media import sha256_file

log = logging.getLogger(__name__)


def store_events(ctx: PipelineContext, video_id: int, events_path: str | Path) -> EventLog:
    """Read, validate and store the event log of ``video_id`` (replacing any earlier one).

    Raises:
        EventLogError: the file is invalid (the message names the line and column).
        BadInputError: the video does not exist.
    """
    with ctx.session_factory() as session:
        video = session.get(Video, video_id)
        if video is None:
            raise BadInputError(f"video {video_id} does not exist")
        published_at = video.published_at
    event_log = read_event_log(events_path, ctx.event_rules, published_at=published_at)
    with transaction(ctx.session_factory) as session:
        video = session.get(Video, video_id, with_for_update=True)
        if video is None:
            raise BadInputError(f"video {video_id} does not exist")
        n = replace_events(session, video, event_log)
        matured = _record_maturity(session, video, event_log, ctx.horizon_s)
        video.extra = {
            **(video.extra or {}),
            "events": {
                "source": Path(events_path).name,
                "sha256": sha256_file(events_path),
                "n": n,
                "counts": event_log.counts(),
                "last_t": float(event_log.t[-1]) if n else 0.0,
                "matured_by_log": matured,
            },
        }
    log.info("video %d: stored %d events from %s", video_id, n, Path(events_path).name)
    return event_log


def _record_maturity(session: Session, video: Video, event_log: EventLog, horizon_s: float) -> bool:
    """A log that runs past the horizon shows the final outcome: mark the video matured and
    store its labels (count per type at ``horizon_s``, and the whole log's count as final).
    Returns whether the log matured the video."""
    if len(event_log) == 0 or float(event_log.t[-1]) < horizon_s:
        return False
    types = event_log.type.astype(str)
    for k in sorted(set(types)):
        sel = types == k
        upsert_label(
            session, video.id, k, int(np.count_nonzero(sel & (event_log.t <= horizon_s))), horizon_s
        )
        upsert_label(session, video.id, k, int(np.count_nonzero(sel)), None)
    video.matured = True
    return True
