"""The ``lite`` profile's honest, cheap content descriptors (no model download).

Visual, per key frame (46 values): colour statistics, hue and brightness histograms,
colourfulness, a 2x2 luma layout, texture (gradients, edges, sharpness, orientations) and motion
(change to the next frame, change since the previous key frame).
Audio, per aligned segment (70 values): log-mel means and deviations over time plus loudness,
zero-crossing rate, spectral centroid, flatness, flux and the share of loud frames.
``describe`` turns them into a short phrase ("bright, saturated, mostly blue, fast motion; loud
audio") that stands in for the paper's BLIP-2/CLAP captions.
"""

from __future__ import annotations

import numpy as np

from m3tr.core.content.audio import log_mel

N_MELS = 32
HUE_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")

VISUAL_FEATURE_NAMES: tuple[str, ...] = (
    *(f"rgb_mean_{c}" for c in "rgb"),
    *(f"rgb_std_{c}" for c in "rgb"),
    "sat_mean",
    "sat_std",
    "val_mean",
    "val_std",
    *(f"hue_hist_{h}" for h in HUE_NAMES),
    *(f"luma_hist_{i}" for i in range(8)),
    "colourfulness",
    *(f"luma_grid_{i}" for i in range(4)),
    "grad_mean",
    "grad_std",
    "edge_density",
    "sharpness",
    *(f"orient_hist_{i}" for i in range(8)),
    "motion_next",
    "motion_changed_share",
    "change_since_prev_key",
)
AUDIO_FEATURE_NAMES: tuple[str, ...] = (
    *(f"logmel_mean_{i}" for i in range(N_MELS)),
    *(f"logmel_std_{i}" for i in range(N_MELS)),
    "rms_db",
    "zero_crossing_rate",
    "spectral_centroid",
    "spectral_flatness",
    "spectral_flux",
    "loud_share",
)
D_VISUAL = len(VISUAL_FEATURE_NAMES)
D_AUDIO = len(AUDIO_FEATURE_NAMES)
_IDX_V = {n: i for i, n in enumerate(VISUAL_FEATURE_NAMES)}
_IDX_A = {n: i for i, n in enumerate(AUDIO_FEATURE_NAMES)}


def _luma(img: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) float in [0, 1] -> (..., H, W) Rec.601 luma."""
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def _hsv(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, H, W, 3) float RGB -> hue in [0, 1), saturation, value; each (K, H, W)."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    mx, mn = img.max(-1), img.min(-1)
    delta = mx - mn
    safe = np.where(delta > 1e-6, delta, 1.0)
    hue = np.where(
        mx == r,
        ((g - b) / safe) % 6.0,
        np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    hue = np.where(delta > 1e-6, hue / 6.0, 0.0)
    sat = np.where(mx > 1e-6, delta / np.where(mx > 1e-6, mx, 1.0), 0.0)
    return hue, sat, mx


def _hist(values: np.ndarray, weights: np.ndarray | None, bins: int) -> np.ndarray:
    """Per-row normalised histogram over [0, 1). values: (K, N) -> (K, bins)."""
    idx = np.clip((values * bins).astype(np.int64), 0, bins - 1)  # (K, N)
    w = np.ones_like(values) if weights is None else weights
    out = np.zeros((values.shape[0], bins), dtype=np.float64)
    for k in range(values.shape[0]):
        out[k] = np.bincount(idx[k], weights=w[k], minlength=bins)
    return out / np.maximum(out.sum(1, keepdims=True), 1e-9)


def visual_descriptors(frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
    """Colour, texture and motion descriptors per key frame.

    Args:
        frames: (K, H, W, 3) uint8 RGB key frames.
        next_frames: (K, H, W, 3) uint8, the frame right after each key frame (motion);
            ``None`` gives zero motion.
    Returns:
        (K, D_VISUAL) float32.
    """
    x = frames.astype(np.float32) / 255.0  # (K, H, W, 3)
    k, h, w, _ = x.shape
    flat = x.reshape(k, -1, 3)  # (K, N, 3)
    hue, sat, val = _hsv(x)  # (K, H, W) each
    y = _luma(x)  # (K, H, W)

    rg = flat[..., 0] - flat[..., 1]
    yb = 0.5 * (flat[..., 0] + flat[..., 1]) - flat[..., 2]
    colourful = np.sqrt(rg.std(1) ** 2 + yb.std(1) ** 2) + 0.3 * np.sqrt(
        rg.mean(1) ** 2 + yb.mean(1) ** 2
    )  # (K,)
    hh, hw = max(h // 2, 1), max(w // 2, 1)
    grid = np.stack(
        [
            y[:, :hh, :hw].mean((1, 2)),
            y[:, :hh, hw:].mean((1, 2)) if w > 1 else y.mean((1, 2)),
            y[:, hh:, :hw].mean((1, 2)) if h > 1 else y.mean((1, 2)),
            y[:, hh:, hw:].mean((1, 2)) if h > 1 and w > 1 else y.mean((1, 2)),
        ],
        axis=1,
    )  # (K, 4)

    gy, gx = np.gradient(y, axis=(1, 2)) if min(h, w) > 1 else (np.zeros_like(y), np.zeros_like(y))
    mag = np.sqrt(gx**2 + gy**2)  # (K, H, W)
    lap = np.zeros_like(y)
    if min(h, w) > 2:
        lap[:, 1:-1, 1:-1] = (
            y[:, :-2, 1:-1]
            + y[:, 2:, 1:-1]
            + y[:, 1:-1, :-2]
            + y[:, 1:-1, 2:]
            - 4 * y[:, 1:-1, 1:-1]
        )
    orient = (np.arctan2(gy, gx) % np.pi) / np.pi  # (K, H, W) in [0, 1)

    if next_frames is not None:
        y_next = _luma(next_frames.astype(np.float32) / 255.0)  # (K, H, W)
        diff = np.abs(y_next - y)
        motion, changed = diff.mean((1, 2)), (diff > 0.05).mean((1, 2))
    else:
        motion = changed = np.zeros(k)
    since_prev = np.zeros(k)
    if k > 1:
        since_prev[1:] = np.abs(y[1:] - y[:-1]).mean((1, 2))

    feats = np.concatenate(
        [
            flat.mean(1),
            flat.std(1),
            np.stack([sat.mean((1, 2)), sat.std((1, 2)), val.mean((1, 2)), val.std((1, 2))], 1),
            _hist(hue.reshape(k, -1), (sat * val).reshape(k, -1), 8),
            _hist(y.reshape(k, -1), None, 8),
            colourful[:, None],
            grid,
            np.stack(
                [
                    mag.mean((1, 2)),
                    mag.std((1, 2)),
                    (mag > 0.1).mean((1, 2)),
                    np.abs(lap).mean((1, 2)),
                ],
                1,
            ),
            _hist(orient.reshape(k, -1), mag.reshape(k, -1), 8),
            np.stack([motion, changed, since_prev], 1),
        ],
        axis=1,
    )  # (K, D_VISUAL)
    return feats.astype(np.float32)


def audio_descriptors(segments: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel statistics and simple spectral measures per aligned audio segment.

    Args:
        segments: (K, S) float32 mono.
    Returns:
        (K, D_AUDIO) float32.
    """
    lm, power = log_mel(segments, sample_rate, n_mels=N_MELS)  # (K, T, M), (K, T, F)
    rms = np.sqrt((segments.astype(np.float64) ** 2).mean(1) + 1e-12)  # (K,)
    rms_db = 20 * np.log10(rms)
    signs = np.signbit(segments)
    zcr = (
        (signs[:, 1:] != signs[:, :-1]).mean(1)
        if segments.shape[1] > 1
        else np.zeros(len(segments))
    )
    freqs = np.linspace(0.0, 1.0, power.shape[-1])  # fraction of Nyquist, (F,)
    p_sum = power.sum(-1) + 1e-12  # (K, T)
    centroid = ((power * freqs).sum(-1) / p_sum).mean(1)  # (K,)
    flatness = (np.exp(np.log(power + 1e-12).mean(-1)) / (power.mean(-1) + 1e-12)).mean(1)
    mag = np.sqrt(power)
    flux = (
        np.sqrt((np.diff(mag, axis=1).clip(min=0) ** 2).sum(-1)).mean(1)
        if mag.shape[1] > 1
        else np.zeros(len(segments))
    )
    frame_db = 10 * np.log10(p_sum / power.shape[-1] + 1e-12)  # (K, T)
    loud_share = (
        (frame_db > frame_db.max() - 30).mean(1) if rms.max() > 1e-5 else np.zeros(len(segments))
    )
    feats = np.concatenate(
        [
            lm.mean(1),
            lm.std(1),
            np.stack([rms_db / 20.0, zcr, centroid, flatness, np.log1p(flux), loud_share], 1),
        ],
        axis=1,
    )  # (K, D_AUDIO)
    return feats.astype(np.float32)


def describe(
    visual: np.ndarray | None, audio: np.ndarray | None, has_video: bool, has_audio: bool
) -> str:
    """Short phrase describing the descriptors (stands in for captions in the lite profile).

    Args:
        visual: (K, D_VISUAL) or None; audio: (K, D_AUDIO) or None.
    """
    parts: list[str] = []
    if has_video and visual is not None and len(visual):
        v = visual.mean(0)
        val, sat = v[_IDX_V["val_mean"]], v[_IDX_V["sat_mean"]]
        parts.append("bright" if val > 0.6 else "dark" if val < 0.3 else "moderately lit")
        parts.append(
            "saturated" if sat > 0.45 else "muted colours" if sat < 0.15 else "natural colours"
        )
        if sat > 0.15:
            hues = v[_IDX_V["hue_hist_red"] : _IDX_V["hue_hist_pink"] + 1]
            parts.append(f"mostly {HUE_NAMES[int(np.argmax(hues))]}")
        edges = v[_IDX_V["edge_density"]]
        parts.append(
            "busy detailed texture"
            if edges > 0.15
            else "smooth texture"
            if edges < 0.03
            else "some texture"
        )
        motion = v[_IDX_V["motion_next"]]
        parts.append(
            "fast motion" if motion > 0.04 else "static shots" if motion < 0.008 else "some motion"
        )
        cuts = (visual[:, _IDX_V["change_since_prev_key"]] > 0.15).mean()
        if cuts > 0.5:
            parts.append("frequent scene changes")
    else:
        parts.append("no picture")
    if has_audio and audio is not None and len(audio):
        a = audio.mean(0)
        db = a[_IDX_A["rms_db"]] * 20.0
        loud = "loud audio" if db > -20 else "quiet audio" if db < -40 else "moderate audio"
        pitch = a[_IDX_A["spectral_centroid"]]
        tone = "high-pitched" if pitch > 0.25 else "bass-heavy" if pitch < 0.08 else "mid-range"
        noisy = "noisy" if a[_IDX_A["spectral_flatness"]] > 0.3 else "tonal"
        parts.append(f"{loud}, {tone}, {noisy}")
    else:
        parts.append("silent")
    return ", ".join(parts)
