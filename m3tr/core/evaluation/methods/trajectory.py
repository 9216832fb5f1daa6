"""``trajectory_only_retrieval``: neighbours by the trajectory vector alone, as a forecast.

Each validation/test video's top-S training videos by the inner product of trajectory vectors
(the MHP's, as ``m3tr`` retrieves with: pre-trained on the training windows per seed, centred
and whitened over the bank by the temporal core's transform), and the mean of their log1p
labels as the forecast. This measures whether "similar trajectory" means "similar future".

It also reports how much the trajectory axis ranks: per query, the normalised temporal scores
``Norm(s_i . s_j)`` (Eq. 3's min-max over the whole bank) of its top-S, and their spread
(max - min among the top-S), averaged over the test queries; the raw inner products' spread
likewise. A spread near 0 with scores near 1 means the axis does not tell trajectories apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from m3tr.core.evaluation.methods.base import MethodOutput
from m3tr.core.training.data import DataSplit, TaskData

TOP_S = 10


def top_by_trajectory(
    query: np.ndarray, bank: np.ndarray, top_s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact top-S by inner product. query (Q, d), bank (N, d) ->
    (idx (Q, S) rows of the bank, raw scores (Q, S), normalised scores (Q, S))."""
    scores = query @ bank.T  # (Q, N)
    s = min(top_s, bank.shape[0])
    # stable order: by score descending, then by bank row
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :s]  # (Q, S)
    raw = np.take_along_axis(scores, idx, axis=1)  # (Q, S)
    lo = scores.min(axis=1, keepdims=True)  # (Q, 1)
    hi = scores.max(axis=1, keepdims=True)
    norm = (raw - lo) / np.where(hi > lo, hi - lo, 1.0)  # (Q, S)
    return idx, raw, norm


def spread_stats(raw: np.ndarray, norm: np.ndarray) -> dict[str, float]:
    """Means over queries of the top-S scores' spread and range ends (module docstring)."""
    return {
        "norm_spread_mean": round(float((norm.max(1) - norm.min(1)).mean()), 4),
        "norm_top1_mean": round(float(norm[:, 0].mean()), 4),
        "norm_last_mean": round(float(norm[:, -1].mean()), 4),
        "raw_spread_mean": round(float((raw.max(1) - raw.min(1)).mean()), 4),
        "raw_last_mean": round(float(raw[:, -1].mean()), 4),
    }


class TrajectoryOnlyRetrieval:
    """``vectors(data, train, seed)`` gives (N, d_s) trajectory vectors (e.g. ``SharedMHP``)."""

    name = "trajectory_only_retrieval"
    seeded = True

    def __init__(self, vectors: Any, length: int = 128, top_s: int = TOP_S) -> None:
        self.vectors = vectors
        self.length = length
        self.top_s = top_s

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        tr = split.train
        bank = self.vectors.vectors(tr, tr, seed, self.length)  # (N_bank, d_s)
        y = tr.y_log()  # (N_bank, O)

        def forecast(d: TaskData) -> tuple[np.ndarray, dict[str, float]]:
            q = self.vectors.vectors(d, tr, seed, self.length)  # (N, d_s)
            idx, raw, norm = top_by_trajectory(q, bank, self.top_s)
            return y[idx].mean(axis=1), spread_stats(raw, norm)  # (N, O)

        val, _ = forecast(split.val)
        test, stats = forecast(split.test)
        return MethodOutput(val, test, info={"top_s": self.top_s, "test_top_s_scores": stats})
