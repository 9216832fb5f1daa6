"""Batch upload: many videos at once, each paired with the event log of the same stem."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from app.api.uploads import VIDEO_SUFFIXES, UploadError, ingest_upload
from app.services import Services
from m3tr_core.events.log import SUFFIXES as EVENT_SUFFIXES

BATCH_COLUMNS = ["file", "event log", "result", "video", "job"]


def pair_files(paths: Sequence[str | Path]) -> tuple[list[tuple[Path, Path | None]], list[Path]]:
    """Videos with their event log (same file stem), and the files that fit neither."""
    files = [Path(p) for p in paths]
    logs = {p.stem: p for p in files if p.suffix.lower() in EVENT_SUFFIXES}
    pairs, unused = [], []
    used_logs: set[str] = set()
    for p in files:
        if p.suffix.lower() in VIDEO_SUFFIXES:
            log_file = logs.get(p.stem)
            if log_file is not None:
                used_logs.add(p.stem)
            pairs.append((p, log_file))
        elif p.suffix.lower() not in EVENT_SUFFIXES:
            unused.append(p)
    unused += [p for stem, p in logs.items() if stem not in used_logs]
    return pairs, unused


def ingest_batch(services: Services, paths: Sequence[str | Path] | None) -> pd.DataFrame:
    """Ingest every video in ``paths`` (each on its own: one bad file does not stop the rest)."""
    rows = []
    pairs, unused = pair_files(paths or [])
    for video, events in pairs:
        try:
            sub = ingest_upload(
                services, video, video.name, events, events.name if events else None,
                title=video.stem,
            )  # fmt: skip
            rows.append([video.name, events.name if events else "", "queued", sub.video_id,
                         sub.job_id])  # fmt: skip
        except UploadError as exc:
            rows.append([video.name, events.name if events else "", f"refused: {exc}", None, None])
    for p in unused:
        reason = (
            "event log without a video of the same name"
            if p.suffix.lower() in EVENT_SUFFIXES
            else f"not a video ({', '.join(VIDEO_SUFFIXES)}) or an event log"
        )
        rows.append([p.name, "", f"skipped: {reason}", None, None])
    return pd.DataFrame(rows, columns=BATCH_COLUMNS)
