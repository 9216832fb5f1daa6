"""Run methods on one split, several seeds, and score them (App. K metrics, coverage, groups).

Every method is scored on log1p of the total count at H over the whole test set (the headline),
on the MMRA batch-mean variant of the same, and per event type. Seeded methods run once per
seed: metrics are reported as mean and std over seeds, and the Top/Bottom-k groups and plots use
the seed-averaged forecast. Intervals (80% by default) are the method's own when it has them,
otherwise calibrated on the validation residuals of the same seed, and always scored on test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from m3tr.core.evaluation.methods.base import Method, observed_floor
from m3tr.core.task import metrics
from m3tr.core.task.intervals import ResidualInterval
from m3tr.core.training.data import DataSplit

logger = logging.getLogger(__name__)


@dataclass
class MethodRun:
    """All seeds of one method: test forecasts (n_seeds, N, O), intervals, seconds, info."""

    name: str
    seeds: list[int]
    pred: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    interval_source: str
    seconds: float
    info: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvalResult:
    split: DataSplit
    runs: dict[str, MethodRun]
    interval: float
    seconds: float = 0.0


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and std ignoring NaN (an undefined metric, e.g. SRC of a constant forecast)."""
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).any():
        return float("nan"), float("nan")
    return float(np.nanmean(arr)), float(np.nanstd(arr))


def run_methods(
    split: DataSplit,
    methods: Sequence[Method],
    seeds: Sequence[int],
    interval: float = 0.8,
    progress: Callable[[str, int], None] | None = None,
) -> EvalResult:
    """Run each method (seeded ones once per seed) and keep its test forecasts and intervals."""
    t0 = time.perf_counter()
    runs: dict[str, MethodRun] = {}
    y_val = split.val.y_log()
    floor = observed_floor(split.test)
    for m in methods:
        use_seeds = list(seeds) if m.seeded else [int(seeds[0])]
        preds, los, his, infos = [], [], [], []
        source = "validation residuals"
        t1 = time.perf_counter()
        for seed in use_seeds:
            if progress is not None:
                progress(m.name, seed)
            out = m.run(split, seed)
            if out.test_lo is not None and out.test_hi is not None:
                lo, hi = out.test_lo, out.test_hi
                source = "method"
            else:
                cal = ResidualInterval.fit(y_val, out.val_pred, interval)
                lo, hi = cal.apply(out.test_pred, floor)
            preds.append(out.test_pred)
            los.append(lo)
            his.append(hi)
            infos.append(out.info)
        runs[m.name] = MethodRun(
            m.name,
            use_seeds,
            np.stack(preds),
            np.stack(los),
            np.stack(his),
            source,
            time.perf_counter() - t1,
            infos,
        )
        logger.info("%s: %d run(s) in %.1f s", m.name, len(use_seeds), runs[m.name].seconds)
    return EvalResult(split, runs, interval, time.perf_counter() - t0)


def _scores(y: np.ndarray, preds: np.ndarray, fn: Callable[..., metrics.Scores]) -> dict[str, Any]:
    """Mean and std over seeds of one scoring function; preds (n_seeds, N)."""
    per_seed = [fn(y, p) for p in preds]
    out: dict[str, Any] = {}
    std: dict[str, float] = {}
    for key in ("nmse", "src", "plcc", "mae"):
        out[key], std[key] = _mean_std([getattr(s, key) for s in per_seed])
    out["std"] = std
    out["per_seed"] = {key: [getattr(s, key) for s in per_seed] for key in ("nmse", "mae")}
    return out


def summarise(result: EvalResult) -> dict[str, Any]:
    """The ``methods`` map of report.json."""
    split = result.split
    y = split.test.y_log()  # (N, O)
    names = split.test.spec.output_names
    total = len(names) - 1
    summary: dict[str, Any] = {}
    for name, run in result.runs.items():
        entry = _scores(y[:, total], run.pred[:, :, total], metrics.score)
        entry["batch_mean_256"] = _scores(
            y[:, total], run.pred[:, :, total], metrics.score_batch_mean
        )
        entry["per_type"] = {
            t: _scores(y[:, j], run.pred[:, :, j], metrics.score) for j, t in enumerate(names)
        }
        cov = [
            metrics.coverage(y[:, total], run.lo[s, :, total], run.hi[s, :, total])
            for s in range(len(run.seeds))
        ]
        entry["coverage"], entry["coverage_std"] = _mean_std(cov)
        entry["coverage_per_type"] = {
            t: _mean_std(
                [
                    metrics.coverage(y[:, j], run.lo[s, :, j], run.hi[s, :, j])
                    for s in range(len(run.seeds))
                ]
            )[0]
            for j, t in enumerate(names)
        }
        entry["interval_source"] = run.interval_source
        entry["rank_groups"] = metrics.rank_groups(y[:, total], run.pred[:, :, total].mean(axis=0))
        entry["seeds"] = run.seeds
        entry["seconds"] = round(run.seconds, 2)
        entry["info"] = run.info[0] if run.info else {}
        summary[name] = entry
    return summary
