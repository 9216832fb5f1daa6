"""What the web app needs at run time, built once at start-up and passed to every handler.

``Services`` is a plain dataclass so tests can build one on a temporary workspace; the UI and
the REST API never read settings or open stores themselves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from m3tr.app.settings import Settings
from m3tr.core.db.session import make_engine, make_session_factory
from m3tr.core.retrieval.store import VectorStore

log = logging.getLogger(__name__)

Enqueue = Callable[[int], Any]
"""Sends the pipeline for one job row (its id); called only after the row is committed."""


@dataclass
class Services:
    """Settings, the SQL session factory, lazily opened vector store, and the job sender."""

    settings: Settings
    sessions: sessionmaker[Session]
    enqueue: Enqueue
    store_opener: Callable[[], VectorStore] | None = None
    feature_store: Any = None
    _store: VectorStore | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def store(self) -> VectorStore | None:
        """The vector store (opened on first use), or None when none is configured."""
        if self.store_opener is None:
            return None
        with self._lock:
            if self._store is None:
                self._store = self.store_opener()
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def default_enqueue() -> Enqueue:
    """The workers' enqueue function (Celery), imported when the app starts."""
    from m3tr.workers.enqueue import enqueue_job  # type: ignore[import-not-found]

    return enqueue_job


def build_services(
    settings: Settings,
    enqueue: Enqueue | None = None,
    migrate: bool = True,
) -> Services:
    """Services on the workspace ``settings`` names (migrating the database first)."""
    from m3tr.core.retrieval.factory import open_store
    from m3tr.workers.context import store_config

    settings.ensure_home()
    if migrate:
        from m3tr.app.migrate import upgrade

        upgrade(settings.sqlalchemy_url)
    sessions = make_session_factory(make_engine(settings.sqlalchemy_url))
    cfg = store_config(settings)
    return Services(
        settings=settings,
        sessions=sessions,
        enqueue=enqueue if enqueue is not None else default_enqueue(),
        store_opener=lambda: open_store(cfg),
    )
