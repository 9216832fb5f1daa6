"""Shared pieces of dataset importers: report, progress callback, insert-new-videos."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from m3tr.core.db.models import Label, Video

# progress(step, done, total)
Progress = Callable[[str, int, int], None]


class DatasetError(ValueError):
    """A dataset folder that does not have the expected layout."""


@dataclass
class ImportReport:
    dataset: str
    videos_added: int = 0
    videos_skipped: int = 0
    events_added: int = 0
    labels_added: int = 0


def no_progress(step: str, done: int, total: int) -> None:
    return None


def existing_ids(session: Session, source: str) -> dict[str, int]:
    rows = session.execute(select(Video.external_id, Video.id).where(Video.source == source)).all()
    return {ext: vid for ext, vid in rows}


def insert_new_videos(
    session: Session, source: str, rows: pd.DataFrame, progress: Progress, chunk: int = 5_000
) -> dict[str, int]:
    """Insert the videos whose external_id is not there yet; returns {external_id: id} of all.

    ``rows`` has column ``external_id`` plus any Video columns (title, description, ...).
    """
    known = existing_ids(session, source)
    new = rows[~rows["external_id"].isin(known.keys())]
    conn = session.connection()
    records = new.to_dict("records")
    for start in range(0, len(records), chunk):
        batch = [
            {"source": source, "status": "ingested", **r} for r in records[start : start + chunk]
        ]
        conn.execute(insert(Video), batch)
        progress("videos", min(start + chunk, len(records)), len(records))
    return existing_ids(session, source) if len(new) else known


def insert_labels(session: Session, rows: list[dict]) -> int:
    if rows:
        session.connection().execute(insert(Label), rows)
    return len(rows)
