"""Run Alembic migrations programmatically (``m3tr db upgrade``, app start-up, tests)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config

log = logging.getLogger(__name__)

# The revisions are package data of ``m3tr.app.migrations`` (in the wheel, not only in a checkout).
MIGRATIONS_PACKAGE = "m3tr.app.migrations"


@contextmanager
def migrations_dir() -> Iterator[Path]:
    """The folder of the packaged Alembic environment (a real path, even from a zipped install)."""
    with resources.as_file(resources.files(MIGRATIONS_PACKAGE)) as path:
        if not (path / "env.py").is_file() or not (path / "versions").is_dir():
            raise FileNotFoundError(
                f"Alembic migrations incomplete in package {MIGRATIONS_PACKAGE} ({path}): "
                "env.py or versions/ is missing; reinstall m3tr"
            )
        yield path


def alembic_config(url: str, script_location: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with migrations_dir() as path:
        command.upgrade(alembic_config(url, path), revision)


def downgrade(url: str, revision: str = "base") -> None:
    with migrations_dir() as path:
        command.downgrade(alembic_config(url, path), revision)


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev
