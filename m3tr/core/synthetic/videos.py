"""Procedural short videos (PyAV): tiny clips with a moving shape and a sine-tone audio track.

Used by the load test, the ingestion benchmark and demos that need many real, decodable media
files without shipping any. Every clip is fully determined by its :class:`ClipSpec`, so a corpus
is reproducible from a seed (:func:`random_specs`), and clips that share a ``style`` look and
sound alike (same palette, motion and pitch range), which gives content retrieval something real
to find.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

log = logging.getLogger(__name__)

# (background RGB, shape RGB, base pitch Hz, speed px/s): the look and sound of each style.
STYLES: tuple[tuple[tuple[int, int, int], tuple[int, int, int], float, float], ...] = (
    ((20, 30, 120), (250, 220, 40), 220.0, 20.0),  # dark blue, yellow square, low tone, slow
    ((200, 40, 40), (255, 255, 255), 440.0, 60.0),  # red, white square, mid tone, fast
    ((30, 140, 60), (40, 20, 10), 880.0, 35.0),  # green, dark square, high tone
    ((230, 230, 230), (10, 10, 10), 330.0, 90.0),  # light grey, black square, very fast
)


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines one clip.

    Attributes:
        name: file stem.
        style: index into :data:`STYLES` (palette, pitch, speed).
        seconds: duration; fps: frame rate; size: width = height in pixels (even).
        tone_hz: audio sine frequency (0 = silent track); sample_rate: audio rate (Hz).
        phase: start position of the moving square, in [0, 1).
        with_audio: write an audio stream at all.
    """

    name: str
    style: int = 0
    seconds: float = 1.5
    fps: int = 12
    size: int = 64
    tone_hz: float = 440.0
    sample_rate: int = 16_000
    phase: float = 0.0
    with_audio: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.style < len(STYLES):
            raise ValueError(f"ClipSpec.style must be in [0, {len(STYLES)}), got {self.style}")
        if self.seconds <= 0 or self.fps <= 0:
            raise ValueError("ClipSpec.seconds and ClipSpec.fps must be > 0")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"ClipSpec.size must be an even number >= 16, got {self.size}")


def render_frames(spec: ClipSpec) -> np.ndarray:
    """The clip's pictures: (T, size, size, 3) uint8 RGB, a square bouncing across a background."""
    bg, fg, _, speed = STYLES[spec.style]
    n = max(1, int(round(spec.seconds * spec.fps)))
    s = spec.size
    side = s // 4
    frames = np.empty((n, s, s, 3), dtype=np.uint8)  # (T, H, W, 3)
    frames[:] = np.asarray(bg, dtype=np.uint8)
    travel = s - side
    for i in range(n):
        pos = (spec.phase * travel + speed * i / spec.fps) % (2 * travel)
        x = int(pos if pos < travel else 2 * travel - pos)
        y = int((s - side) * (0.5 + 0.4 * math.sin(2 * math.pi * i / n)))
        frames[i, y : y + side, x : x + side] = fg
    return frames


def render_audio(spec: ClipSpec) -> np.ndarray:
    """The clip's sound: (1, S) float32 mono in [-0.5, 0.5], a sine at ``tone_hz``."""
    n = int(round(spec.seconds * spec.sample_rate))
    t = np.arange(n, dtype=np.float64) / spec.sample_rate  # (S,)
    wave = 0.4 * np.sin(2 * math.pi * spec.tone_hz * t) if spec.tone_hz > 0 else np.zeros(n)
    return wave.astype(np.float32)[None, :]  # (1, S)


def write_clip(spec: ClipSpec, path: str | Path) -> Path:
    """Encode ``spec`` as an H.264 + AAC MP4 at ``path`` (written atomically). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        _encode(spec, Path(tmp_name))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _encode(spec: ClipSpec, path: Path) -> None:
    frames = render_frames(spec)  # (T, H, W, 3)
    with av.open(str(path), mode="w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=spec.fps)
        vs.width = vs.height = spec.size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast", "tune": "zerolatency"}
        aus = None
        if spec.with_audio:
            aus = out.add_stream("aac", rate=spec.sample_rate)
            aus.layout = "mono"
        for img in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is not None:
            samples = render_audio(spec)  # (1, S)
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                piece = np.ascontiguousarray(samples[:, start : start + chunk])  # (1, c)
                frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
                frame.sample_rate = spec.sample_rate
                frame.pts = start
                frame.time_base = Fraction(1, spec.sample_rate)
                for packet in aus.encode(frame):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)


def random_specs(n: int, seed: int = 0, prefix: str = "synth") -> list[ClipSpec]:
    """``n`` varied clip specs, reproducible from ``seed``; names ``<prefix>_<i:05d>``."""
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(n):
        style = int(rng.integers(len(STYLES)))
        base_hz = STYLES[style][2]
        specs.append(
            ClipSpec(
                name=f"{prefix}_{i:05d}",
                style=style,
                seconds=float(rng.uniform(1.0, 2.0)),
                tone_hz=float(base_hz * rng.uniform(0.9, 1.1)),
                phase=float(rng.uniform()),
            )
        )
    return specs


def write_corpus(specs: Sequence[ClipSpec], folder: str | Path) -> list[Path]:
    """Write every spec as ``<folder>/<name>.mp4``; returns the paths in order."""
    folder = Path(folder)
    paths = [write_clip(spec, folder / f"{spec.name}.mp4") for spec in specs]
    log.info("wrote %d synthetic clips to %s", len(paths), folder)
    return paths
