"""``m3tr models``: fetch the encoders of a profile for machines that cannot reach the hub."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from m3tr.app.cli.common import console, fail, settings
from m3tr.app.settings import ENCODER_ROLES

log = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)

# Weight formats transformers never loads here (the PyTorch weights are enough).
_IGNORE = ["*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "flax_model*", "tf_model*", "*.mlmodel"]


@app.command()
def pull(
    dest: Path | None = typer.Option(
        None, "--dest", help="Folder for the models (default: <M3TR_HOME>/models/encoders)."
    ),
    profile: str = typer.Option("paper", "--profile", help="Encoder profile whose models to get."),
    role: list[str] = typer.Option(
        [], "--role", help=f"Only these roles ({', '.join(ENCODER_ROLES)}); repeatable."
    ),
) -> None:
    """Download the profile's encoders at their pinned revisions into DEST/<role> and print the
    M3TR_ENCODER_MODELS that points at them (copy DEST to offline machines as it is)."""
    from m3tr.core.content.config import get_profile
    from m3tr.core.content.hub import (
        HubUnreachableError,
        check_hub,
        hub_endpoint,
        pinned_revision,
        write_manifest,
    )

    s = settings()
    try:
        prof = get_profile(profile)
    except ValueError as exc:
        fail(str(exc))
    unknown = sorted(set(role) - set(ENCODER_ROLES))
    if unknown:
        fail(f"--role {', '.join(unknown)}: unknown; use {', '.join(ENCODER_ROLES)}")
    wanted = {
        r: getattr(prof, field, None)
        for r, field in ENCODER_ROLES.items()
        if (not role or r in role) and getattr(prof, field, None)
    }
    if not wanted:
        fail(f"profile {profile!r} names no model to download (it runs without downloads)")
    try:
        check_hub()
    except HubUnreachableError as exc:
        fail(
            f"{exc}. `m3tr models pull` needs {hub_endpoint()} (or a mirror in HF_ENDPOINT): run "
            "it on a machine that reaches it, then copy the folder and set M3TR_ENCODER_MODELS"
        )
    from huggingface_hub import HfApi, snapshot_download

    endpoint = hub_endpoint()  # as checked above (huggingface_hub reads it only at import)
    api = HfApi(endpoint=endpoint)
    root = (dest or s.home / "models" / "encoders").expanduser().resolve()
    folders: dict[str, str] = {}
    for r, repo_id in wanted.items():
        info = api.model_info(repo_id, revision=pinned_revision(repo_id) or "main")
        revision = str(info.sha)
        files = [s.rfilename for s in info.siblings or []]
        ignore = _IGNORE + (["*.bin"] if any(f.endswith(".safetensors") for f in files) else [])
        target = root / r
        console.print(f"{r}: {repo_id}@{revision} -> {target}")
        snapshot_download(
            repo_id, revision=revision, local_dir=target, ignore_patterns=ignore, endpoint=endpoint
        )
        write_manifest(target, repo_id, revision)
        folders[r] = str(target)
    console.print("done. On the machines that embed content set:")
    typer.echo(f"M3TR_ENCODER_MODELS='{json.dumps(folders)}'")
