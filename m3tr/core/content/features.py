"""Per-video content features: what the fusion model and the memory bank read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class VideoInput:
    """One video to embed.

    Attributes:
        key: feature-store key (the video's id as a string).
        media_path: the media file, or ``None`` for text-only items (e.g. CED Weibo posts).
        title, description: text metadata.
    """

    key: str
    media_path: str | Path | None
    title: str = ""
    description: str = ""


@dataclass
class ContentFeatures:
    """Content tensors of one video (paper §3.3, App. E).

    Attributes:
        E_v: (K, d_v) float32 visual embedding per key frame; zeros where ``has_video`` is False.
        E_a: (K, d_a) float32 audio embedding per aligned segment; zeros where ``has_audio`` is False.
        E_t: (n_w, d_t) float32 token embeddings of title and description.
        R: (d_r,) float32 unified semantic vector, L2-normalised.
        frame_times: (K,) float64 key-frame times in seconds (zeros without video).
        captions: generated captions (BLIP-2 + CLAP tags, or the lite description).
        text: the full text that was embedded into R.
        has_video, has_audio: which modalities are real (the rest is zero-filled).
        profile: profile name (``lite``/``paper``); profile_version: e.g. ``lite-v2.<fit id>``.
    """

    E_v: np.ndarray
    E_a: np.ndarray
    E_t: np.ndarray
    R: np.ndarray
    frame_times: np.ndarray
    captions: str
    text: str
    has_video: bool
    has_audio: bool
    profile: str
    profile_version: str

    @property
    def num_frames(self) -> int:
        return int(self.E_v.shape[0])

    @property
    def video_mask(self) -> np.ndarray:
        """(K,) bool: True where E_v rows are real."""
        return np.full(self.num_frames, self.has_video)

    @property
    def audio_mask(self) -> np.ndarray:
        """(K,) bool: True where E_a rows are real."""
        return np.full(self.E_a.shape[0], self.has_audio)

    def validate(self) -> None:
        """Raise ValueError naming the field whose shape, dtype or values are wrong."""
        checks = (
            ("E_v", self.E_v, 2),
            ("E_a", self.E_a, 2),
            ("E_t", self.E_t, 2),
            ("R", self.R, 1),
        )
        for name, arr, ndim in checks:
            if not isinstance(arr, np.ndarray) or arr.ndim != ndim or arr.dtype != np.float32:
                raise ValueError(
                    f"ContentFeatures.{name}: expected a {ndim}-d float32 array, got "
                    f"{getattr(arr, 'dtype', type(arr))} {getattr(arr, 'shape', '')}"
                )
            if not np.isfinite(arr).all():
                raise ValueError(f"ContentFeatures.{name}: contains NaN or infinity")
        if self.E_v.shape[0] != self.E_a.shape[0] or self.frame_times.shape != (self.E_v.shape[0],):
            raise ValueError(
                f"ContentFeatures: E_v {self.E_v.shape}, E_a {self.E_a.shape} and frame_times "
                f"{self.frame_times.shape} disagree on K"
            )
        if self.E_t.shape[0] < 1:
            raise ValueError("ContentFeatures.E_t: needs at least one token")
        norm = float(np.linalg.norm(self.R))
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f"ContentFeatures.R: not L2-normalised (norm {norm:.4f})")
        if not self.has_video and np.any(self.E_v):
            raise ValueError("ContentFeatures.E_v: must be zeros when has_video is False")
        if not self.has_audio and np.any(self.E_a):
            raise ValueError("ContentFeatures.E_a: must be zeros when has_audio is False")
