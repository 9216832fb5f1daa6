"""``m3tr dataset import NAME PATH``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from m3tr.app.cli.common import console, fail, session_factory
from m3tr.core.datasets import IMPORTERS, DatasetError
from m3tr.core.db.session import transaction

app = typer.Typer(no_args_is_help=True)


@app.command("import")
def import_(
    name: str = typer.Argument(..., help=f"One of: {', '.join(IMPORTERS)}."),
    path: Path = typer.Argument(..., help="The dataset folder."),
) -> None:
    """Import a public dataset into the database (idempotent: a second run adds nothing)."""
    if name not in IMPORTERS:
        fail(f"unknown dataset {name!r}; choose one of {', '.join(IMPORTERS)}")
    if not path.is_dir():
        fail(f"{path}: not a folder")
    factory = session_factory()
    start = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        try:
            with transaction(factory) as session:
                report = IMPORTERS[name](session, path, progress)
        except DatasetError as exc:
            fail(str(exc))
    secs = time.perf_counter() - start
    console.print(
        f"{name}: {report.videos_added} videos added, {report.videos_skipped} already there, "
        f"{report.events_added} events, {report.labels_added} labels in {secs:.1f} s"
    )
