"""Per-video temporal vectors between the ``embed_temporal`` and ``upsert_vectors`` steps.

One safetensors file per (video, temporal source): ``<root>/temporal/<tag>/<video_id>.safetensors``
holding ``vector`` (d_s,) and, for MHP signatures, ``signature`` X^s (L, d). Written to a
temporary file and renamed, so a reader sees a whole file or none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open

from m3tr.core.content.store import write_safetensors_atomic

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,127}$")


@dataclass(frozen=True)
class TemporalVector:
    """A video's trajectory vector.

    Attributes:
        vector: (d_s,) float32, the retrieval vector (mean-pooled X^s, or the stand-in).
        signature: (L, d) float32 X^s, or None for the stand-in.
        source: ``"mhp"`` (signature of an MHP model version) or ``"eventbins"`` (cold start:
            no active temporal model, the log-binned stand-in).
        tag: folder name; the bank profile suffix for stand-ins, the model version for MHP.
        model_version_id: the MHP model version, None for the stand-in.
        cold_start: nothing was observed: the MHP signature comes from the baseline intensity
            alone (kept for the fused model; retrieval treats it as no trajectory).
    """

    vector: np.ndarray
    signature: np.ndarray | None
    source: str
    tag: str
    model_version_id: int | None = None
    cold_start: bool = False

    @property
    def for_retrieval(self) -> np.ndarray | None:
        """The vector to retrieve with, or None for a cold start (content-only retrieval)."""
        return None if self.cold_start else self.vector


def _path(root: Path, tag: str, video_id: int) -> Path:
    if not _TAG_RE.match(tag):
        raise ValueError(f"temporal tag {tag!r}: letters, digits, '_', '.', '+', '-' only")
    return root / "temporal" / tag / f"{int(video_id)}.safetensors"


def save_temporal(root: Path, video_id: int, tv: TemporalVector) -> Path:
    """Write ``tv`` atomically; returns its path."""
    target = _path(root, tv.tag, video_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"vector": np.ascontiguousarray(tv.vector, dtype=np.float32)}
    if tv.signature is not None:
        tensors["signature"] = np.ascontiguousarray(tv.signature, dtype=np.float32)
    meta = {
        "source": tv.source,
        "model_version_id": json.dumps(tv.model_version_id),
        "cold_start": json.dumps(tv.cold_start),
    }
    return write_safetensors_atomic(target, tensors, meta)


def load_temporal(root: Path, tag: str, video_id: int) -> TemporalVector | None:
    """The stored vector of ``video_id`` under ``tag``, or None if there is none."""
    path = _path(root, tag, video_id)
    if not path.is_file():
        return None
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        names = set(f.keys())
        vector = f.get_tensor("vector")
        signature = f.get_tensor("signature") if "signature" in names else None
    return TemporalVector(
        vector=vector,
        signature=signature,
        source=meta.get("source", "unknown"),
        tag=tag,
        model_version_id=json.loads(meta.get("model_version_id", "null")),
        cold_start=json.loads(meta.get("cold_start", "false")),
    )


def delete_temporal(root: Path, tag: str, video_id: int) -> None:
    _path(root, tag, video_id).unlink(missing_ok=True)
