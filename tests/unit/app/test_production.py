"""Production refuses to serve without a login unless told so explicitly; the README's settings
table lists exactly the settings of ``m3tr/app/settings.py``."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from m3tr.app.settings import Settings

REPO = Path(__file__).resolve().parents[3]


def test_production_without_login_is_refused() -> None:
    with pytest.raises(ValueError, match="M3TR_AUTH_USERNAME.*M3TR_ALLOW_NO_LOGIN"):
        Settings(environment="production").check_web_login()


def test_production_with_login_or_in_development_starts() -> None:
    Settings(environment="production", auth_username="ana", auth_password="s3cret!").check_web_login()
    Settings(environment="development").check_web_login()


def test_explicit_opt_out_is_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.CRITICAL, logger="m3tr.app.settings"):
        Settings(environment="production", allow_no_login=True).check_web_login()
    assert any(
        r.levelno == logging.CRITICAL and "WITHOUT LOGIN" in r.getMessage() for r in caplog.records
    )


def test_serve_exits_with_the_fix_in_production_without_login(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3TR_")}
    env.update(M3TR_HOME=str(tmp_path / "home"), M3TR_ENVIRONMENT="production")
    out = subprocess.run(
        [sys.executable, "-m", "m3tr.app.cli.main", "serve", "--port", "1"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 1, text[-2000:]
    assert "M3TR_ALLOW_NO_LOGIN=true" in text
    assert not (tmp_path / "home" / "m3tr.db").exists()  # refused before touching the workspace


def test_readme_settings_table_matches_settings() -> None:
    readme = (REPO / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `M3TR_")]
    documented = set(re.findall(r"`(M3TR_[A-Z0-9_]+)`", "\n".join(table)))
    declared = {f"M3TR_{name.upper()}" for name in Settings.model_fields}
    assert documented == declared, (
        f"missing from README: {sorted(declared - documented)}; "
        f"not settings: {sorted(documented - declared)}"
    )
