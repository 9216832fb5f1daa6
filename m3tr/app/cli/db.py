"""``m3tr db``: migrations."""

from __future__ import annotations

import typer

from m3tr.app import migrate
from m3tr.app.cli.common import console, settings

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    url = settings().sqlalchemy_url
    migrate.upgrade(url, revision)
    console.print(f"database at revision [bold]{migrate.current(url)}[/]")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Revert migrations down to REVISION."""
    url = settings().sqlalchemy_url
    migrate.downgrade(url, revision)
    console.print(f"database at revision [bold]{migrate.current(url)}[/]")


@app.command()
def current() -> None:
    """Print the database's current revision."""
    typer.echo(migrate.current(settings().sqlalchemy_url) or "(empty)")
