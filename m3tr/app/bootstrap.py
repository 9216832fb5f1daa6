"""One bootstrap for every process: settings -> database -> pipeline context -> services.

``m3tr serve``, ``m3tr worker``, every CLI command (``m3tr.app.cli.common.session_factory``)
and the tests start here, and pass what they built on instead of opening it again:

- :func:`database`: the workspace's folders, the database migrated to head, and a session
  factory (one engine) on it;
- :func:`pipeline_context`: the process's :class:`PipelineContext` (encoders, models, the vector
  store) on that session factory, installed as the workers' context (``m3tr.workers.context``);
- :func:`services`: what the web app's handlers get (:class:`~m3tr.app.services.Services`), on
  the context's session factory and vector store when the process has one (``m3tr serve``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from m3tr.app.services import Enqueue, Services
from m3tr.app.settings import Settings
from m3tr.core.db.session import make_engine, make_session_factory
from m3tr.core.pipeline.context import PipelineContext


def database(settings: Settings, migrate: bool = True) -> sessionmaker[Session]:
    """A session factory on the database ``settings`` names (its folders made, migrated to head
    first unless ``migrate`` is False). Build it once per process and pass it on."""
    settings.ensure_home()
    if migrate:
        from m3tr.app.migrate import upgrade

        upgrade(settings.sqlalchemy_url)
    return make_session_factory(make_engine(settings.sqlalchemy_url))


def pipeline_context(settings: Settings, sessions: sessionmaker[Session]) -> PipelineContext:
    """The pipeline context on ``sessions``, installed as this process's (the in-process
    worker's tasks and the web app then share one engine and one vector store)."""
    from m3tr.workers.context import build_context, set_context

    ctx = build_context(settings, sessions)
    set_context(ctx)
    return ctx


def services(
    settings: Settings,
    enqueue: Enqueue | None = None,
    *,
    context: PipelineContext | None = None,
    migrate: bool = True,
) -> Services:
    """The web app's services. ``enqueue``: the job sender (default: the workers' Celery one);
    ``context``: use its session factory and vector store (one process may own a local
    store; closed with the context), else a migrated :func:`database` and a store of their own
    opened on first use."""
    if enqueue is None:
        from m3tr.workers.enqueue import enqueue_job

        enqueue = enqueue_job
    if context is not None:
        return Services(
            settings, context.session_factory, enqueue, store_opener=context.store, owns_store=False
        )
    from m3tr.core.retrieval.factory import open_store
    from m3tr.workers.context import store_config

    cfg = store_config(settings)
    sessions = database(settings, migrate)
    return Services(settings, sessions, enqueue, store_opener=lambda: open_store(cfg))
