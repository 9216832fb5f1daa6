"""Per-video point-process baselines: a classical Hawkes or a homogeneous Poisson process fitted
to each test video's own events in [0, T_obs], futures simulated to H by the temporal core
(``m3tr.core.temporal``), the median of the simulated counts as the forecast and the 10%/90%
quantiles as its 80% interval. The forecast and interval are floored at what was observed.

Cost control: ``n_paths`` futures per video, each stopped at ``max_events`` events (default
1200, above every total in the CED data, where no count reaches 1000): a path that explodes
is cut there, so an explosive fit forecasts about ``max_events`` rather than running forever.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from m3tr.core.evaluation.methods.base import MethodOutput, observed_floor
from m3tr.core.training.data import DataSplit, TaskData

logger = logging.getLogger(__name__)


class PerVideoPointProcess:
    """``kind``: ``classical_hawkes`` or ``poisson`` (models of ``m3tr.core.temporal``)."""

    seeded = False

    def __init__(
        self, kind: str, n_paths: int = 30, max_events: int = 1200, time_unit_s: float = 3600.0
    ) -> None:
        if kind not in ("classical_hawkes", "poisson"):
            raise ValueError(f"unknown point-process baseline {kind!r}")
        self.name = kind
        self.kind = kind
        self.n_paths = n_paths
        self.max_events = max_events
        self.time_unit_s = time_unit_s

    def forecast_one(
        self, t: np.ndarray, k: np.ndarray, data: TaskData, key: str, seed: int
    ) -> np.ndarray:
        """(3, O) log1p of the 10%, 50%, 90% simulated counts at H (each type, then total)."""
        from m3tr.core.temporal import EventSequence, build_model

        spec = data.spec
        seq = EventSequence(t, k, t_end_s=spec.obs_window_s, key=key)
        model = build_model(self.kind, spec.num_types, self.time_unit_s)
        if len(seq) == 0:
            # nothing to fit: the process has no events and none are forecast
            return np.zeros((3, spec.num_types + 1))
        model.fit([seq])
        fc = model.forecast(
            seq,
            spec.obs_window_s,
            spec.horizon_s,
            n_paths=self.n_paths,
            grid_size=2,
            quantiles=(0.1, 0.5, 0.9),
            seed=seed,
            max_events=self.max_events,
        )
        per_type = np.asarray(fc.final_quantiles, dtype=np.float64)  # (3, K)
        total = np.asarray(fc.cumulative_total_quantiles, dtype=np.float64)[:, -1:]  # (3, 1)
        return np.log1p(np.concatenate([per_type, total], axis=1))

    def predict(self, data: TaskData, seed: int) -> np.ndarray:
        """(3, N, O) lo/median/hi, floored at the observed counts."""
        t0 = time.perf_counter()
        out = np.stack(
            [
                self.forecast_one(t, k, data, key, seed)
                for t, k, key in zip(data.event_t, data.event_k, data.keys, strict=True)
            ],
            axis=1,
        )
        floor = observed_floor(data)
        logger.info("%s: %d videos in %.1f s", self.name, len(data), time.perf_counter() - t0)
        return np.maximum(out, floor[None])

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        # nothing is learnt across videos: validation is not needed, the interval is the
        # simulation's own
        test = self.predict(split.test, seed)
        return MethodOutput(
            val_pred=np.zeros((len(split.val), split.val.spec.num_types + 1)),
            test_pred=test[1],
            test_lo=test[0],
            test_hi=test[2],
        )
