"""Synthetic engagement event logs: exact multivariate Hawkes simulation by its cluster process.

Immigrants of type k arrive as a Poisson process of rate ``mu[k]`` on [0, T]; every event of type
m has Poisson(``alpha[k, m] / delta[k, m]``) children of type k, each after an Exp(``delta[k, m]``)
delay. This is the exponential-kernel Hawkes process of Eq. 1 without its Mamba term, so logs
have real self-excitation for the temporal model to find, and known parameters for checks.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class HawkesParams:
    """Exponential-kernel Hawkes parameters for K event types.

    Attributes:
        types: (K,) type names; mu: (K,) base rates per second;
        alpha: (K, K) jump of λ_k per event of type m; delta: (K, K) decay rates per second.
    """

    types: tuple[str, ...]
    mu: np.ndarray
    alpha: np.ndarray
    delta: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.types)
        if self.mu.shape != (k,) or self.alpha.shape != (k, k) or self.delta.shape != (k, k):
            raise ValueError(
                f"HawkesParams: expected mu ({k},), alpha and delta ({k}, {k}); got "
                f"{self.mu.shape}, {self.alpha.shape}, {self.delta.shape}"
            )
        if (self.delta <= 0).any() or (self.alpha < 0).any() or (self.mu < 0).any():
            raise ValueError("HawkesParams: need mu >= 0, alpha >= 0, delta > 0")
        radius = float(np.max(np.abs(np.linalg.eigvals(self.alpha / self.delta))))
        if radius >= 1.0:
            raise ValueError(f"HawkesParams: branching ratio {radius:.3f} >= 1 (explosive)")


def default_params(
    scale: float = 1.0, types: Sequence[str] = ("like", "comment", "share")
) -> HawkesParams:
    """A plausible engagement process: likes dominate, comments and shares excite likes.

    ``scale`` multiplies the base rates (a more popular video).
    """
    k = len(types)
    mu = np.array([0.02, 0.005, 0.002, 0.001, 0.001][:k]) * scale  # (K,)
    alpha = np.full((k, k), 0.05)  # (K, K)
    np.fill_diagonal(alpha, 0.3)
    delta = np.full((k, k), 1.0 / 600.0)  # 10 min memory
    return HawkesParams(tuple(types), mu, alpha * delta, delta)


def simulate_hawkes(
    params: HawkesParams, horizon_s: float, rng: np.random.Generator, max_events: int = 50_000
) -> tuple[np.ndarray, np.ndarray]:
    """One log on [0, horizon_s]: (t (n,) float64 sorted, type (n,) object). Exact (cluster form)."""
    k = len(params.types)
    branch = params.alpha / params.delta  # (K, K) expected children of type k per parent m
    times: list[float] = []
    kinds: list[int] = []
    queue: list[tuple[float, int]] = []
    for j in range(k):
        n = rng.poisson(params.mu[j] * horizon_s)
        queue.extend((float(t), j) for t in rng.uniform(0.0, horizon_s, size=n))
    while queue:
        t_parent, m = queue.pop()
        times.append(t_parent)
        kinds.append(m)
        if len(times) > max_events:
            raise ValueError(f"simulate_hawkes: more than {max_events} events; lower the rates")
        for j in range(k):
            n_child = rng.poisson(branch[j, m])
            if n_child:
                t_child = t_parent + rng.exponential(1.0 / params.delta[j, m], size=n_child)
                queue.extend((float(t), j) for t in t_child if t <= horizon_s)
    order = np.argsort(np.asarray(times), kind="stable")
    t_arr = np.asarray(times, dtype=np.float64)[order]  # (n,)
    type_arr = np.asarray([params.types[i] for i in kinds], dtype=object)[order]  # (n,)
    return t_arr, type_arr


def write_event_csv(path: str | Path, t: np.ndarray, types: np.ndarray) -> Path:
    """Write a log as CSV with columns ``t,type`` (the format ``read_event_log`` accepts)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["t", "type"])
        for ti, ki in zip(t, types, strict=True):
            writer.writerow([f"{ti:.3f}", ki])
    return path
