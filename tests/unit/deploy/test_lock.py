"""constraints.txt (the lock) covers every dependency pyproject.toml declares, within its floors,
and pins the torch the Makefile installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[3]


def _lock() -> dict[str, Version]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and "+" not in version, f"not an exact public pin: {line}"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_declared_dependency_is_locked_within_its_floor() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lock = _lock()
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is not in constraints.txt: run `make lock`"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={lock[name]}, outside {req.specifier}"
        )
    assert canonicalize_name("m3tr") not in lock


def test_the_makefile_torch_is_the_locked_torch() -> None:
    makefile = (REPO / "Makefile").read_text()
    torch = re.search(r"^TORCH\s*\?=\s*torch==(\S+)$", makefile, flags=re.MULTILINE)
    assert torch and Version(torch.group(1)) == _lock()["torch"]
    assert re.search(r"pip install .*-c \$\(LOCK\) -e", makefile)
