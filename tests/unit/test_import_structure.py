"""The structure rules of ``scripts/import-graph`` hold for the whole tree.

Each rule is asserted separately so a failure names the rule and lists what breaks it. The
checker itself is tested on a small tree written here, so these tests can fail.
"""

from __future__ import annotations

import sys
import textwrap
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_checker():
    loader = SourceFileLoader("import_graph", str(ROOT / "scripts" / "import-graph"))
    spec = spec_from_loader("import_graph", loader)
    module = module_from_spec(spec)
    sys.modules["import_graph"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


checker = load_checker()
FINDINGS = checker.check(ROOT)


@pytest.mark.parametrize("rule", sorted(FINDINGS))
def test_rule_holds(rule: str) -> None:
    assert FINDINGS[rule] == [], f"{rule}:\n" + "\n".join(FINDINGS[rule])


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_checker_finds_each_kind_of_break(tmp_path: Path) -> None:
    pkgs = ["m3tr", "m3tr/core", "m3tr/core/a", "m3tr/core/b", "m3tr/app", "m3tr/workers", "tests"]
    pkgs += ["m3tr/app/api", "m3tr/app/ui"]
    write(tmp_path, {f"{p}/__init__.py": "" for p in pkgs})
    write(
        tmp_path,
        {
            "m3tr/core/a/x.py": "from m3tr.core.b.y import thing\n",
            # a function-level import still counts
            "m3tr/core/b/y.py": "def f():\n    from m3tr.core.a import x\nthing = 1\n",
            "m3tr/core/b/z.py": "import gradio\nfrom m3tr.app.settings import Settings\n",
            "m3tr/app/settings.py": "Settings = object\n",
            "m3tr/workers/tasks.py": "from ..app.cli import main\nbuild = 1\n",
            "tests/test_t.py": "from m3tr.core.a.x import _helper\n",
            "m3tr/app/cli.py": "from m3tr.workers.tasks import build\nrow.is_active = True\n",
            "m3tr/app/api/routes.py": "from m3tr.app.ui.handlers import results\n",
            "m3tr/app/ui/tab.py": "from m3tr.app.api import uploads\nfrom m3tr.app.views import v\n",
        },
    )
    found = checker.check(tmp_path)
    assert any("m3tr.core.a, m3tr.core.b" in line for line in found["cycles"])
    assert any("m3tr.app, m3tr.workers" in line for line in found["cycles"])
    assert any("m3tr/app/cli.py:1" in line for line in found["app/workers"])
    assert any("m3tr/workers/tasks.py:1" in line for line in found["app/workers"])
    assert found["private imports"] == [
        "private name imported: tests/test_t.py:1: from m3tr.core.a.x import _helper"
    ]
    assert found["is_active writers"] == [
        "is_active written outside the registry: m3tr/app/cli.py:2"
    ]
    assert found["api/ui"] == [
        "m3tr.app.api imports m3tr.app.ui: m3tr/app/api/routes.py:1: "
        "from m3tr.app.ui.handlers import results",
        "m3tr.app.ui imports m3tr.app.api: m3tr/app/ui/tab.py:1: from m3tr.app.api import uploads",
    ]
    assert sorted(found["core dependencies"]) == [
        "m3tr.core imports gradio: m3tr/core/b/z.py:1: import gradio",
        "m3tr.core imports m3tr.app: m3tr/core/b/z.py:2: from m3tr.app.settings import Settings",
    ]


def test_settings_is_a_leaf_unit_and_entry_points_are_allowed(tmp_path: Path) -> None:
    pkgs = ["m3tr", "m3tr/core", "m3tr/app", "m3tr/workers"]
    write(tmp_path, {f"{p}/__init__.py": "" for p in pkgs})
    write(
        tmp_path,
        {
            "m3tr/app/settings.py": "Settings = object\n",
            "m3tr/app/cli.py": "from m3tr.workers.enqueue import send\n",
            "m3tr/workers/enqueue.py": "from m3tr.app.settings import Settings\nsend = 1\n",
        },
    )
    assert not any(checker.check(tmp_path).values())
