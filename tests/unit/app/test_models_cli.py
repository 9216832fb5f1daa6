"""``m3tr models pull`` fails at once, saying what to do, where the hub cannot be reached."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app

runner = CliRunner()


def test_pull_without_a_hub_fails_at_once(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    res = runner.invoke(app, ["models", "pull", "--dest", str(workspace / "enc")])
    assert time.monotonic() - start < 10
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and endpoint in out and "M3TR_ENCODER_MODELS" in out, out
    assert not (workspace / "enc").exists()


def test_pull_rejects_an_unknown_role(workspace: Path) -> None:
    res = runner.invoke(app, ["models", "pull", "--role", "smell"])
    assert res.exit_code == 1 and "smell" in res.output
