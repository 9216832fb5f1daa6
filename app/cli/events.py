"""``m3tr events``: import an event log for one video."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from app.cli.common import console, fail, session_factory, settings
from m3tr_core.db.models import Video
from m3tr_core.db.repository import VideoNotFound, find_video, replace_events
from m3tr_core.db.session import transaction
from m3tr_core.events.log import EventLogError, EventLogRules, read_event_log

app = typer.Typer(no_args_is_help=True)


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., help="CSV, JSON lines or Parquet with columns t, type[, user]."
    ),
    video: str = typer.Option(..., "--video", help="Video id or external id."),
    create: bool = typer.Option(False, "--create", help="Create the video if it does not exist."),
    published_at: dt.datetime | None = typer.Option(
        None, "--published-at", help="Publication time, when t holds timestamps."
    ),
) -> None:
    """Replace VIDEO's event log with FILE, all or nothing."""
    s = settings()
    rules = EventLogRules(vocabulary=s.event_types, max_events=s.max_events_per_log)
    factory = session_factory()
    try:
        with transaction(factory) as session:
            try:
                v = find_video(session, video)
            except VideoNotFound as exc:
                if not create:
                    fail(f"{exc} (pass --create to add it)")
                v = Video(source="cli", external_id=video, published_at=published_at)
                session.add(v)
                session.flush()
            pub = published_at or v.published_at
            event_log = read_event_log(file, rules, published_at=pub)
            n = replace_events(session, v, event_log)
            vid = v.id
    except EventLogError as exc:
        fail(str(exc))
    note = ""
    if event_log.duplicates_dropped:
        note += f"; dropped {event_log.duplicates_dropped} exact duplicate rows"
    if not event_log.was_sorted:
        note += "; input was unsorted and has been sorted by t"
    counts = ", ".join(f"{k}={c}" for k, c in event_log.counts().items())
    console.print(f"video {vid}: {n} events imported ({counts}){note}")
