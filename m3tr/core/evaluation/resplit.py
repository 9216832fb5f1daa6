"""How much the headline moves with the split: the cheap methods on several other 80/10/10 splits.

One test split of about 200 posts is small: the same method's nMSE moves by a few hundredths from
one random split to the next, as much as the gaps between methods. ``split_spread`` re-runs the
deterministic, cheap methods (Szabo-Huberman, the strong features, the text ridge, the mean) on ``n_splits``
further splits of the same data (split seeds ``base_seed + 1 ...``) and reports each method's
test nMSE per split with mean, std, min and max. The fusion model is too costly to re-run here;
read its seed std on the main split next to these numbers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from m3tr.core.evaluation.methods.base import Method
from m3tr.core.evaluation.methods.strong_features import KINDS, StrongFeatures, StrongFitter
from m3tr.core.evaluation.methods.szabo_huberman import MeanBaseline, SzaboHuberman
from m3tr.core.evaluation.methods.text_ridge import TextRidge
from m3tr.core.task import metrics
from m3tr.core.task.splits import split_indices
from m3tr.core.training.data import DataSplit, TaskData

logger = logging.getLogger(__name__)

CHEAP = ("szabo_huberman", *KINDS, "text_ridge", "mean")


def split_spread(
    data: TaskData, names: list[str], base_seed: int, n_splits: int = 4
) -> dict[str, Any]:
    """Test nMSE of the cheap methods among ``names`` on ``n_splits`` further splits."""
    wanted = [n for n in CHEAP if n in names]
    if not wanted or n_splits < 1 or data.spec.obs_window_s <= 0:
        return {}
    t0 = time.perf_counter()
    seeds = [base_seed + i for i in range(1, n_splits + 1)]
    per: dict[str, list[float]] = {n: [] for n in wanted}
    for s in seeds:
        tr, va, te = split_indices(len(data), seed=s)
        split = DataSplit(data.subset(tr), data.subset(va), data.subset(te))
        y = split.test.y_log()[:, -1]
        fitter = StrongFitter()
        for n in wanted:
            m: Method
            if n == "szabo_huberman":
                m = SzaboHuberman()
            elif n == "mean":
                m = MeanBaseline()
            elif n == "text_ridge":
                m = TextRidge()
            else:
                m = StrongFeatures(n, fitter)
            per[n].append(round(metrics.score(y, m.run(split, 0).test_pred[:, -1]).nmse, 4))
        logger.info("split seed %d: %s", s, {n: v[-1] for n, v in per.items()})
    return {
        "split_seeds": seeds,
        "nmse": {
            n: {
                "per_split": v,
                "mean": round(float(np.mean(v)), 4),
                "std": round(float(np.std(v)), 4),
                "min": min(v),
                "max": max(v),
            }
            for n, v in per.items()
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
