"""Shared plumbing for CLI commands: settings, database sessions, console, error exit."""

from __future__ import annotations

from functools import lru_cache
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings, get_settings
from m3tr_core.db.session import make_engine, make_session_factory

console = Console(stderr=True)


def settings() -> Settings:
    s = get_settings()
    s.ensure_home()
    return s


@lru_cache
def session_factory() -> sessionmaker[Session]:
    """Session factory on the configured database, migrated to head first."""
    from app.migrate import upgrade

    s = settings()
    upgrade(s.sqlalchemy_url)
    return make_session_factory(make_engine(s.sqlalchemy_url))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a clear error and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
