"""REST API: create a video, follow its job, read its prediction; health; auth; size limit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from m3tr.app.web import create_app
from m3tr.core.db.models import Video
from tests.unit.ui.factories import (
    add_model,
    add_prediction,
    add_video,
    make_services,
    synthetic_clip,
)


@pytest.fixture
def client_and_services(tmp_path):
    services, recorder = make_services(tmp_path / "home")
    with TestClient(create_app(services)) as client:
        yield client, services, recorder


def test_healthz(client_and_services):
    client, _, _ = client_and_services
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok", "vector_store": "ok",
                        "live_bank": None, "active_model": None}  # fmt: skip


def test_openapi_lists_the_routes(client_and_services):
    client, _, _ = client_and_services
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/videos", "/api/jobs/{job_id}", "/api/videos/{video_id}/prediction",
            "/healthz"} <= set(paths)  # fmt: skip


def test_create_video_then_job_then_prediction(client_and_services, tmp_path):
    client, services, recorder = client_and_services
    clip = synthetic_clip(tmp_path, "api")
    with clip.open("rb") as fh:
        r = client.post(
            "/api/videos",
            files={"media": ("api.mp4", fh, "video/mp4"),
                   "events": ("e.csv", b"t,type\n1,like\n3,comment\n", "text/csv")},
            data={"title": "From the API"},
        )  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["n_events"] == 2 and recorder.sent == [body["job_id"]]
    job = client.get(f"/api/jobs/{body['job_id']}").json()
    assert job["state"] == "queued" and job["video_id"] == body["video_id"]
    assert client.get(body["prediction_url"]).status_code == 404

    nb = add_video(services, "neighbour", [10, 20, 30], labels={"like": 300})
    mid = add_model(services, "m3tr-v1")
    add_prediction(services, body["video_id"],
                   [{"video_id": nb, "content": 0.9, "temporal": 0.5, "score": 1.03}], mid)  # fmt: skip
    pred = client.get(body["prediction_url"]).json()
    assert pred["forecast"]["like"] == {"median": 120.0, "lo": 80.0, "hi": 200.0}
    assert pred["neighbours"][0]["video_id"] == nb
    assert pred["neighbours"][0]["labels"] == {"like": 300}
    assert pred["neighbours"][0]["combined"] == pytest.approx(1.03)
    assert pred["model_version"] == "m3tr-v1" and pred["retrieval_mode"] == "temporal_aware"


def test_bad_upload_is_422_with_a_clear_message_and_no_row(client_and_services):
    client, services, recorder = client_and_services
    r = client.post("/api/videos", files={"media": ("x.mp4", b"not a video at all", "video/mp4")})
    assert r.status_code == 422
    assert "x.mp4 is not a readable video" in r.json()["detail"]
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Video)) == 0
    assert recorder.sent == []


def test_unknown_ids_are_404(client_and_services):
    client, _, _ = client_and_services
    assert client.get("/api/jobs/99").status_code == 404
    assert "no video with id 99" in client.get("/api/videos/99/prediction").json()["detail"]


def test_oversized_request_is_refused_before_reading(tmp_path):
    services, _ = make_services(tmp_path / "home", max_upload_mb=1)
    with TestClient(create_app(services)) as client:
        r = client.post("/api/videos", files={"media": ("big.mp4", b"\0" * (5 << 20), "video/mp4")})
    assert r.status_code == 413 and "1 MB" in r.json()["detail"]


def test_login_protects_api_but_not_healthz(tmp_path):
    services, _ = make_services(tmp_path / "home", auth_username="ana", auth_password="s3cret!")
    with TestClient(create_app(services)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/jobs/1").status_code == 401
        assert client.get("/api/jobs/1", auth=("ana", "wrong")).status_code == 401
        assert client.get("/api/jobs/1", auth=("ana", "s3cret!")).status_code == 404
        # the UI asks for a login too: its config is refused until the form login succeeds
        assert client.get("/config").status_code == 401
        assert (
            client.post("/login", data={"username": "ana", "password": "nope"}).status_code == 400
        )
        assert client.post("/login", data={"username": "ana", "password": "s3cret!"}).json() == {
            "success": True
        }
        assert client.get("/config").status_code == 200
