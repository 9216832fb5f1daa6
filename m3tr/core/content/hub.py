"""Where the paper profile's encoders come from: pinned hub revisions, a fast check that the hub
can be reached, the folders ``m3tr models pull`` writes, and the identity of a resolved model
(``id@revision``, or a fingerprint of a local folder) that the profile version is derived from.

Nothing here reads settings; the Hugging Face variables (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``)
are read from the environment as ``huggingface_hub`` reads them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

# Hub commits the paper profile loads. A hub id without a pin here loads ``main`` and is named
# ``id@main`` in the profile version; `m3tr models pull` records the commit it fetched.
PINNED_REVISIONS: dict[str, str] = {
    "google/vit-base-patch16-224-in21k": "1ba429d32753f33a0660b80ac6f43a3c80c18938",
    "Salesforce/blip2-opt-2.7b": "51572668da0eb669e01a189dc22abe6088589a24",
    "laion/clap-htsat-unfused": "8fa0f1c6d0433df6e97c127f64b2a1d6c0dcda8a",
}
# Written by `m3tr models pull` into each model folder: {"repo_id": ..., "revision": ...}.
MANIFEST = "m3tr-model.json"
# Seconds the hub gets to accept a connection before a download is declared impossible.
HUB_CONNECT_TIMEOUT_S = 3.0
# Bytes read from each end of a file to fingerprint a folder (weights differ everywhere).
_EDGE_BYTES = 1 << 16

PULL_HINT = (
    "run `m3tr models pull` on a machine that reaches the hub, copy the folder here and set "
    'M3TR_ENCODER_MODELS to it (the command prints the JSON), e.g. {"visual": "/models/visual"}'
)


class HubUnreachableError(RuntimeError):
    """The Hugging Face hub cannot be reached (offline mode, no route, no name resolution)."""


def pinned_revision(repo_id: str) -> str | None:
    return PINNED_REVISIONS.get(repo_id)


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_mode() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def check_hub(timeout_s: float = HUB_CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`HubUnreachableError` at once (at most ``timeout_s``) when no download can
    work: offline mode, or no TCP connection to the endpoint."""
    endpoint = hub_endpoint()
    if offline_mode():
        raise HubUnreachableError(f"HF_HUB_OFFLINE is set: nothing can be downloaded from {endpoint}")
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            return
    except OSError as exc:
        raise HubUnreachableError(
            f"the hub {endpoint} cannot be reached ({type(exc).__name__})"
        ) from exc


def read_manifest(folder: Path) -> dict[str, str] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return {"repo_id": str(data["repo_id"]), "revision": str(data["revision"])}


def write_manifest(folder: Path, repo_id: str, revision: str) -> Path:
    path = folder / MANIFEST
    path.write_text(json.dumps({"repo_id": repo_id, "revision": revision}, indent=2) + "\n")
    return path


def folder_fingerprint(folder: Path) -> str:
    """SHA-256 over every file's relative path, size and first and last 64 KiB: two checkpoints
    of one architecture differ in their weights, so they differ here, without reading GBs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with path.open("rb") as fh:  # small files whole, large ones by both ends
            digest.update(fh.read(_EDGE_BYTES))
            if size > _EDGE_BYTES:
                fh.seek(max(_EDGE_BYTES, size - _EDGE_BYTES))
                digest.update(fh.read())
    return digest.hexdigest()


def model_identity(name: str) -> str:
    """``id@revision`` for a hub id or a pulled folder, ``folder:<sha256>`` for any other
    local folder."""
    local = Path(name).expanduser()
    if local.is_dir():
        manifest = read_manifest(local)
        if manifest is not None:
            return f"{manifest['repo_id']}@{manifest['revision']}"
        return f"folder:{folder_fingerprint(local)}"
    return f"{name}@{pinned_revision(name) or 'main'}"


def same_model(a: str | None, b: str | None) -> bool:
    """True when both name the same model: a folder pulled at a commit is the hub id at it."""
    if a is None or b is None:
        return a is b
    return a == b or model_identity(a) == model_identity(b)


def derived_version(base_version: str, models: Mapping[str, str | None]) -> str:
    """``<base>+<12 hex>`` from the resolved identity of every model (role -> id or folder)."""
    parts = sorted(f"{role}={model_identity(m)}" for role, m in models.items() if m)
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    return f"{base_version.split('+', 1)[0]}+{digest}"
