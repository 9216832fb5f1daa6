"""Event sequences from the SQL event log (tables ``videos`` and ``events``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from m3tr.core.db.models import Event
from m3tr.core.temporal.batch import EventSequence, EventVocab, sequences_from_frame


def load_sequences(
    session: Session,
    vocab: EventVocab,
    video_ids: Sequence[int] | None = None,
    window_s: float | None = None,
    unknown: str = "drop",
) -> list[EventSequence]:
    """One :class:`EventSequence` per video with events (key = video id), ordered by id.

    Args:
        window_s: keep events with ``t < window_s``; each window is ``[0, window_s)``.
        unknown: event types outside ``vocab``: ``"drop"`` (logged) or ``"error"``.
    """
    stmt = select(Event.video_id, Event.t, Event.type).order_by(Event.video_id, Event.t)
    if video_ids is not None:
        stmt = stmt.where(Event.video_id.in_(list(video_ids)))
    if window_s is not None:
        stmt = stmt.where(Event.t < window_s)
    rows = session.execute(stmt).all()
    df = pd.DataFrame(rows, columns=["video_id", "t", "type"])
    if df.empty:
        return []
    return sequences_from_frame(df, vocab, window_s=window_s, unknown=unknown)
