"""The Dockerfile, read as text (no Docker engine here): the stages the deployment needs, every
install from the lock, kernels built against the installed torch, slim non-root runtimes, and
the sources it copies are the packages pyproject.toml ships."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _stages() -> dict[str, str]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_stages_and_default_target() -> None:
    stages = _stages()
    assert list(stages) == ["wheel", "builder", "builder-gpu", "runtime-gpu", "runtime-cpu"]


def test_every_pip_install_is_constrained_by_the_lock() -> None:
    for name, body in _stages().items():
        for line in re.findall(r"pip install[^&\n]*", body):
            assert "-c /tmp/constraints.txt" in line, f"{name}: {line}"


def test_gpu_kernels_are_built_against_the_installed_cuda_torch() -> None:
    gpu = _stages()["builder-gpu"]
    assert "download.pytorch.org/whl/cu" in gpu
    assert re.search(r"--no-build-isolation[^&]*mamba-ssm", gpu)
    assert re.search(r"^FROM \$\{CUDA_DEVEL_IMAGE\} AS builder-gpu$", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^ARG CUDA_DEVEL_IMAGE=nvidia/cuda:\S+-devel-", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^FROM \$\{CUDA_RUNTIME_IMAGE\} AS runtime-gpu$", DOCKERFILE, re.MULTILINE)


def test_runtimes_are_slim_non_root_and_migrate_on_start() -> None:
    for name in ("runtime-cpu", "runtime-gpu"):
        body = _stages()[name]
        assert "build-essential" not in body and "COPY --from=builder" in body, name
        assert re.search(r"^USER m3tr$", body, flags=re.MULTILINE), name
        assert 'ENTRYPOINT ["m3tr-entrypoint"]' in body, name
        assert "COPY docker/entrypoint.sh /usr/local/bin/m3tr-entrypoint" in body, name
    entry = (REPO / "docker" / "entrypoint.sh").read_text()
    assert "m3tr db upgrade" in entry


def test_copied_sources_are_the_packages_pyproject_ships() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", _stages()["wheel"], flags=re.MULTILINE))
    assert copied == shipped
    ignored = (REPO / ".dockerignore").read_text().split()
    for needed in ("constraints.txt", "docker", "README.md", "pyproject.toml", *shipped):
        assert needed not in ignored, needed
