"""Deterministic train/val/test splits."""

from __future__ import annotations

import numpy as np

DEFAULT_SPLIT_SEED = 20240607


def split_indices(
    n: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = DEFAULT_SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random permutation of range(n) cut into train/val/test by ``fractions`` (sum 1).

    The same (n, fractions, seed) always gives the same split; the parts are disjoint and
    cover everything. Val and test get ``round(f * n)`` rows each, train the rest.
    """
    if n < 3:
        raise ValueError(f"need at least 3 items to split, got {n}")
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1: {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = n - n_val - n_test
    return (
        np.sort(perm[:n_train]),
        np.sort(perm[n_train : n_train + n_val]),
        np.sort(perm[n_train + n_val :]),
    )


def holdout_val(
    n: int, fraction: float = 0.1, seed: int = DEFAULT_SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split range(n) into (fit, val) with ``fraction`` for validation (when --test is given)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(fraction * n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
