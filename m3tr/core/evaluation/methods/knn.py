"""Retrieval alone as a forecast: the mean of the neighbours' log1p labels (content retrieval
from the training bank, Eq. 3 in content-only mode).

The number of neighbours S is chosen on the validation split (the S of least validation nMSE on
the total among ``CANDIDATE_S``): averaging more neighbours' labels trades noise for bias, and
the paper's S = 10 is not the best everywhere (MicroLens titles: validation prefers 30).
"""

from __future__ import annotations

import numpy as np

from m3tr.core.evaluation.methods.base import MethodOutput
from m3tr.core.training.data import DataSplit, TaskData
from m3tr.core.training.neighbours import TrainingBank

CANDIDATE_S = (10, 20, 30, 50)


class NeighbourMean:
    seeded = False

    def __init__(
        self, name: str = "content_only_retrieval", candidates: tuple[int, ...] = CANDIDATE_S
    ) -> None:
        if not candidates or min(candidates) < 1:
            raise ValueError(f"NeighbourMean: candidate S must be >= 1, got {candidates}")
        self.name = name
        self.candidates = tuple(sorted(candidates))

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        tr = split.train
        assert tr.content is not None
        bank = TrainingBank(tr.video_ids, tr.content.R, None)
        y = tr.y_log()  # (N_bank, O)
        s_max = min(self.candidates[-1], len(tr))

        def forecasts(d: TaskData) -> dict[int, np.ndarray]:
            """S -> (N, O): the mean label of each query's S nearest (best first)."""
            assert d.content is not None
            nb = bank.query(d.content.R, None, s_max, None, "eval")
            out = {}
            for s in self.candidates:
                w = nb.mask[:, :s, None].astype(np.float64)  # (N, S, 1)
                out[s] = (y[nb.idx[:, :s]] * w).sum(1) / np.maximum(w.sum(1), 1.0)  # (N, O)
            return out

        try:
            val, test = forecasts(split.val), forecasts(split.test)
        finally:
            bank.close()
        y_val = split.val.y_log()[:, -1]
        var = float(np.var(y_val)) or 1.0
        val_nmse = {s: float(np.mean((v[:, -1] - y_val) ** 2)) / var for s, v in val.items()}
        best = min(self.candidates, key=lambda s: val_nmse[s])
        info = {
            "top_s": best,
            "val_nmse_by_s": {str(s): round(e, 4) for s, e in val_nmse.items()},
        }
        return MethodOutput(val[best], test[best], info=info)
