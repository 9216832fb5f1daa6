"""``m3tr models pull`` fails at once, saying what to do, where the hub cannot be reached."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from m3tr.app.cli.main import app

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


class _FakeHub(ThreadingHTTPServer):
    """The two hub routes a snapshot download uses, serving one repository from a folder."""

    def __init__(self, repo_id: str, folder: Path) -> None:
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.repo_id, self.folder = repo_id, folder
        self.requested: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _HubHandler(BaseHTTPRequestHandler):
    server: _FakeHub

    def log_message(self, *args: object) -> None:
        pass

    def _file(self, head: bool) -> None:
        prefix = f"/{self.server.repo_id}/resolve/"
        if not self.path.startswith(prefix):
            return self._info()
        rev, _, name = self.path[len(prefix) :].partition("/")
        path = self.server.folder / name
        if not path.is_file():
            self.send_error(404)
            return None
        self.server.requested.append(name)
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("X-Repo-Commit", rev)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)
        return None

    def _info(self) -> None:
        api = f"/api/models/{self.server.repo_id}/"
        kind, _, rest = self.path.removeprefix(api).partition("/")
        if not self.path.startswith(api) or kind not in ("revision", "tree"):
            self.send_error(404)
            return
        rev = rest.split("?")[0]
        files = sorted(p for p in self.server.folder.iterdir() if p.is_file())
        if kind == "tree":
            listing: object = [
                {"type": "file", "path": f.name, "size": f.stat().st_size,
                 "oid": hashlib.sha1(f.read_bytes()).hexdigest()}
                for f in files
            ]  # fmt: skip
        else:
            siblings = [{"rfilename": f.name} for f in files]
            listing = {"id": self.server.repo_id, "sha": rev, "siblings": siblings}
        body = json.dumps(listing).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self._file(head=True)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._file(head=False)


def test_pull_writes_folders_that_load_and_version_like_the_hub_id(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import ViTModel

    from m3tr.core.content.config import PAPER_PROFILE
    from m3tr.core.content.hub import PINNED_REVISIONS, read_manifest
    from m3tr.core.content.loading import load_component
    from tests.unit.content.tiny_checkpoints import make_vit

    repo_id = PAPER_PROFILE.visual_model
    served = make_vit(tmp_path / "served")
    (served / "flax_model.msgpack").write_bytes(b"not for torch")  # never downloaded
    hub = _FakeHub(repo_id, served)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        dest = workspace / "enc"
        res = runner.invoke(app, ["models", "pull", "--role", "visual", "--dest", str(dest)])
    finally:
        hub.shutdown()
    assert res.exit_code == 0, res.output
    folder = dest / "visual"
    assert (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
    assert "flax_model.msgpack" not in hub.requested
    assert read_manifest(folder) == {"repo_id": repo_id, "revision": PINNED_REVISIONS[repo_id]}
    assert json.loads(res.stdout.split("M3TR_ENCODER_MODELS=")[1].strip().strip("'")) == {
        "visual": str(folder)
    }
    assert isinstance(load_component("visual", str(folder), ViTModel), ViTModel)
    assert (
        PAPER_PROFILE.with_overrides(visual_model=str(folder)).profile_version
        == PAPER_PROFILE.with_overrides(visual_model=repo_id).profile_version
    )
