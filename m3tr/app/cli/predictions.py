"""``m3tr predictions``: a video's forecast history, and every forecast exported to a file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from m3tr.app.cli.common import console, fail, print_records, session_factory, settings

app = typer.Typer(no_args_is_help=True)


@app.command("history")
def history(
    video: str = typer.Argument(..., help="Video id or external id."),
    as_json: bool = typer.Option(False, "--json", help="A JSON array on stdout."),
) -> None:
    """Every forecast of VIDEO, oldest first: when, from how many events, and what it said."""
    from sqlalchemy import select

    from m3tr.app.records import prediction_record
    from m3tr.core.db.models import ModelVersion, Prediction
    from m3tr.core.db.repository import VideoNotFound, find_video

    settings()
    with session_factory()() as session:
        try:
            v = find_video(session, video)
        except VideoNotFound as exc:
            fail(str(exc))
        rows = session.execute(
            select(Prediction, ModelVersion.name)
            .outerjoin(ModelVersion, ModelVersion.id == Prediction.model_version_id)
            .where(Prediction.video_id == v.id)
            .order_by(Prediction.created_at, Prediction.id)
        ).all()
        records = [prediction_record(p, name) for p, name in rows]
    if not as_json:
        for r in records:
            t = r.pop("total")
            r["total (lo-hi)"] = (
                "" if t["median"] is None else f"{t['median']:.0f} ({t['lo']:.0f}-{t['hi']:.0f})"
            )
    cols = ["prediction_id", "made_at", "observed_until_s", "n_events", "model_version",
            "method", "total (lo-hi)"]  # fmt: skip
    print_records(records, cols, f"forecasts of video {v.id}", as_json)


@app.command("export")
def export(
    file: Path = typer.Argument(..., help="Where to write: .csv or .parquet (by suffix)."),
    video: int | None = typer.Option(None, "--video", help="Only this video id."),
    model: str | None = typer.Option(None, "--model", help="Only this model version name."),
    search: str | None = typer.Option(None, "--search", help="In the title or external id."),
    since: dt.datetime | None = typer.Option(None, "--since", help="Made at or after (UTC)."),
    until: dt.datetime | None = typer.Option(None, "--until", help="Made before (UTC)."),
    latest: bool = typer.Option(False, "--latest", help="Only each video's newest forecast."),
) -> None:
    """Write every forecast (one row each, columns as in docs/web.md) to FILE."""
    from m3tr.app.records import export_columns, iter_export_rows, write_table
    from m3tr.core.db.listing import Filters

    fmt = {".csv": "csv", ".parquet": "parquet"}.get(file.suffix.lower())
    if fmt is None:
        fail(f"{file.name}: write a .csv or a .parquet file")
    s = settings()
    utc = [
        None if t is None else t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (since, until)
    ]
    f = Filters(video_id=video, kind=model, q=search, created_after=utc[0], created_before=utc[1])
    types = list(s.event_types)
    tmp = file.with_name(f".{file.name}.part")
    try:
        n = write_table(iter_export_rows(session_factory(), f, types, latest),
                        export_columns(types), tmp, fmt)  # fmt: skip
        tmp.replace(file)
    finally:
        tmp.unlink(missing_ok=True)
    console.print(f"{n} forecasts written to {file}")
