"""CED Weibo repost cascades: ``posts.csv`` + ``events.csv.gz`` into videos, events, labels."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from m3tr.core.datasets.base import (
    DatasetError,
    ImportReport,
    Progress,
    existing_ids,
    insert_labels,
    insert_new_videos,
    no_progress,
)
from m3tr.core.db.repository import bulk_insert_events

log = logging.getLogger(__name__)

SOURCE = "ced-weibo"
POST_COLUMNS = {"post_id", "text", "published_at", "final_reposts", "final_comments", "final_likes"}
EVENT_COLUMNS = {"post_id", "t", "type"}
LABEL_TYPES = {"final_reposts": "repost", "final_comments": "comment", "final_likes": "like"}


def read_ced_weibo(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tables, checked for the columns the import needs."""
    path = Path(path)
    posts_f, events_f = path / "posts.csv", path / "events.csv.gz"
    for f in (posts_f, events_f):
        if not f.is_file():
            raise DatasetError(f"{path}: expected {f.name} (see ../shared/data/README.md)")
    posts = pd.read_csv(posts_f, dtype={"post_id": str})
    events = pd.read_csv(events_f, dtype={"post_id": str, "type": str, "user": str})
    for name, df, need in (
        ("posts.csv", posts, POST_COLUMNS),
        ("events.csv.gz", events, EVENT_COLUMNS),
    ):
        missing = need - set(df.columns)
        if missing:
            raise DatasetError(f"{path / name}: missing columns {sorted(missing)}")
    return posts, events


def _video_rows(posts: pd.DataFrame) -> pd.DataFrame:
    text = posts["text"].fillna("").astype(str)
    extra_cols = [
        c for c in ("followers", "friends", "verified", "pics", "n_events", "rumor") if c in posts
    ]
    extras = [
        {k: (None if pd.isna(v) else float(v)) for k, v in rec.items()}
        for rec in posts[extra_cols].to_dict("records")
    ]
    return pd.DataFrame(
        {
            "external_id": posts["post_id"].astype(str),
            "title": text.str.slice(0, 120),
            "description": text,
            "published_at": [
                dt.datetime.fromtimestamp(int(s), tz=dt.UTC) for s in posts["published_at"]
            ],
            "matured": True,
            "extra": extras,
        }
    )


def import_ced_weibo(
    session: Session, path: str | Path, progress: Progress = no_progress
) -> ImportReport:
    """Import new posts with their events and final counts; posts already there are skipped."""
    posts, events = read_ced_weibo(path)
    report = ImportReport(dataset=SOURCE)
    before = existing_ids(session, SOURCE)
    ids = insert_new_videos(session, SOURCE, _video_rows(posts), progress)
    new_ext = set(ids) - set(before)
    report.videos_added = len(new_ext)
    report.videos_skipped = len(posts) - len(new_ext)
    if not new_ext:
        return report

    ev = events[events["post_id"].isin(new_ext)].sort_values(["post_id", "t"], kind="stable")
    if (ev["t"] < 0).any():
        bad = ev.loc[ev["t"] < 0].iloc[0]
        raise DatasetError(f"events.csv.gz: negative t for post {bad['post_id']}")
    video_ids = ev["post_id"].map(ids).to_numpy(dtype=np.int64)
    users = ev["user"].where(ev["user"].notna(), None).tolist() if "user" in ev else None
    total = len(ev)
    chunk = 100_000
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        bulk_insert_events(
            session,
            video_ids[start:stop],
            ev["t"].to_numpy(dtype=np.float64)[start:stop],
            ev["type"].tolist()[start:stop],
            None if users is None else users[start:stop],
        )
        report.events_added += stop - start
        progress("events", stop, total)

    label_rows = []
    new_posts = posts[posts["post_id"].isin(new_ext)]
    for col, type_ in LABEL_TYPES.items():
        for ext, count in zip(new_posts["post_id"], new_posts[col], strict=True):
            if pd.notna(count):
                label_rows.append(
                    {"video_id": ids[ext], "type": type_, "horizon_s": None, "count": int(count)}
                )
    report.labels_added = insert_labels(session, label_rows)
    progress("labels", report.labels_added, report.labels_added)
    return report
