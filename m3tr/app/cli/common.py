"""Shared plumbing for CLI commands: settings, database sessions, console, error exit."""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from m3tr.app.settings import Settings, get_settings
from m3tr.app.threads import ThreadPlan
from m3tr.app.threads import apply as apply_threads
from m3tr.app.threads import plan as plan_threads

console = Console(stderr=True)


def settings() -> Settings:
    s = get_settings()
    s.ensure_home()
    return s


@lru_cache
def session_factory() -> sessionmaker[Session]:
    """The command's session factory on the configured database, migrated to head first
    (``m3tr.app.bootstrap.database``; one per process until ``cache_clear``)."""
    from m3tr.app.bootstrap import database

    return database(settings())


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a clear error and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


stdout = Console()  # what a command answers (tables, JSON); logs and progress go to ``console``


def print_records(records: list[dict], columns: list[str], title: str, as_json: bool) -> None:
    """A listing on stdout: a JSON array with ``--json``, else a table of ``columns``."""
    import json

    if as_json:
        typer.echo(json.dumps(records, default=str))
        return
    if not records:
        stdout.print(f"{title}: none")
        return
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for r in records:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    stdout.print(table)


def choices(name: str, values: list[str]) -> type[Enum]:
    """An Enum whose values are ``values``: typer shows and checks them as real choices."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def value(choice: Enum | None) -> str | None:
    return None if choice is None else str(choice.value)


def use_threads(role: str, processes: int = 1, threads: int | None = None) -> ThreadPlan:
    """Size this process's compute thread pools for ``role`` (:mod:`m3tr.app.threads`).

    ``threads`` (a command's own option) wins over ``M3TR_THREADS``; 0 means automatic.
    """
    count = settings().threads if threads is None else threads
    try:
        return apply_threads(plan_threads(role, count, processes=processes))
    except ValueError as exc:
        fail(str(exc))
