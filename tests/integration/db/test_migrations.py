"""Migrations upgrade and downgrade on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from app import migrate

TABLES = {"videos", "events", "labels", "jobs", "model_versions", "bank_versions", "predictions"}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def _roundtrip(url: str) -> None:
    migrate.upgrade(url)
    assert TABLES <= _tables(url)
    assert migrate.current(url) == "0001"
    migrate.downgrade(url, "base")
    assert _tables(url) == set()
    migrate.upgrade(url)
    assert TABLES <= _tables(url)


def test_sqlite_upgrade_downgrade(sqlite_url: str) -> None:
    _roundtrip(sqlite_url)


@pytest.mark.integration
def test_postgres_upgrade_downgrade(pg_url: str) -> None:
    _roundtrip(pg_url)


def test_models_match_migrations(sqlite_url: str) -> None:
    """Autogenerate finds nothing to add: the ORM and the revisions agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from m3tr_core.db.models import Base

    migrate.upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
