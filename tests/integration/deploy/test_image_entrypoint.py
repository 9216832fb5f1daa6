"""The image's entry point (docker/entrypoint.sh) and the compose services' commands, run in the
wheel's clean virtualenv as the image runs them (PATH on the venv, production settings, M3TR_HOME
a fresh folder), against the machine's PostgreSQL and Redis. No Docker engine is needed.

Two differences from the compose deployment, because no Qdrant server runs here: the vector
store is Qdrant local mode in the workspace, so the worker runs with ``--pool threads`` instead
of ``prefork`` (prefork needs the server).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.deploy.conftest import REPO, WheelVenv
from tests.integration.workers.conftest import REDIS_URL

pytestmark = pytest.mark.integration

ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def redis_or_skip() -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(service: str) -> list[str]:
    """The compose service's command with its ${VAR:-default} resolved to the default."""
    out = []
    for arg in COMPOSE["services"][service]["command"]:
        if arg.startswith("${") and ":-" in arg:
            arg = arg[arg.index(":-") + 2 : -1]
        out.append(arg)
    return out


def _with(cmd: list[str], option: str, value: str) -> list[str]:
    cmd = list(cmd)
    cmd[cmd.index(option) + 1] = value
    return cmd


@pytest.fixture
def image_env(wheel_venv: WheelVenv, tmp_path: Path, pg_url: str) -> Iterator[dict[str, str]]:
    """The image's environment (Dockerfile ENV + compose's x-m3tr-env) pointed at this machine."""
    redis_or_skip()
    compose_env = COMPOSE["x-m3tr-env"]
    env = wheel_venv.env(
        M3TR_ENVIRONMENT=compose_env["M3TR_ENVIRONMENT"],
        M3TR_HOME=str(tmp_path / "data"),
        HF_HOME=str(tmp_path / "models" / "hf"),
        M3TR_DATABASE_URL=pg_url,
        M3TR_BROKER_URL=REDIS_URL,
        M3TR_BROKER_KEY_PREFIX=f"m3tr-image-{uuid.uuid4().hex[:8]}:",
        M3TR_AUTH_USERNAME="ops",
        M3TR_AUTH_PASSWORD=uuid.uuid4().hex,
    )
    yield env


def _start(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    with log.open("w") as fh:
        return subprocess.Popen(
            [str(ENTRYPOINT), *args], env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT
        )


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _health(proc: subprocess.Popen, port: int, log: Path, timeout: float = 300) -> httpx.Response:
    """The first answer of /healthz (any status) once the server listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def test_migrate_then_serve_healthz_200_then_503_without_redis(
    image_env: dict[str, str], tmp_path: Path
) -> None:
    migrate = subprocess.run(
        [str(ENTRYPOINT), *_command("migrate")],
        env=image_env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert "database at revision" in migrate.stderr

    port = _free_port()
    app_cmd = _with(_with(_command("app"), "--host", "127.0.0.1"), "--port", str(port))
    log = tmp_path / "app.log"
    app = _start(app_cmd, image_env, log, tmp_path)  # the image default: migrate on start
    try:
        r = _health(app, port, log)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["database"], body["broker"], body["vector_store"]) == ("ok", "ok", "ok")
        # the login is on: the API refuses anonymous requests, /healthz stays open
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs/1", timeout=10).status_code == 401
    finally:
        _stop(app)

    closed = _free_port()  # Redis "down": nothing listens on this port (the shared Redis stays up)
    down_env = {**image_env, "M3TR_BROKER_URL": f"redis://127.0.0.1:{closed}/0"}
    port = _free_port()
    log = tmp_path / "app-down.log"
    app = _start(_with(app_cmd, "--port", str(port)), down_env, log, tmp_path)
    try:
        r = _health(app, port, log)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "error" and body["broker"] == "error"
        assert body["database"] == "ok" and body["vector_store"] == "ok"
        assert str(closed) not in r.text  # no driver message, no address
    finally:
        _stop(app)


def test_production_image_without_login_exits_with_the_fix(
    image_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in image_env.items() if not k.startswith("M3TR_AUTH_")}
    out = subprocess.run(
        [str(ENTRYPOINT), *_with(_command("app"), "--port", str(_free_port()))],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 1 and "M3TR_ALLOW_NO_LOGIN=true" in text, text[-2000:]


def test_worker_answers_the_compose_healthcheck(image_env: dict[str, str], tmp_path: Path) -> None:
    cmd = _with(_with(_command("worker-cpu"), "--pool", "threads"), "--concurrency", "1")
    assert cmd[cmd.index("--queues") + 1] == "cpu,gpu"  # no GPU worker: both queues
    log = tmp_path / "worker.log"
    worker = _start(cmd, image_env, log, tmp_path)
    try:
        deadline = time.monotonic() + 300
        while "ready." not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        check = COMPOSE["x-worker-healthcheck"]["test"]
        assert check[0] == "CMD-SHELL"
        shell = check[1].replace("$$", "$")  # compose's escape of a literal $

        def probe(hostname: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                ["sh", "-c", shell], env={**image_env, "HOSTNAME": hostname},
                cwd=tmp_path, capture_output=True, text=True, timeout=180,
            )  # fmt: skip

        ok = probe(socket.gethostname())
        assert ok.returncode == 0, ok.stderr[-3000:] + log.read_text()[-2000:]
        missing = probe(f"no-such-worker-{os.getpid()}")
        assert missing.returncode != 0
    finally:
        _stop(worker)
