"""A thumbnail of a video (one frame, rotation applied, downscaled) for the UI."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np

from m3tr.core.content.config import DecodeConfig
from m3tr.core.content.decode import decode_clip
from m3tr.core.content.errors import DecodeError


def thumbnail_array(path: str | Path, max_side: int = 320) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame from the middle of the video.

    Raises:
        DecodeError: not a decodable video (audio-only files have no thumbnail).
    """
    clip = decode_clip(path, DecodeConfig(num_frames=1, max_side=max_side, motion_pair=False))
    if clip.frames is None:
        raise DecodeError(path, "no video stream, so no thumbnail")
    return clip.frames[0]


def extract_thumbnail(
    path: str | Path, max_side: int = 320, fmt: Literal["JPEG", "PNG"] = "JPEG"
) -> bytes:
    """Encoded JPEG or PNG bytes of :func:`thumbnail_array`."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(thumbnail_array(path, max_side)).save(buf, format=fmt)
    return buf.getvalue()
