"""Ingestion manifests: one row per video with its metadata and event log (CSV or JSON lines).

Columns (JSON keys): ``media`` (required: the video file), ``title``, ``description``,
``published_at`` (ISO 8601; naive times are UTC), ``author``, ``events`` (its event log),
``external_id`` (default: the media file's stem). Each row is checked completely (media file
and type, event log validated like any log, timestamp) before anything is ingested; a bad row is
reported with its line and ingests nothing, the good rows go ahead.

Paths are resolved by the caller's ``resolve`` (the CLI: relative to the manifest's folder; the
web UI: only files uploaded with the manifest, by name, never a path on the server).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m3tr.core.events.log import EventLogError, EventLogRules, read_event_log

log = logging.getLogger(__name__)

COLUMNS = ("media", "title", "description", "published_at", "author", "events", "external_id")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")
MAX_ROWS = 100_000
MAX_TEXT = 10_000

Resolver = Callable[[str], Path]


class ManifestError(ValueError):
    """The manifest as a whole cannot be read (type, encoding, no ``media`` column)."""


@dataclass(frozen=True)
class ManifestRow:
    line: int
    media: Path
    events: Path | None
    title: str | None
    description: str | None
    published_at: dt.datetime | None
    author: str | None
    external_id: str | None


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def relative_to(folder: Path) -> Resolver:
    """Paths as written, relative ones against ``folder`` (the manifest's)."""

    def resolve(text: str) -> Path:
        p = Path(text).expanduser()
        return p if p.is_absolute() else folder / p

    return resolve


def _records(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """(line, record or a reason it cannot be read) per data line."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path.name}: cannot be read as UTF-8 text ({exc})") from None
    out: list[tuple[int, dict[str, Any] | str]] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        fields = [str(f).strip().lower() for f in reader.fieldnames or []]
        if "media" not in fields:
            raise ManifestError(
                f"{path.name}: a manifest needs a 'media' column (found: {', '.join(fields)})"
            )
        for i, rec in enumerate(reader):
            out.append((i + 2, {str(k).strip().lower(): v for k, v in rec.items() if k}))
    elif suffix in (".jsonl", ".ndjson"):
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((i + 1, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(rec, dict):
                out.append((i + 1, "not a JSON object"))
                continue
            out.append((i + 1, {str(k).strip().lower(): v for k, v in rec.items()}))
    else:
        raise ManifestError(f"{path.name}: a manifest is a .csv or .jsonl file")
    if not out:
        raise ManifestError(f"{path.name}: the manifest has no rows")
    if len(out) > MAX_ROWS:
        raise ManifestError(f"{path.name}: {len(out)} rows, more than {MAX_ROWS} per manifest")
    return out


def _text(rec: dict[str, Any], key: str) -> str | None:
    value = rec.get(key)
    if value is None:
        return None
    value = str(value).strip()
    if len(value) > MAX_TEXT:
        raise ValueError(f"column '{key}' has {len(value)} characters, more than {MAX_TEXT}")
    return value or None


def _timestamp(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"column 'published_at': {value[:40]!r} is not an ISO 8601 time") from None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _row(line: int, rec: dict[str, Any], resolve: Resolver, rules: EventLogRules) -> ManifestRow:
    unknown = sorted(set(rec) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)} (allowed: {', '.join(COLUMNS)})")
    media_s = _text(rec, "media")
    if media_s is None:
        raise ValueError("column 'media' is empty")
    media = resolve(media_s)
    if media.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"media {media.name!r} is not a video ({', '.join(VIDEO_SUFFIXES)})")
    if not media.is_file():
        raise ValueError(f"media {media_s!r} not found")
    published_at = _timestamp(_text(rec, "published_at"))
    events_s = _text(rec, "events")
    events = None
    if events_s is not None:
        events = resolve(events_s)
        if not events.is_file():
            raise ValueError(f"event log {events_s!r} not found")
        try:
            read_event_log(events, rules, published_at=published_at)
        except EventLogError as exc:
            raise ValueError(f"event log: {exc}") from None
    return ManifestRow(
        line=line,
        media=media,
        events=events,
        title=_text(rec, "title"),
        description=_text(rec, "description"),
        published_at=published_at,
        author=_text(rec, "author"),
        external_id=_text(rec, "external_id"),
    )


def read_manifest(
    path: str | Path, rules: EventLogRules, resolve: Resolver | None = None
) -> tuple[list[ManifestRow], list[BadRow]]:
    """The manifest's good rows and its bad rows (line and reason).

    Raises:
        ManifestError: the file as a whole is unusable.
    """
    path = Path(path)
    resolve = resolve or relative_to(path.resolve().parent)
    good: list[ManifestRow] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    for line, rec in _records(path):
        if isinstance(rec, str):
            bad.append(BadRow(line, rec))
            continue
        try:
            row = _row(line, rec, resolve, rules)
        except (ValueError, OSError) as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        key = row.external_id or row.media.stem
        if key in seen:
            bad.append(BadRow(line, f"video {key!r} is already on line {seen[key]}"))
            continue
        seen[key] = line
        good.append(row)
    log.info("%s: %d rows to ingest, %d refused", path.name, len(good), len(bad))
    return good, bad
