"""What every evaluated method implements: fit on train (+ val), predict val and test.

Outputs are log1p counts per output of ``spec.output_names`` (each type, then the total).
Intervals: a method may return its own 80% interval on test (e.g. simulation quantiles);
otherwise the harness calibrates one from its validation residuals
(:class:`~m3tr.core.task.intervals.ResidualInterval`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from m3tr.core.training.data import DataSplit, TaskData


@dataclass
class MethodOutput:
    """val_pred (N_val, O), test_pred (N_test, O) log1p; optional test interval (N_test, O)."""

    val_pred: np.ndarray
    test_pred: np.ndarray
    test_lo: np.ndarray | None = None
    test_hi: np.ndarray | None = None
    info: dict[str, object] = field(default_factory=dict)


class Method(Protocol):
    """A forecasting method. ``seeded`` methods are run once per seed."""

    name: str
    seeded: bool

    def run(self, split: DataSplit, seed: int) -> MethodOutput: ...


def observed_floor(data: TaskData) -> np.ndarray:
    """(N, O) log1p of the counts already observed: no forecast may go below them."""
    obs = data.obs_counts  # (N, K)
    total = obs.sum(axis=1, keepdims=True)  # (N, 1)
    return np.log1p(np.concatenate([obs, total], axis=1).astype(np.float64))
