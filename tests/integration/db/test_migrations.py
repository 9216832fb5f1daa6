"""Migrations upgrade and downgrade on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from m3tr.app import migrate

TABLES = {"videos", "events", "labels", "jobs", "model_versions", "bank_versions", "predictions"}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def _roundtrip(url: str) -> None:
    migrate.upgrade(url)
    assert TABLES <= _tables(url)
    assert migrate.current(url) == "0002"
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

    from m3tr.core.db.models import Base

    migrate.upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def _registry_revision(url: str) -> None:
    """0002 on a database that broke the rule (two active versions of one kind): the newest
    stays active, and the partial unique index then refuses a second active version."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    migrate.upgrade(url, "0001")
    engine = create_engine(url)
    ins = (
        "insert into model_versions (name, kind, config, metrics, is_active, created_at) "
        "values (:n, :k, '{}', '{}', :a, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        for name, kind, act in [("a", "m3tr", True), ("b", "m3tr", True), ("c", "mhp", True),
                                ("d", "mhp", False)]:  # fmt: skip
            conn.execute(text(ins), {"n": name, "k": kind, "a": act})
    migrate.upgrade(url)
    with engine.connect() as conn:
        active = conn.execute(
            text("select name from model_versions where is_active order by name")
        ).scalars().all()
    assert active == ["b", "c"]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("update model_versions set is_active = :a where name = 'd'"), {"a": True})
    with engine.begin() as conn:  # another kind may have its own active version
        conn.execute(text(ins), {"n": "e", "k": "other", "a": True})
    engine.dispose()
    migrate.downgrade(url, "0001")
    migrate.upgrade(url)


def test_sqlite_registry_revision(sqlite_url: str) -> None:
    _registry_revision(sqlite_url)


@pytest.mark.integration
def test_postgres_registry_revision(pg_url: str) -> None:
    _registry_revision(pg_url)
