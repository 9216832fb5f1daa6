"""Fixed-size views of the observed events: the count profile and padded event sequences.

The count profile summarises ``[0, T_obs]`` as cumulative counts at fixed fractions of the
window (per type and in total, log1p), plus how early the first and how recent the last event
were. It is used by the fusion model (one extra temporal token and the growth baseline), by the
gbdt baseline and, L2-normalised, as a trajectory vector for retrieval when no MHP signature is
available.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Cumulative counts are read at these fractions of T_obs (log-spaced towards the start, where
# cascades change fastest).
PROFILE_FRACTIONS = (1 / 60, 1 / 12, 1 / 6, 1 / 3, 1 / 2, 2 / 3, 5 / 6, 1.0)


def profile_names(event_types: Sequence[str]) -> list[str]:
    """Names of the count-profile columns, in order."""
    names = [
        f"log1p_{name}_at_{f:.3f}T" for name in (*event_types, "total") for f in PROFILE_FRACTIONS
    ]
    return [*names, "first_event_frac", "last_event_age_frac", "log1p_rate_last_sixth"]


def count_profile(
    event_t: Sequence[np.ndarray],
    event_k: Sequence[np.ndarray],
    num_types: int,
    obs_window_s: float,
) -> np.ndarray:
    """(N, F) float32 count profile, F = (K + 1) * len(PROFILE_FRACTIONS) + 3.

    Videos without events get zero counts, first_event_frac = 1 and last_event_age_frac = 1.
    With ``obs_window_s == 0`` (content only) every column is zero.
    """
    n, nf = len(event_t), len(PROFILE_FRACTIONS)
    out = np.zeros((n, (num_types + 1) * nf + 3), dtype=np.float32)
    if obs_window_s <= 0:
        return out
    cuts = np.asarray(PROFILE_FRACTIONS) * obs_window_s  # (nf,)
    for i, (t, k) in enumerate(zip(event_t, event_k, strict=True)):
        t = np.asarray(t, dtype=np.float64)
        k = np.asarray(k, dtype=np.int64)
        for j in range(num_types):
            tj = t[k == j]
            out[i, j * nf : (j + 1) * nf] = np.log1p(np.searchsorted(tj, cuts, side="right"))
        out[i, num_types * nf : (num_types + 1) * nf] = np.log1p(
            np.searchsorted(t, cuts, side="right")
        )
        base = (num_types + 1) * nf
        if t.size:
            out[i, base] = t[0] / obs_window_s
            out[i, base + 1] = (obs_window_s - t[-1]) / obs_window_s
            recent = np.count_nonzero(t > obs_window_s * 5 / 6)
            out[i, base + 2] = np.log1p(recent)
        else:
            out[i, base] = 1.0
            out[i, base + 1] = 1.0
    return out


def profile_vector(profile: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(N, F) standardised with (F,) mean/std, then L2-normalised per row: a retrieval vector.

    Rows that are all zero after standardising stay zero (their dot products are then 0).
    """
    z = (profile - mean) / np.where(std > 0, std, 1.0)  # (N, F)
    norm = np.linalg.norm(z, axis=1, keepdims=True)  # (N, 1)
    return (z / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def pad_events(
    event_t: Sequence[np.ndarray],
    event_k: Sequence[np.ndarray],
    max_len: int,
    keep: str = "last",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad variable-length event lists into fixed arrays.

    Args:
        keep: ``"last"`` keeps the most recent ``max_len`` events of longer sequences,
            ``"first"`` the earliest.
    Returns:
        times (N, L) float64 (0 where padded), types (N, L) int64 (0 where padded),
        mask (N, L) bool (True = real event). Real events come first in each row.
    """
    if keep not in ("last", "first"):
        raise ValueError(f"keep must be 'last' or 'first', got {keep!r}")
    n = len(event_t)
    times = np.zeros((n, max_len), dtype=np.float64)
    types = np.zeros((n, max_len), dtype=np.int64)
    mask = np.zeros((n, max_len), dtype=bool)
    for i, (t, k) in enumerate(zip(event_t, event_k, strict=True)):
        sl = slice(-max_len, None) if keep == "last" else slice(0, max_len)
        t, k = np.asarray(t)[sl], np.asarray(k)[sl]
        m = t.shape[0]
        times[i, :m] = t
        types[i, :m] = k
        mask[i, :m] = True
    return times, types, mask
