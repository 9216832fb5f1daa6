"""What ``/healthz`` checks: the database, the broker and the vector store, each with a short
timeout. A failed check reports ``"error"`` and is logged with its cause; the answer never carries
a driver's message (hosts, users, SQL) to whoever asks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, text

from m3tr.app.services import Services
from m3tr.app.settings import Settings
from m3tr.core.db.models import BankVersion, ModelVersion

log = logging.getLogger(__name__)

OK = "ok"
ERROR = "error"
# Seconds a broker probe may take before the check fails (a load balancer polls every few s).
BROKER_TIMEOUT_S = 2.0


@dataclass
class HealthReport:
    database: str
    broker: str
    vector_store: str
    live_bank: str | None = None
    active_model: str | None = None

    @property
    def healthy(self) -> bool:
        return ERROR not in (self.database, self.broker, self.vector_store)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "status": OK if self.healthy else ERROR,
            "database": self.database,
            "broker": self.broker,
            "vector_store": self.vector_store,
            "live_bank": self.live_bank,
            "active_model": self.active_model,
        }


def check_broker(settings: Settings) -> str:
    """``ok`` when the broker answers (Redis: PING); the embedded broker is a folder."""
    url = settings.broker_url
    if not url:
        return OK if settings.home.is_dir() else ERROR
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(
                url, socket_connect_timeout=BROKER_TIMEOUT_S, socket_timeout=BROKER_TIMEOUT_S
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=BROKER_TIMEOUT_S) as conn:
                conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any failure means the broker is unusable
        log.warning("health: broker unreachable: %s", exc)
        return ERROR
    return OK


def check_vector_store(services: Services) -> str:
    """``ok`` when the vector store opens and lists its collections."""
    try:
        store = services.store()
        if store is None:
            return "none"
        store.list_collections()
    except Exception as exc:  # noqa: BLE001 - any failure means the store is unusable
        log.warning("health: vector store unusable: %s", exc)
        return ERROR
    return OK


def check(services: Services) -> HealthReport:
    """Every check, always all three (a failed database does not hide a failed broker)."""
    report = HealthReport(database=OK, broker=check_broker(services.settings), vector_store=OK)
    try:
        with services.sessions() as session:
            session.execute(text("select 1"))
            report.live_bank = session.scalars(
                select(BankVersion.collection).where(BankVersion.is_live.is_(True))
            ).first()
            report.active_model = session.scalars(
                select(ModelVersion.name).where(ModelVersion.is_active.is_(True))
            ).first()
    except Exception as exc:  # noqa: BLE001 - any failure means the database is unusable
        log.warning("health: database unusable: %s", exc)
        report.database = ERROR
    report.vector_store = check_vector_store(services)
    return report
