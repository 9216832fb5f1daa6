"""What the web app needs at run time, built once at start-up and passed to every handler.

``Services`` is a plain dataclass, built by :func:`m3tr.app.bootstrap.services` (``m3tr serve``
and the tests alike); the UI and the REST API never read settings or open stores themselves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from m3tr.app.settings import Settings
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
    owns_store: bool = True  # False: the store is a pipeline context's, closed with it
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
            if self._store is not None and self.owns_store:
                self._store.close()
            self._store = None
