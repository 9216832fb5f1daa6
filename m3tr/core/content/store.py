"""Feature store: per-video content tensors saved once per (video key, profile version), so
re-training never decodes again. One safetensors file per video (text fields in its metadata),
written to a temporary file and renamed into place: a reader sees the whole file or none.
No pickle anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from m3tr.core.content.features import ContentFeatures

logger = logging.getLogger(__name__)

_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_TENSORS = ("E_v", "E_a", "E_t", "R", "frame_times")
FORMAT_VERSION = "1"


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _KEY_RE.match(value) or ".." in value:
        raise ValueError(
            f"feature store {kind} {value!r} must be 1-128 characters of letters, digits, '_', '.', '-'"
        )
    return value


def write_safetensors_atomic(
    target: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]
) -> Path:
    """Write a safetensors file so that readers see the old file or the whole new one, never
    half of it (temporary file in the same folder, then ``os.replace``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


TEXT_FIT_FILE = "_fit/text.safetensors"


class FeatureStore:
    """Folder of ``<root>/<profile_version>/<key>.safetensors`` files.

    A profile whose text encoder is fitted (``lite``) keeps that fit with its version, in
    ``<root>/<profile_version>/_fit/text.safetensors``, and ``<root>/<base version>.current``
    names the fitted version in use (what the service embeds new videos with).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str, profile_version: str) -> Path:
        """Where the features of ``key`` for ``profile_version`` live."""
        return (
            self.root
            / _check_name("profile version", profile_version)
            / (_check_name("key", str(key)) + ".safetensors")
        )

    def text_fit_path(self, profile_version: str) -> Path:
        """Where the fitted text encoder of ``profile_version`` is kept."""
        return self.root / _check_name("profile version", profile_version) / TEXT_FIT_FILE

    def current_version(self, base_version: str) -> str | None:
        """The fitted profile version in use for ``base_version`` (``None``: none fitted yet)."""
        path = self.root / (_check_name("profile version", base_version) + ".current")
        if not path.is_file():
            return None
        value = path.read_text(encoding="utf-8").strip()
        return _check_name("profile version", value) if value else None

    def set_current_version(self, base_version: str, profile_version: str) -> None:
        """Make ``profile_version`` (fitted from ``base_version``) the one in use (atomic)."""
        _check_name("profile version", profile_version)
        if not self.text_fit_path(profile_version).is_file():
            raise ValueError(f"profile version {profile_version!r} has no stored text fit")
        target = self.root / (_check_name("profile version", base_version) + ".current")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(profile_version + "\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def has(self, key: str, profile_version: str) -> bool:
        return self.path(key, profile_version).is_file()

    def put(self, key: str, profile_version: str, features: ContentFeatures) -> Path:
        """Validate and write atomically (temporary file + rename). Returns the file's path.

        Raises:
            ValueError: features invalid, or made by another profile version.
        """
        if features.profile_version != profile_version:
            raise ValueError(
                f"features of {key!r} were made by profile {features.profile_version!r}, "
                f"not {profile_version!r}: vectors of different profiles never mix"
            )
        features.validate()
        target = self.path(key, profile_version)
        target.parent.mkdir(parents=True, exist_ok=True)
        tensors = {
            "E_v": np.ascontiguousarray(features.E_v, dtype=np.float32),
            "E_a": np.ascontiguousarray(features.E_a, dtype=np.float32),
            "E_t": np.ascontiguousarray(features.E_t, dtype=np.float32),
            "R": np.ascontiguousarray(features.R, dtype=np.float32),
            "frame_times": np.ascontiguousarray(features.frame_times, dtype=np.float64),
        }
        meta = {
            "format": FORMAT_VERSION,
            "key": str(key),
            "profile": features.profile,
            "profile_version": features.profile_version,
            "has_video": json.dumps(features.has_video),
            "has_audio": json.dumps(features.has_audio),
            "captions": features.captions,
            "text": features.text,
        }
        return write_safetensors_atomic(target, tensors, meta)

    def get(self, key: str, profile_version: str) -> ContentFeatures:
        """Read features back.

        Raises:
            KeyError: nothing stored for (key, profile_version).
            ValueError: the file is not a valid feature file.
        """
        path = self.path(key, profile_version)
        if not path.is_file():
            raise KeyError(
                f"no content features for video {key!r} under profile {profile_version!r}"
            )
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                arrays = {name: f.get_tensor(name) for name in _TENSORS}
            feats = ContentFeatures(
                **arrays,
                captions=meta["captions"],
                text=meta["text"],
                has_video=json.loads(meta["has_video"]),
                has_audio=json.loads(meta["has_audio"]),
                profile=meta["profile"],
                profile_version=meta["profile_version"],
            )
        except (KeyError, OSError, ValueError, SafetensorError) as exc:
            raise ValueError(f"{path}: not a valid feature file ({exc})") from exc
        if feats.profile_version != profile_version:
            raise ValueError(
                f"{path}: holds profile {feats.profile_version!r}, not {profile_version!r}"
            )
        return feats

    def keys(self, profile_version: str) -> list[str]:
        """Keys stored for a profile version (sorted)."""
        folder = self.root / _check_name("profile version", profile_version)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.safetensors") if not p.name.startswith("."))

    def delete(self, key: str, profile_version: str) -> bool:
        """Remove one entry; True if it existed."""
        path = self.path(key, profile_version)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed
