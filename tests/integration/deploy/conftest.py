"""The project as users install it: the built wheel (not editable) in a virtualenv of its own
(no system site-packages), torch and every dependency from the lock file ``constraints.txt``.

Installing ~110 distributions (2 GB, torch included) takes minutes (8 on this 2-core machine
under load), so the virtualenv of the dependencies is kept between runs under
``~/.cache/m3tr/wheel-venv/<key>``, the key being the lock file and the Python version: a changed
lock builds a new one from scratch (and removes the others). The m3tr wheel itself is rebuilt
from the working tree and reinstalled on every run, then its dependencies are resolved against
the lock (a dependency added to ``pyproject.toml`` gets installed). ``M3TR_WHEEL_VENV_FRESH=1``
forces a new virtualenv in the test's temporary folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LOCK = REPO / "constraints.txt"
CACHE = Path(os.environ.get("M3TR_WHEEL_VENV_CACHE", Path.home() / ".cache" / "m3tr" / "wheel-venv"))
SOURCE_DIRS = ("m3tr",)
SOURCE_FILES = ("pyproject.toml", "README.md")


@dataclass(frozen=True)
class WheelVenv:
    wheel: Path
    venv: Path
    install_s: float  # seconds spent installing dependencies in this run (0 when reused)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process of this install: its bin first on PATH, no M3TR_*
        settings and no PYTHONPATH leaking in from the test run."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("M3TR_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if out.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {out.returncode}:\n{out.stdout[-3000:]}\n"
            f"{out.stderr[-3000:]}"
        )
    return out


def build_wheel(dest: Path) -> Path:
    """``pip wheel`` of a copy of the sources (the repository gets no build/ or egg-info)."""
    src = dest / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCE_DIRS:
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in SOURCE_FILES:
        shutil.copy2(REPO / name, src / name)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(dest), str(src)],
        timeout=600,
    )
    (wheel,) = dest.glob("m3tr-*.whl")
    return wheel


def _torch_pin() -> str:
    match = re.search(r"^torch==(\S+)$", LOCK.read_text(), flags=re.MULTILINE)
    assert match, f"{LOCK} pins no torch"
    return f"torch=={match.group(1)}"


def _create(venv: Path) -> None:
    """A new virtualenv with torch (from the machine's wheels, as the Makefile) and the wheel's
    dependencies, all constrained by the lock file."""
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(LOCK)]
    _run([*pip, _torch_pin()], timeout=1800)


def _install_deps(venv: Path, wheel: Path) -> None:
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(LOCK)]
    _run([*pip, str(wheel)], timeout=1800)


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelVenv]:
    work = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(work)
    key = hashlib.sha256(f"{LOCK.read_text()}\n{sys.version}".encode()).hexdigest()[:16]
    fresh = os.environ.get("M3TR_WHEEL_VENV_FRESH") == "1"
    venv = work / "venv" if fresh else CACHE / key
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{key}.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # one test run at a time builds or changes this venv
        start = time.monotonic()
        install_s = 0.0
        if not (venv / ".complete").exists():  # new, or a build that was interrupted
            for old in CACHE.iterdir():  # venvs of other lock files: 2 GB each
                if old.is_dir() and old != venv and not fresh:
                    shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(venv, ignore_errors=True)
            _create(venv)
            _install_deps(venv, wheel)
            (venv / ".complete").touch()
            install_s = time.monotonic() - start
        py = str(venv / "bin" / "python")
        _run([py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)], 600)
        _run([py, "-m", "pip", "install", "-q", "-c", str(LOCK), str(wheel)], 1800)
        _run([py, "-m", "pip", "check"], 300)
        yield WheelVenv(wheel=wheel, venv=venv, install_s=install_s)
