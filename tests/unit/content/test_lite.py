"""Lite descriptors respond to what they claim to measure."""

from __future__ import annotations

import numpy as np

from m3tr.core.content import lite
from m3tr.core.content.audioset_labels import AUDIOSET_LABELS

V = {n: i for i, n in enumerate(lite.VISUAL_FEATURE_NAMES)}
A = {n: i for i, n in enumerate(lite.AUDIO_FEATURE_NAMES)}


def _solid(rgb: tuple[int, int, int], k: int = 3, size: int = 32) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (k, size, size, 3)).copy()


def test_shapes_and_names() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)
    v = lite.visual_descriptors(frames, frames)
    assert v.shape == (4, lite.D_VISUAL) and v.dtype == np.float32 and np.isfinite(v).all()
    a = lite.audio_descriptors(np.zeros((4, 1600), np.float32), 16_000)
    assert a.shape == (4, lite.D_AUDIO) and a.dtype == np.float32 and np.isfinite(a).all()
    assert len(AUDIOSET_LABELS) == 527 and AUDIOSET_LABELS[0] == "Speech"


def test_colour_brightness_and_hue() -> None:
    bright_blue = lite.visual_descriptors(_solid((40, 60, 250)))
    dark_grey = lite.visual_descriptors(_solid((30, 30, 30)))
    assert bright_blue[0, V["val_mean"]] > 0.9 and dark_grey[0, V["val_mean"]] < 0.15
    assert bright_blue[0, V["sat_mean"]] > 0.7 and dark_grey[0, V["sat_mean"]] < 0.01
    assert bright_blue[0, V["hue_hist_blue"]] > 0.9
    text = lite.describe(bright_blue, None, has_video=True, has_audio=False)
    assert "bright" in text and "blue" in text and "silent" in text
    assert "dark" in lite.describe(dark_grey, None, True, False)


def test_texture_and_motion() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    flat = _solid((128, 128, 128), k=2)
    assert lite.visual_descriptors(noise)[0, V["edge_density"]] > 0.5
    assert lite.visual_descriptors(flat)[0, V["edge_density"]] == 0.0
    still = lite.visual_descriptors(noise, noise)
    moving = lite.visual_descriptors(noise, 255 - noise)
    assert still[0, V["motion_next"]] == 0.0 and moving[0, V["motion_next"]] > 0.2


def test_audio_loudness_and_pitch() -> None:
    t = np.arange(16_000) / 16_000
    low = (0.5 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)[None]
    high = (0.5 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32)[None]
    quiet = (0.001 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)[None]
    f_low, f_high, f_quiet = (lite.audio_descriptors(x, 16_000) for x in (low, high, quiet))
    assert f_high[0, A["spectral_centroid"]] > f_low[0, A["spectral_centroid"]] + 0.2
    assert f_low[0, A["rms_db"]] > f_quiet[0, A["rms_db"]] + 2.0  # stored as dB / 20
    assert "loud" in lite.describe(None, f_low, has_video=False, has_audio=True)
    assert "quiet" in lite.describe(None, f_quiet, has_video=False, has_audio=True)
