"""``/healthz``: database, broker and vector store; 503 when one is down, with no driver text."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient

from m3tr.app.web import create_app
from m3tr.core.db.session import make_engine, make_session_factory
from tests.unit.ui.factories import make_services


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(services, break_after_start=None) -> tuple[int, dict]:  # noqa: ANN001
    """GET /healthz; ``break_after_start(services)`` takes a dependency down once the app runs."""
    with TestClient(create_app(services)) as client:
        if break_after_start is not None:
            break_after_start(services)
        r = client.get("/healthz")
    return r.status_code, r.json()


def test_embedded_workspace_is_healthy(tmp_path: Path) -> None:
    services, _ = make_services(tmp_path / "home")
    status, body = _get(services)
    assert status == 200
    assert (body["status"], body["database"], body["broker"], body["vector_store"]) == (
        "ok", "ok", "ok", "ok"
    )  # fmt: skip


def test_unreachable_broker_is_503_without_its_address(tmp_path: Path) -> None:
    port = _closed_port()
    services, _ = make_services(tmp_path / "home", broker_url=f"redis://127.0.0.1:{port}/0")
    status, body = _get(services)
    assert status == 503
    assert body["status"] == "error" and body["broker"] == "error"
    assert body["database"] == "ok" and body["vector_store"] == "ok"
    assert str(port) not in str(body) and "refused" not in str(body).lower()


def test_unreachable_database_is_503_without_the_driver_error(tmp_path: Path) -> None:
    services, _ = make_services(tmp_path / "home")
    port = _closed_port()

    def database_down(svc) -> None:  # noqa: ANN001
        svc.sessions = make_session_factory(
            make_engine(f"postgresql+psycopg://m3tr:hunter2@127.0.0.1:{port}/m3tr")
        )

    status, body = _get(services, database_down)
    assert status == 503
    assert body["database"] == "error" and body["broker"] == "ok"
    assert "hunter2" not in str(body) and str(port) not in str(body)


def test_failing_vector_store_is_503(tmp_path: Path) -> None:
    services, _ = make_services(tmp_path / "home")

    def broken():  # noqa: ANN202
        raise RuntimeError("storage folder /secret/path is locked by another process")

    def store_down(svc) -> None:  # noqa: ANN001
        svc.close()
        svc.store_opener = broken

    status, body = _get(services, store_down)
    assert status == 503 and body["vector_store"] == "error"
    assert "/secret/path" not in str(body)
