"""Batch upload: many videos at once, each paired with the event log of the same stem, or
described by a manifest uploaded with them (``m3tr.core.pipeline.manifest``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from m3tr.app.services import Services
from m3tr.app.views.uploads import VIDEO_SUFFIXES, UploadError, ingest_upload
from m3tr.core.db.models import Video
from m3tr.core.db.session import transaction
from m3tr.core.events.log import SUFFIXES as EVENT_SUFFIXES
from m3tr.core.events.log import EventLogRules
from m3tr.core.pipeline.manifest import ManifestError, read_manifest

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


def is_manifest(path: Path) -> bool:
    """A CSV whose header, or a JSON-lines file whose first object, names a ``media`` column."""
    if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        return False
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline(1 << 16).strip()
    except OSError:
        return False
    if path.suffix.lower() == ".csv":
        return "media" in [c.strip().strip('"').lower() for c in first.split(",")]
    try:
        rec = json.loads(first)
    except ValueError:
        return False
    return isinstance(rec, dict) and "media" in {str(k).lower() for k in rec}


def ingest_manifest(services: Services, manifest: Path, files: Sequence[Path]) -> list[list[Any]]:
    """Every row of ``manifest``, its media and event log taken ONLY from ``files`` (the files
    uploaded with it, by name): a row naming anything else is refused, nothing of it ingested."""
    by_name = {p.name: p for p in files}

    def resolve(text: str) -> Path:
        name = text.replace("\\", "/").rsplit("/", 1)[-1]
        if name not in by_name:
            raise ValueError(f"{name!r} was not uploaded with the manifest")
        return by_name[name]

    s = services.settings
    rules = EventLogRules(vocabulary=s.event_types, max_events=s.max_events_per_log)
    try:
        good, bad = read_manifest(manifest, rules, resolve)
    except ManifestError as exc:
        return [[manifest.name, "", f"refused: {exc}", None, None]]
    rows: list[list[Any]] = [
        [f"{manifest.name}, line {b.line}", "", f"refused: {b.reason}", None, None] for b in bad
    ]
    for r in good:
        where = f"{manifest.name}, line {r.line}"
        try:
            sub = ingest_upload(
                services, r.media, r.media.name, r.events, r.events.name if r.events else None,
                title=r.title or r.media.stem, description=r.description,
            )  # fmt: skip
        except UploadError as exc:
            rows.append([where, "", f"refused: {exc}", None, None])
            continue
        if r.published_at is not None or r.author is not None:
            with transaction(services.sessions) as session:
                video = session.get(Video, sub.video_id)
                if r.published_at is not None:
                    video.published_at = r.published_at
                if r.author is not None:
                    video.extra = {**(video.extra or {}), "author": r.author}
        rows.append([where, r.events.name if r.events else "", "queued", sub.video_id, sub.job_id])
    return rows


def ingest_batch(services: Services, paths: Sequence[str | Path] | None) -> pd.DataFrame:
    """Ingest every video in ``paths`` (each on its own: one bad file does not stop the rest).

    With a manifest among the files (CSV or JSON lines with a ``media`` column), its rows say
    which videos to ingest with which metadata and event log; otherwise videos are paired with
    the event log of the same stem."""
    files = [Path(p) for p in paths or []]
    manifests = [p for p in files if is_manifest(p)]
    if manifests:
        rest = [p for p in files if p not in manifests]
        rows = [row for m in manifests for row in ingest_manifest(services, m, rest)]
        return pd.DataFrame(rows, columns=BATCH_COLUMNS)
    rows = []
    pairs, unused = pair_files(files)
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
