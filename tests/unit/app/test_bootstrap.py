"""One bootstrap: settings -> database -> pipeline context -> services share one engine and
one vector store (``m3tr serve``), and a web app's own services open their own store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from m3tr.app import bootstrap
from m3tr.app.settings import Settings
from m3tr.workers.context import get_context, set_context


def test_serve_wiring_shares_one_engine_and_one_store(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", vector_backend="numpy")
    sessions = bootstrap.database(settings)
    assert "videos" in inspect(sessions.kw["bind"]).get_table_names()  # migrated to head
    sent: list[int] = []
    ctx = bootstrap.pipeline_context(settings, sessions)
    try:
        assert get_context() is ctx and ctx.session_factory is sessions
        services = bootstrap.services(settings, sent.append, context=ctx)
        assert services.sessions is sessions
        store = services.store()
        assert store is ctx.store()  # one store: a local one may be opened by one owner only
        services.close()  # the context owns it: still open, still the context's
        assert ctx.store() is store and store.list_collections() == []
    finally:
        ctx.close()
        set_context(None)


def test_services_without_a_context_own_their_store(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", vector_backend="numpy")
    services = bootstrap.services(settings, lambda job_id: None)
    assert "jobs" in inspect(services.sessions.kw["bind"]).get_table_names()
    first = services.store()
    assert services.owns_store and services.store() is first
    services.close()
    assert services.store() is not first  # closed with the services, opened again on use
    services.close()
