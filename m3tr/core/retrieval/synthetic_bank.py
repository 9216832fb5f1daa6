"""Random-but-clustered bank vectors for benchmarks and tests.

Semantic and temporal vectors are drawn around independent sets of cluster centres (content
topics and trajectory shapes are not the same thing), with per-point noise, L2-normalised.
Generated in chunks so 1M x 384 float32 never needs more than the output arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusteredSpec:
    """n_clusters per vector kind and noise (std relative to a unit centre direction)."""

    semantic_dim: int = 384
    temporal_dim: int = 64
    semantic_clusters: int = 1000
    temporal_clusters: int = 100
    semantic_noise: float = 0.05
    temporal_noise: float = 0.1


def _draw(
    rng: np.random.Generator, centres: np.ndarray, n: int, noise: float, chunk: int = 65_536
) -> np.ndarray:
    k, d = centres.shape
    out = np.empty((n, d), dtype=np.float32)  # (n, d)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x = centres[rng.integers(0, k, m)]  # (m, d)
        x += rng.standard_normal((m, d), dtype=np.float32) * (noise)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def clustered_vectors(
    n: int, spec: ClusteredSpec = ClusteredSpec(), seed: int = 0, n_queries: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(semantic (n, d_R), temporal (n, d_s), query semantic (q, d_R), query temporal (q, d_s)).

    Queries are fresh draws from the same clusters (not bank members).
    """
    rng = np.random.default_rng(seed)
    cs = rng.standard_normal((spec.semantic_clusters, spec.semantic_dim), dtype=np.float32)
    cs /= np.linalg.norm(cs, axis=1, keepdims=True)
    ct = rng.standard_normal((spec.temporal_clusters, spec.temporal_dim), dtype=np.float32)
    ct /= np.linalg.norm(ct, axis=1, keepdims=True)
    sem_noise = spec.semantic_noise
    tem_noise = spec.temporal_noise
    sem = _draw(rng, cs, n, sem_noise)
    tem = _draw(rng, ct, n, tem_noise)
    qs = _draw(rng, cs, n_queries, sem_noise)
    qt = _draw(rng, ct, n_queries, tem_noise)
    return sem, tem, qs, qt
