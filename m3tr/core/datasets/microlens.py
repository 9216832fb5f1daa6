"""MicroLens-100k: ``labels.csv`` (comment counts), ``titles.csv`` and ``videos/*.mp4``.

Media are referenced where they lie, never copied (MicroLens forbids redistribution).
"""

from __future__ import annotations

from pathlib import Path

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

SOURCE = "microlens"


def import_microlens(
    session: Session, path: str | Path, progress: Progress = no_progress
) -> ImportReport:
    path = Path(path)
    labels_f, titles_f = path / "labels.csv", path / "titles.csv"
    if not labels_f.is_file():
        raise DatasetError(f"{path}: expected labels.csv (see ../shared/data/README.md)")
    labels = pd.read_csv(labels_f, dtype={"video_id": str})
    if {"video_id", "comment_count"} - set(labels.columns):
        raise DatasetError(f"{labels_f}: needs columns video_id, comment_count")
    titles = (
        pd.read_csv(titles_f, dtype={"video_id": str}, keep_default_na=False)
        if titles_f.is_file()
        else pd.DataFrame(columns=["video_id", "title", "title_truncated"])
    )
    df = labels.merge(titles, on="video_id", how="left")
    videos_dir = path / "videos"
    media = (
        {p.stem: str(p.resolve()) for p in videos_dir.glob("*.mp4")} if videos_dir.is_dir() else {}
    )
    rows = pd.DataFrame(
        {
            "external_id": df["video_id"],
            "title": df["title"].where(df["title"].notna() & (df["title"] != ""), None),
            "media_path": df["video_id"].map(media),
            "matured": True,
            "extra": [
                {"title_truncated": bool(int(x))} if pd.notna(x) and x != "" else {}
                for x in df.get("title_truncated", pd.Series([None] * len(df)))
            ],
        }
    )
    rows["media_path"] = rows["media_path"].where(rows["media_path"].notna(), None)
    report = ImportReport(dataset=SOURCE)
    before = existing_ids(session, SOURCE)
    ids = insert_new_videos(session, SOURCE, rows, progress)
    new_ext = set(ids) - set(before)
    report.videos_added = len(new_ext)
    report.videos_skipped = len(rows) - len(new_ext)
    label_rows = [
        {"video_id": ids[ext], "type": "comment", "horizon_s": None, "count": int(c)}
        for ext, c in zip(df["video_id"], df["comment_count"], strict=True)
        if ext in new_ext
    ]
    report.labels_added = insert_labels(session, label_rows)
    progress("labels", report.labels_added, report.labels_added)
    return report
