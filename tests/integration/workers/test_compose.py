"""docker-compose.yml: valid for ``docker compose config``, and shaped as the deployment needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "docker-compose.yml"


def _compose_command() -> list[str] | None:
    """``docker compose`` (the plugin) where installed, else Debian's ``docker-compose`` 1.29."""
    if shutil.which("docker") is not None:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    return None


def test_docker_compose_config_is_clean() -> None:
    cmd = _compose_command()
    if cmd is None:
        if os.environ.get("CI"):
            pytest.fail("no compose implementation: run scripts/install-system-deps")
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {**os.environ, "POSTGRES_PASSWORD": "test-secret"}
    out = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr


def test_docker_compose_config_refuses_a_missing_secret() -> None:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    out = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert out.returncode != 0
    assert "POSTGRES_PASSWORD" in out.stderr


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_every_role_is_there_with_official_images(compose: dict) -> None:
    services = compose["services"]
    assert {"app", "worker-gpu", "worker-cpu", "redis", "postgres", "qdrant", "migrate"} <= set(
        services
    )
    assert services["qdrant"]["image"].startswith("qdrant/qdrant:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_long_running_services_have_healthchecks_and_named_volumes(compose: dict) -> None:
    services = compose["services"]
    named = set(compose["volumes"])
    for name, svc in services.items():
        if name != "migrate":
            assert "healthcheck" in svc and svc["healthcheck"]["test"], name
        for mount in svc.get("volumes", []):
            assert mount.split(":", 1)[0] in named, f"{name}: {mount} is not a named volume"


def test_migrations_run_before_app_and_workers(compose: dict) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]  # the entry point adds m3tr
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("app", "worker-gpu", "worker-cpu"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["qdrant"]["condition"] == "service_healthy", name


def test_workers_take_their_queues_and_the_gpu(compose: dict) -> None:
    services = compose["services"]
    gpu, cpu = services["worker-gpu"], services["worker-cpu"]
    assert gpu["command"][gpu["command"].index("--queues") + 1] == "gpu"
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["target"] == "runtime-gpu"
    # without the gpu profile the CPU worker also takes the gpu queue (nothing waits forever)
    assert cpu["command"][cpu["command"].index("--queues") + 1] == "${M3TR_CPU_WORKER_QUEUES:-cpu,gpu}"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["environment"]["M3TR_DEVICE"] == "cuda"


def _config(env: dict[str, str]) -> dict:
    cmd = _compose_command()
    if cmd is None:
        if os.environ.get("CI"):
            pytest.fail("no compose implementation: run scripts/install-system-deps")
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "M3TR_"))}
    out = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "config"],
        capture_output=True, text=True, env={**base, "POSTGRES_PASSWORD": "x", **env}, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def _queues(service: dict) -> str:
    return service["command"][service["command"].index("--queues") + 1]


def test_default_runs_without_a_gpu_and_the_gpu_profile_adds_the_gpu_worker() -> None:
    default = _config({})["services"]
    # Compose v2 leaves out services of inactive profiles; docker-compose 1.29 lists them marked
    assert "worker-gpu" not in default or default["worker-gpu"]["profiles"] == ["gpu"]
    assert _queues(default["worker-cpu"]) == "cpu,gpu"
    with_gpu = _config({"COMPOSE_PROFILES": "gpu", "M3TR_CPU_WORKER_QUEUES": "cpu"})["services"]
    assert _queues(with_gpu["worker-gpu"]) == "gpu" and _queues(with_gpu["worker-cpu"]) == "cpu"


def test_workers_are_checked_by_celery_ping_and_share_the_model_cache(compose: dict) -> None:
    services = compose["services"]
    for name in ("worker-gpu", "worker-cpu"):
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "celery -A m3tr.workers.celery_app:app inspect ping" in test, name
        assert "pgrep" not in test
        assert "models:/models" in services[name]["volumes"], name
        env = services[name]["environment"]
        assert env["HF_HOME"].startswith("/models/"), name
    app_check = " ".join(services["app"]["healthcheck"]["test"])
    assert "/healthz" in app_check and "curl" not in app_check  # the slim image has no curl


def test_settings_come_from_the_environment(compose: dict) -> None:
    env = compose["services"]["app"]["environment"]
    assert env["M3TR_BROKER_URL"].startswith("redis://redis:")
    assert env["M3TR_QDRANT_URL"] == "http://qdrant:6333"
    assert env["M3TR_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "${POSTGRES_PASSWORD" in env["M3TR_DATABASE_URL"]  # no secret in the file
    assert int(env["M3TR_VISIBILITY_TIMEOUT_S"].split(":-")[-1].rstrip("}")) >= 6 * 3600
    for var in env:
        assert var.startswith("M3TR_") or var == "HF_HOME", var
