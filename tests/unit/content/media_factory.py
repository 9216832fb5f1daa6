"""Build small synthetic media files with PyAV for decoding tests (known content per time)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(
    path: Path,
    n_frames: int = 30,
    size: tuple[int, int] = (64, 48),
    fps: int = 10,
    audio_s: float | None = None,
    audio_rate: int = 44_100,
    rotation: int | None = None,
    codec: str = "mpeg4",
    frame_fn=None,
) -> Path:
    """Video whose frame i has brightness 255*i/(n-1) (or ``frame_fn(i) -> (H, W, 3) uint8``);
    audio (when ``audio_s``) is a 440 Hz tone whose amplitude rises linearly from 0 to 0.8.
    """
    w, h = size
    with av.open(str(path), mode="w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if rotation is not None:
            vs.set_display_rotation(rotation)
        aus = None
        if audio_s:
            aus = out.add_stream("aac", rate=audio_rate)
            aus.layout = "mono"
        for i in range(n_frames):
            if frame_fn is not None:
                img = frame_fn(i)
            else:
                level = int(round(255 * i / max(n_frames - 1, 1)))
                img = np.full((h, w, 3), level, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is not None:
            _write_ramp_audio(out, aus, audio_s, audio_rate)
    return path


def ramp_signal(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.8 * t / seconds * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _write_ramp_audio(out, aus, seconds: float, rate: int) -> None:
    signal = ramp_signal(seconds, rate)
    n = 1024
    for start in range(0, len(signal), n):
        chunk = signal[start : start + n]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in aus.encode(frame):
            out.mux(packet)
    for packet in aus.encode():
        out.mux(packet)


def write_audio_only(path: Path, seconds: float = 2.0, rate: int = 44_100) -> Path:
    with av.open(str(path), mode="w") as out:
        aus = out.add_stream("aac", rate=rate)
        aus.layout = "mono"
        _write_ramp_audio(out, aus, seconds, rate)
    return path
