"""Guards of the API: limits while the body streams, 404/405, no echo, login back-off, docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from m3tr.app.api.throttle import LoginThrottle
from m3tr.app.web import create_app
from m3tr.core.db.models import Video
from tests.unit.ui.factories import make_services, synthetic_clip


@pytest.fixture
def small_limits(tmp_path: Path):
    services, recorder = make_services(tmp_path / "home", max_upload_mb=1)
    with TestClient(create_app(services)) as client:
        yield client, services, recorder


def _nothing_stored(services) -> bool:  # noqa: ANN001
    with services.sessions() as s:
        rows = s.scalar(select(func.count()).select_from(Video))
    incoming = services.settings.media_dir / ".incoming"
    files = [p for p in services.settings.media_dir.rglob("*") if p.is_file()]
    return rows == 0 and files == [] and (not incoming.exists() or not any(incoming.iterdir()))


def _chunks(total: int, size: int = 64 << 10):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"\0" * n


def test_chunked_body_past_the_limit_is_413_and_nothing_is_kept(small_limits, tmp_path):
    client, services, recorder = small_limits
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="a.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()

    def body():
        yield head
        yield from _chunks(3 << 20)  # no Content-Length: the body is sent chunked
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post(
        "/api/videos",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413, r.text
    assert "'a.mp4'" in r.json()["detail"] and "1 MB" in r.json()["detail"]
    assert _nothing_stored(services) and recorder.sent == []


def test_each_file_part_is_limited_and_extra_files_are_refused(small_limits, tmp_path):
    client, services, _ = small_limits
    clip = synthetic_clip(tmp_path, "ok").read_bytes()
    r = client.post(
        "/api/videos",
        files=[("media", ("ok.mp4", clip, "video/mp4")),
               ("extra", ("big.bin", b"\0" * (2 << 20), "application/octet-stream"))],
    )  # fmt: skip
    assert r.status_code == 413 and "'big.bin'" in r.json()["detail"]
    r = client.post(
        "/api/videos",
        files=[("media", ("ok.mp4", clip, "video/mp4")),
               ("events", ("e.csv", b"t,type\n1,like\n", "text/csv")),
               ("extra", ("x.csv", b"t,type\n1,like\n", "text/csv"))],
    )  # fmt: skip
    assert r.status_code == 413 and "too many files" in r.json()["detail"]
    r = client.post(
        "/api/videos",
        files={"media": ("ok.mp4", clip, "video/mp4")},
        data={"title": "x" * (100 << 10)},
    )
    assert r.status_code == 413 and "'title'" in r.json()["detail"]
    assert _nothing_stored(services)


def test_a_declared_length_past_the_limit_is_refused_before_reading(small_limits):
    client, _, _ = small_limits
    r = client.post("/api/videos", content=b"", headers={"Content-Length": str(10 << 20)})
    assert r.status_code == 413 and "request body too large" in r.json()["detail"]


def test_wrong_method_is_405_unknown_path_404_and_huge_ids_404(small_limits):
    client, _, _ = small_limits
    r = client.delete("/api/videos")
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    assert client.put("/api/jobs/3").status_code == 405
    assert client.get("/api/nothing/here").status_code == 404
    for big in (2**63, 2**64 + 5, 10**40, -1, 0):
        r = client.get(f"/api/jobs/{big}")
        assert r.status_code == 404, (big, r.text)
        assert client.get(f"/api/videos/{big}/prediction").status_code == 404


def test_validation_errors_never_echo_what_was_sent(small_limits):
    client, _, _ = small_limits
    raw = b"\x00\x00\x00\x18ftypmp42" + b"A" * 5000
    r = client.post("/api/videos", data={"media": raw.decode("latin-1")})
    assert r.status_code == 422
    assert "AAAA" not in r.text and "ftyp" not in r.text and len(r.text) < 2000
    # one 4xx shape (m3tr.app.api.problems): detail a sentence, errors the field-level list
    assert r.json()["errors"][0]["loc"] == ["body", "media"]
    assert "body.media" in r.json()["detail"]


def test_login_back_off_per_client():
    now = [0.0]
    throttle = LoginThrottle(free=3, base_wait_s=1.0, max_wait_s=8.0, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("a")
    assert throttle.wait_s("a") == 0.0
    throttle.failed("a")
    assert throttle.wait_s("a") == pytest.approx(1.0) and throttle.wait_s("b") == 0.0
    for _ in range(10):
        throttle.failed("a")
    assert throttle.wait_s("a") == pytest.approx(8.0)  # capped
    now[0] += 9.0
    assert throttle.wait_s("a") == 0.0
    throttle.succeeded("a")
    throttle.failed("a")
    assert throttle.wait_s("a") == 0.0


def test_brute_force_is_slowed_on_both_logins_and_docs_need_the_login(tmp_path):
    services, _ = make_services(tmp_path / "home", auth_username="ana", auth_password="s3cret!")
    with TestClient(create_app(services)) as client:
        assert client.get("/docs").status_code == 401
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/redoc").status_code in (401, 404)
        assert client.get("/openapi.json", auth=("ana", "s3cret!")).json()["paths"]
        assert "swagger" in client.get("/docs", auth=("ana", "s3cret!")).text.lower()
        codes = [client.get("/api/jobs/1", auth=("ana", f"guess{i}")).status_code for i in range(8)]
        assert codes[:5] == [401] * 5 and codes[-1] == 429, codes
        r = client.get("/api/jobs/1", auth=("ana", "s3cret!"))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert client.get("/healthz").status_code == 200  # no credentials: never throttled
        form = [
            client.post("/login", data={"username": "ana", "password": "no"}).status_code
            for _ in range(2)
        ]
        assert form == [429, 429]  # the same client, the same back-off on the Gradio login


def test_gradio_uploads_stay_in_this_workspace_and_within_the_limit(small_limits):
    import os

    client, services, _ = small_limits
    tmp = (services.settings.home / "gradio-tmp").resolve()
    assert os.environ["GRADIO_TEMP_DIR"] == str(tmp)
    r = client.post("/gradio_api/upload", files={"files": ("a.csv", b"t,type\n1,like\n")})
    assert r.status_code == 200, r.text
    (stored,) = r.json()
    assert Path(stored).resolve().is_relative_to(tmp)
    r = client.post("/gradio_api/upload", files={"files": ("b.bin", b"\0" * (2 << 20))})
    assert r.status_code == 413, r.text


def test_every_path_has_a_body_limit_even_chunked(small_limits):
    client, _, _ = small_limits
    r = client.post(
        "/gradio_api/queue/join",
        content=_chunks(5 << 20),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and "request body too large" in r.json()["detail"]
