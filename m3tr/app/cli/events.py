"""``m3tr events``: import an event log for one video."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from m3tr.app.cli.common import console, fail, session_factory, settings
from m3tr.core.db.models import Video
from m3tr.core.db.repository import VideoNotFound, find_video, replace_events
from m3tr.core.db.session import transaction
from m3tr.core.events.log import EventLogError, EventLogRules, read_event_log

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


@app.command("append")
def append(
    file: Path = typer.Argument(
        ..., help="CSV, JSON lines or Parquet with columns t, type[, user]: the new events."
    ),
    video: str = typer.Option(..., "--video", help="Video id or external id."),
    observed_until: float | None = typer.Option(
        None, "--observed-until", min=0, help="The events are complete up to this time (s)."
    ),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the re-forecast job."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Append FILE's events to VIDEO's log (all or nothing) and re-forecast it.

    The batch is validated like a log file (errors name the line); rows equal to stored events
    are skipped, so appending the same file twice adds nothing. Exit 1 when refused, or with
    --wait when the re-forecast fails.
    """
    import json

    from m3tr.core.pipeline.live import AppendRefused, append_events
    from m3tr.workers.enqueue import enqueue_job

    s = settings()
    rules = EventLogRules(vocabulary=s.event_types, max_events=s.max_events_per_log)
    factory = session_factory()
    try:
        with transaction(factory) as session:
            v = find_video(session, video)
            batch = read_event_log(file, rules, published_at=v.published_at)
            done = append_events(
                session, v.id, batch, max_events=s.max_events_per_log,
                observed_until_s=observed_until,
            )  # fmt: skip
    except (VideoNotFound, EventLogError, AppendRefused) as exc:
        fail(str(exc))
    if done.new_job:
        enqueue_job(done.job_id)
    result = {
        "video_id": done.video_id,
        "appended": done.n_added,
        "duplicates_skipped": done.n_duplicates,
        "n_events": done.n_events,
        "observed_until_s": done.observed_until_s,
        "job_id": done.job_id,
    }
    console.print(
        f"video {done.video_id}: {done.n_added} events appended "
        f"({done.n_duplicates} already stored), log {done.n_events} events, observed until "
        f"{done.observed_until_s:g} s; re-forecast job {done.job_id}"
    )
    if as_json:
        typer.echo(json.dumps(result))
    if wait:
        from m3tr.app.cli.service import exit_code, follow_jobs

        raise typer.Exit(exit_code(follow_jobs(factory, [done.job_id], 0, label="reforecast")))
