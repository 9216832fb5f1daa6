"""``m3tr videos``: the videos in the database, filtered (newest first)."""

from __future__ import annotations

import typer

from m3tr.app.cli.common import choices, print_records, session_factory, settings, value

app = typer.Typer(help="Videos: list them.")
STATES = ["new", "ingested", "ready", "failed"]
StateChoice = choices("StateChoice", STATES)


@app.callback(invoke_without_command=True)
def videos(
    limit: int = typer.Option(30, "--limit", "-n", min=1, max=500),
    state: StateChoice | None = typer.Option(None, "--state"),
    search: str | None = typer.Option(None, "--search", "-q", help="In title or external id."),
    source: str | None = typer.Option(None, "--source"),
    as_json: bool = typer.Option(False, "--json", help="A JSON array on stdout."),
) -> None:
    """Videos with their status, newest first, on stdout."""
    from m3tr.app.records import video_record
    from m3tr.core.db.listing import Filters, list_videos

    settings()
    f = Filters(state=(value(state),) if state else (), q=search, kind=source)
    with session_factory()() as session:
        rows = [video_record(v) for v in list_videos(session, f, limit=limit).items]
    cols = ["id", "source", "external_id", "title", "status", "matured", "created_at"]
    print_records(rows, cols, f"{len(rows)} videos", as_json)
