"""A simple stand-in trajectory vector, used until (or where) the MHP signature is unavailable.

Log-binned early event counts: for each event type, the number of events in each of
``n_bins`` log-spaced bins of ``[0, obs_window_s]`` (first bin ``[0, first_edge_s)``), then
``log1p``. It encodes the shape of early growth (fast burst vs slow burn), which is what the
temporal part of Eq. 3 compares; it is NOT the paper's mean-pooled X^s, and banks built with it
say so in their profile (``+eventbins``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STANDIN_SUFFIX = "+eventbins"


def bin_edges(obs_window_s: float, n_bins: int, first_edge_s: float = 60.0) -> np.ndarray:
    """(n_bins + 1,) edges: 0, then log-spaced from ``first_edge_s`` to ``obs_window_s``."""
    if obs_window_s <= first_edge_s or n_bins < 2:
        raise ValueError(
            f"need obs_window_s > first_edge_s ({obs_window_s} <= {first_edge_s}) and n_bins >= 2"
        )
    return np.r_[0.0, np.geomspace(first_edge_s, obs_window_s, n_bins)]


def event_bin_signature(
    t: np.ndarray,
    types: Sequence[str] | np.ndarray,
    vocab: Sequence[str],
    obs_window_s: float,
    dim: int = 64,
    first_edge_s: float = 60.0,
) -> np.ndarray | None:
    """(dim,) float32 log-binned counts per type, or None if no event falls in the window.

    t: (n,) seconds since publication; types: (n,) event type names; vocab: the types kept
    (dim must be a multiple of len(vocab): dim / len(vocab) bins per type).
    """
    if dim % len(vocab):
        raise ValueError(f"dim {dim} is not a multiple of {len(vocab)} event types")
    n_bins = dim // len(vocab)
    edges = bin_edges(obs_window_s, n_bins, first_edge_s)  # (n_bins + 1,)
    t = np.asarray(t, dtype=np.float64)
    types = np.asarray(types, dtype=object)
    inside = (t >= 0) & (t <= obs_window_s)
    if not inside.any():
        return None
    out = np.zeros((len(vocab), n_bins), dtype=np.float64)  # (K, n_bins)
    for k, name in enumerate(vocab):
        sel = inside & (types == name)
        out[k] = np.histogram(t[sel], bins=edges)[0]
    if not out.any():
        return None
    return np.log1p(out).reshape(-1).astype(np.float32)  # (dim,)
