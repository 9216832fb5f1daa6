"""Retrieval alone as a forecast: the mean of the neighbours' log1p labels (content retrieval
from the training bank, Eq. 3 in content-only mode)."""

from __future__ import annotations

import numpy as np

from m3tr.core.evaluation.methods.base import MethodOutput
from m3tr.core.training.data import DataSplit, TaskData
from m3tr.core.training.neighbours import TrainingBank


class NeighbourMean:
    seeded = False

    def __init__(self, name: str = "content_only_retrieval", top_s: int = 10) -> None:
        self.name = name
        self.top_s = top_s

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        tr = split.train
        assert tr.content is not None
        bank = TrainingBank(tr.video_ids, tr.content.R, None)
        y = tr.y_log()  # (N_bank, O)

        def forecast(d: TaskData) -> np.ndarray:
            assert d.content is not None
            nb = bank.query(d.content.R, None, self.top_s, None, "eval")
            w = nb.mask[..., None].astype(np.float64)  # (N, S, 1)
            return (y[nb.idx] * w).sum(1) / np.maximum(w.sum(1), 1.0)  # (N, O)

        try:
            return MethodOutput(forecast(split.val), forecast(split.test))
        finally:
            bank.close()
