"""Szabo and Huberman (2010): log of the count at H is linear in log of the count at T_obs.

Fitted by least squares, per output (each type and the total), on log1p counts of the training
videos: ``log1p(N_k(H)) = a_k + b_k log1p(N_k(T_obs))``.
"""

from __future__ import annotations

import numpy as np

from m3tr.core.evaluation.methods.base import MethodOutput, observed_floor
from m3tr.core.training.data import DataSplit, TaskData


class SzaboHuberman:
    name = "szabo_huberman"
    seeded = False

    def __init__(self) -> None:
        self.coef: np.ndarray | None = None  # (O, 2): intercept, slope

    def fit(self, train: TaskData) -> SzaboHuberman:
        x = observed_floor(train)  # (N, O)
        y = train.y_log()  # (N, O)
        coef = []
        for j in range(y.shape[1]):
            a = np.stack([np.ones_like(x[:, j]), x[:, j]], axis=1)  # (N, 2)
            coef.append(np.linalg.lstsq(a, y[:, j], rcond=None)[0])
        self.coef = np.stack(coef)
        return self

    def predict(self, data: TaskData) -> np.ndarray:
        """(N, O) log1p forecasts, never below what was observed."""
        if self.coef is None:
            raise RuntimeError("SzaboHuberman.predict before fit")
        x = observed_floor(data)  # (N, O)
        return np.maximum(self.coef[:, 0] + self.coef[:, 1] * x, x)

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        self.fit(split.train)
        return MethodOutput(self.predict(split.val), self.predict(split.test))


class MeanBaseline:
    """Predicts the training mean of log1p counts (the nMSE = ~1 reference)."""

    name = "mean"
    seeded = False

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        mu = split.train.y_log().mean(axis=0)  # (O,)
        return MethodOutput(np.tile(mu, (len(split.val), 1)), np.tile(mu, (len(split.test), 1)))
