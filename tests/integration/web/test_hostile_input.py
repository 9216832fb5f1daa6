"""Hostile input against a real ``m3tr serve``: refused early, with nothing kept, and the server
neither dies nor grows (issue 17). One server for the module's tests."""

from __future__ import annotations

import select
import socket
from pathlib import Path

import httpx
import pytest

from tests.integration.web.conftest import RssSampler, Server, server_env

pytestmark = pytest.mark.integration

MB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("hostile") / "home"
    home.mkdir()
    srv = Server(home=home, env=server_env(home)).start()
    yield srv
    srv.stop()


def _nothing_kept(server: Server) -> None:
    assert server.sql("select count(*) from videos") == [(0,)]
    assert server.sql("select count(*) from jobs") == [(0,)]
    assert server.files("media") == []
    assert server.files("tmp") == []  # the multipart parser's spooled files are gone too
    assert server.files("gradio-tmp") == []


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_chunked_450_mb_body_is_refused_at_the_limit_and_nothing_is_kept(
    server: Server, data_dir: Path
) -> None:
    """A small real video plus an extra 450 MB file part, sent chunked (no Content-Length)."""
    boundary = b"hostile-boundary"
    clip = (data_dir / "media" / "archery.mp4").read_bytes()
    head = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="media"; '
        b'filename="a.mp4"\r\nContent-Type: video/mp4\r\n\r\n' + clip + b"\r\n--" + boundary
        + b'\r\nContent-Disposition: form-data; name="extra"; filename="x.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )  # fmt: skip
    block = b"\0" * MB
    sent, answer = 0, b""
    with RssSampler(server.pid) as rss, socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(
            b"POST /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n" + _chunk(head)
        )
        try:
            for _ in range(450):  # generated as it goes: never 450 MB in this process
                if select.select([s], [], [], 0)[0]:
                    break  # the server has answered: stop sending
                s.sendall(_chunk(block))
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(30)
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    print(f"chunked: {sent / MB:.0f} MB sent before the 413; server RSS +{rss.growth_mb:.1f} MB")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"x.bin" in answer and b"200 MB per file" in answer
    assert sent < 260 * MB  # stopped near the 200 MB file limit, not after 450 MB
    assert rss.growth_mb < 100, rss.growth_mb
    _nothing_kept(server)
    assert httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200


def test_20m_row_parquet_is_422_without_expanding(server: Server, data_dir: Path, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 20_000_000
    table = pa.table({"t": pa.repeat(pa.scalar(1.0), n), "type": pa.repeat(pa.scalar("like"), n)})
    bomb = tmp_path / "bomb.parquet"
    pq.write_table(table, bomb, compression="zstd")
    del table
    assert bomb.stat().st_size < 2 * MB
    clip = data_dir / "media" / "archery.mp4"
    with RssSampler(server.pid) as rss, clip.open("rb") as media, bomb.open("rb") as events:
        r = httpx.post(
            f"{server.base}/api/videos",
            files={"media": ("a.mp4", media, "video/mp4"),
                   "events": ("bomb.parquet", events, "application/octet-stream")},
            timeout=120,
        )  # fmt: skip
    print(f"20M-row parquet: server RSS +{rss.growth_mb:.1f} MB")
    assert r.status_code == 422, r.text
    assert "20000000 events exceed the cap of 200000" in r.json()["detail"]
    assert rss.growth_mb < 100, rss.growth_mb
    _nothing_kept(server)


def test_truncated_mp4_with_its_index_in_front_is_422_and_nothing_written(
    server: Server, data_dir: Path, tmp_path: Path
) -> None:
    from tests.unit.api.test_uploads import faststart_copy

    whole = faststart_copy(data_dir / "media" / "archery.mp4", tmp_path / "fast.mp4")
    cut = whole.read_bytes()[:20_000]  # `head -c 20000`
    r = httpx.post(
        f"{server.base}/api/videos",
        files={"media": ("cut.mp4", cut, "video/mp4")},
        timeout=60,
    )
    assert r.status_code == 422, r.text
    assert "cut.mp4 is not a complete video" in r.json()["detail"]
    _nothing_kept(server)


def test_small_points_over_http(server: Server) -> None:
    base = server.base
    assert httpx.get(f"{base}/api/jobs/{2**63}", timeout=10).status_code == 404
    assert httpx.get(f"{base}/api/jobs/{10**30}", timeout=10).status_code == 404
    r = httpx.delete(f"{base}/api/videos", timeout=10)
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    raw = "ftypmp42" + "Z" * 100_000
    r = httpx.post(f"{base}/api/videos", data={"media": raw}, timeout=10)
    assert r.status_code == 413 or (r.status_code == 422 and "ZZZZ" not in r.text), r.text[:300]
    _nothing_kept(server)
