"""Cumulative engagement curves from event times, on a shared time grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curve:
    """A cumulative count over time: ``t`` seconds since publication, ``y`` events so far."""

    t: np.ndarray  # (G,) float64, increasing
    y: np.ndarray  # (G,) float64, non-decreasing
    label: str = ""


def time_grid(horizon_s: float, n: int = 200, first_s: float = 1.0) -> np.ndarray:
    """``n`` times from 0 to ``horizon_s``, log-spaced after ``first_s`` (early growth matters)."""
    if horizon_s <= first_s:
        return np.linspace(0.0, horizon_s, n)
    tail = np.geomspace(first_s, horizon_s, n - 1)  # (n-1,)
    return np.concatenate([[0.0], tail])  # (n,)


def cumulative(event_t: np.ndarray, grid: np.ndarray, label: str = "") -> Curve:
    """Number of events at or before each grid time. event_t: (n,) sorted or not."""
    ts = np.sort(np.asarray(event_t, dtype=np.float64))  # (n,)
    y = np.searchsorted(ts, grid, side="right").astype(np.float64)  # (G,)
    return Curve(t=grid, y=y, label=label)
