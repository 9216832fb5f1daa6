"""The worker process's :class:`PipelineContext`, built once from settings.

One per process: it owns the vector store (Qdrant Edge allows one process per folder)
and the loaded encoders. ``m3tr serve`` shares the same context with the web app.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from m3tr.app.settings import Settings, get_settings
from m3tr.core.db.session import make_engine, make_session_factory
from m3tr.core.events.log import EventLogRules
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.retrieval.factory import StoreConfig

log = logging.getLogger(__name__)

_lock = threading.Lock()
_context: PipelineContext | None = None


def store_config(settings: Settings) -> StoreConfig:
    """The vector-store config the settings describe (the web app's and the workers' alike)."""
    from m3tr.core.retrieval.edge_store import EdgeStoreConfig  # the backends load lazily
    from m3tr.core.retrieval.faiss_store import FaissConfig

    return StoreConfig(
        backend=settings.store_backend,  # type: ignore[arg-type]
        path=settings.vector_store_path.resolve(),
        qdrant_url=settings.qdrant_url,
        qdrant_api_key=settings.qdrant_api_key,
        faiss=FaissConfig(ivfpq_min_size=settings.faiss_ivfpq_min_size, device=settings.device),
        edge=EdgeStoreConfig(
            hnsw_ef=settings.edge_hnsw_ef,
            optimize_after=settings.edge_optimize_after or None,
        ),
    )


def build_context(
    settings: Settings, sessions: sessionmaker[Session] | None = None
) -> PipelineContext:
    """A fresh context on the workspace ``settings`` names (the database must be migrated),
    on ``sessions`` (the process's session factory, ``m3tr.app.bootstrap``) or a new one."""
    settings.ensure_home()
    factory = sessions or make_session_factory(make_engine(settings.sqlalchemy_url))
    return PipelineContext(
        session_factory=factory,
        media_dir=settings.media_dir.resolve(),
        feature_dir=settings.feature_dir.resolve(),
        model_dir=settings.model_dir.resolve(),
        store_config=store_config(settings),
        event_rules=EventLogRules(
            vocabulary=tuple(settings.event_types), max_events=settings.max_events_per_log
        ),
        encoder_profile=settings.encoder_profile,
        encoder_models=settings.encoder_overrides(),
        obs_window_s=settings.obs_window_s,
        horizon_s=settings.horizon_s,
        top_s=settings.top_s,
        device=settings.device,
    )


def get_context() -> PipelineContext:
    """The process's context (built on first use)."""
    global _context
    with _lock:
        if _context is None:
            _context = build_context(get_settings())
        return _context


def set_context(ctx: PipelineContext | None) -> None:
    """Install a context built elsewhere (``m3tr serve`` shares one with the web app)."""
    global _context
    with _lock:
        _context = ctx


def close_context() -> None:
    """Release the store (flush and close the Edge shards, free the folder lock)."""
    global _context
    with _lock:
        if _context is not None:
            _context.close()
            _context = None
