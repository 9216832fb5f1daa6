"""Audio: decode a file's soundtrack to mono float32 at a fixed rate, cut segments aligned with
key-frame times, and compute log-mel spectrograms (pure numpy, no torchaudio/librosa needed).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import av
import numpy as np

logger = logging.getLogger(__name__)


def decode_audio_stream(
    container: av.container.InputContainer, sample_rate: int
) -> tuple[np.ndarray, float]:
    """Decode the first audio stream of an open container, resampled to mono ``sample_rate``.

    Returns:
        samples: (N,) float32 in [-1, 1].
        start_s: presentation time (seconds) of the first sample.
    Raises:
        av.FFmpegError: if the stream cannot be decoded (the caller decides what that means).
    """
    stream = container.streams.audio[0]
    stream.thread_type = "AUTO"
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    start_s: float | None = None
    for frame in container.decode(stream):
        if start_s is None:
            start_s = float(frame.time) if frame.time is not None else 0.0
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray()[0])  # (n,)
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray()[0])
    if not chunks:
        return np.zeros(0, dtype=np.float32), 0.0
    samples = np.concatenate(chunks).astype(np.float32, copy=False)  # (N,)
    return samples, float(start_s or 0.0)


def segment_bounds(times: np.ndarray, duration_s: float, max_segment_s: float) -> np.ndarray:
    """Audio segments centred on each key-frame time, tiling the duration.

    Args:
        times: (K,) key-frame times in seconds.
        duration_s: media duration; each segment is ``min(duration/K, max_segment_s)`` long.
    Returns:
        (K, 2) float64 [start, end) seconds.
    """
    k = len(times)
    length = min(max(duration_s, 1e-3) / max(k, 1), max_segment_s)
    half = length / 2.0
    return np.stack([times - half, times + half], axis=1)  # (K, 2)


def cut_segments(
    samples: np.ndarray, start_s: float, bounds: np.ndarray, sample_rate: int
) -> np.ndarray:
    """Cut equal-length segments out of a mono signal; parts outside the signal are zeros.

    Args:
        samples: (N,) float32 mono.
        start_s: time of ``samples[0]``.
        bounds: (K, 2) [start, end) seconds, all of the same length.
    Returns:
        (K, S) float32, S = round(segment length * sample_rate) (at least 1).
    """
    seg_len = max(1, int(round((bounds[0, 1] - bounds[0, 0]) * sample_rate)))
    out = np.zeros((len(bounds), seg_len), dtype=np.float32)  # (K, S)
    for i, (lo, _hi) in enumerate(bounds):
        a = int(round((lo - start_s) * sample_rate))
        src_lo, src_hi = max(a, 0), min(a + seg_len, len(samples))
        if src_hi > src_lo:
            out[i, src_lo - a : src_hi - a] = samples[src_lo:src_hi]
    return out


@lru_cache(maxsize=8)
def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int) -> np.ndarray:
    """HTK-style triangular mel filters, (n_mels, n_fft // 2 + 1) float32."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    n_bins = n_fft // 2 + 1
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_bins)  # (F,)
    mel_pts = np.linspace(
        hz_to_mel(np.array(20.0)), hz_to_mel(np.array(sample_rate / 2.0)), n_mels + 2
    )
    hz_pts = mel_to_hz(mel_pts)  # (n_mels + 2,)
    lower, centre, upper = hz_pts[:-2, None], hz_pts[1:-1, None], hz_pts[2:, None]
    up = (fft_freqs[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    down = (upper - fft_freqs[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)  # (n_mels, F)


def log_mel(
    segments: np.ndarray,
    sample_rate: int,
    n_mels: int = 32,
    win_s: float = 0.025,
    hop_s: float = 0.010,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel spectrogram of each segment (Hann window, power spectrum).

    Args:
        segments: (K, S) float32 mono.
    Returns:
        logmel: (K, T, n_mels) float32, natural log of (mel power + 1e-10).
        power: (K, T, F) float32 power spectrum (for spectral statistics).
    """
    n_win = max(16, int(round(win_s * sample_rate)))
    hop = max(1, int(round(hop_s * sample_rate)))
    n_fft = 1 << (n_win - 1).bit_length()
    k, s = segments.shape
    if s < n_win:
        segments = np.pad(segments, ((0, 0), (0, n_win - s)))
        s = n_win
    n_frames = 1 + (s - n_win) // hop
    idx = np.arange(n_win)[None, :] + hop * np.arange(n_frames)[:, None]  # (T, W)
    frames = segments[:, idx] * np.hanning(n_win).astype(np.float32)  # (K, T, W)
    spec = np.fft.rfft(frames, n=n_fft, axis=-1)  # (K, T, F)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)  # (K, T, F)
    mel = power @ mel_filterbank(n_fft, n_mels, sample_rate).T  # (K, T, n_mels)
    return np.log(mel + 1e-10).astype(np.float32), power


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling along the last axis (e.g. 16 kHz -> 48 kHz for CLAP). (..., N) -> (..., M)."""
    if rate_in == rate_out:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(samples, rate_out // g, rate_in // g, axis=-1).astype(np.float32)
