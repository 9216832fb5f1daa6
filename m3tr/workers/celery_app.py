"""The Celery application: broker from settings, queues ``gpu`` and ``cpu``, late acks.

- Production: ``M3TR_BROKER_URL=redis://...``. Tasks are acknowledged only after they finish
  (``task_acks_late``), one at a time per worker process (``worker_prefetch_multiplier=1``); a
  worker killed mid-task leaves its message unacknowledged and Redis hands it to another worker
  once ``visibility_timeout`` (``M3TR_VISIBILITY_TIMEOUT_S``, longer than the longest job) has
  passed. Every task is idempotent, so a second run is harmless.
- Embedded default (no ``M3TR_BROKER_URL``): kombu's ``filesystem://`` transport, folders under
  ``<home>/broker``; nothing to install, works across processes on one machine. It cannot
  redeliver a message lost with a killed process, so an embedded worker re-sends its unfinished
  jobs from SQL when it starts (``m3tr.workers.recovery``).

Results are not stored (``task_ignore_result``): the state of every job lives in SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from m3tr.app.settings import Settings, get_settings
from m3tr.core.pipeline.steps import QUEUE_CPU, STEP_QUEUES, task_name

# task name -> queue, from the step table (encoders and the temporal model on GPU machines,
# I/O and serving on CPU)
TASK_QUEUES: dict[str, str] = {task_name(step): queue for step, queue in STEP_QUEUES.items()}


def is_embedded(settings: Settings) -> bool:
    """True when no broker URL is configured (the filesystem broker under ``home``)."""
    return not settings.broker_url or settings.broker_url.startswith("filesystem://")


def broker_folders(settings: Settings) -> dict[str, Path]:
    root = settings.broker_dir.resolve()
    return {"queue": root / "queue", "processed": root / "processed", "control": root / "control"}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for ``settings`` (plain dict, so tests can inspect it)."""
    vt = int(settings.visibility_timeout_s)
    conf: dict[str, Any] = {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": QUEUE_CPU,
        "task_routes": {name: {"queue": q} for name, q in TASK_QUEUES.items()},
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }
    if is_embedded(settings):
        folders = broker_folders(settings)
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        conf["broker_url"] = "filesystem://"
        # kombu's filesystem transport, writing each message whole (see m3tr.workers.fs_broker)
        conf["broker_transport"] = "m3tr.workers.fs_broker:Transport"
        conf["broker_transport_options"] = {
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "store_processed": False,
            "polling_interval": 0.1,
        }
        conf["worker_enable_remote_control"] = False
    else:
        conf["broker_url"] = settings.broker_url
        conf["broker_transport_options"] = {
            "visibility_timeout": vt,
            # sweep for messages of dead workers every ~vt/6 s (kombu default: every 100 s)
            "unacked_restore_interval": max(1, min(60, vt // 6)),
            "unacked_restore_throttle": 1,
        }
        if settings.broker_key_prefix:
            conf["broker_transport_options"]["global_keyprefix"] = settings.broker_key_prefix
    return conf


def create_celery(settings: Settings | None = None) -> Celery:
    """A Celery app configured from ``settings`` (default: the process settings)."""
    settings = settings or get_settings()
    app = Celery("m3tr", set_as_current=True)
    app.conf.update(celery_config(settings))
    app.conf.update(m3tr_embedded=is_embedded(settings))
    import m3tr.workers.tasks  # noqa: F401 - registers the shared tasks

    return app


_app: Celery | None = None


def get_app() -> Celery:
    """The process's Celery app (created from settings on first use)."""
    global _app
    if _app is None:
        _app = create_celery()
    return _app


def reset_app() -> None:
    """Forget the process's app (tests that change settings)."""
    global _app
    _app = None


def __getattr__(name: str) -> Any:
    # ``celery -A m3tr.workers.celery_app worker`` looks up ``app``; build it lazily.
    if name == "app":
        return get_app()
    raise AttributeError(name)
