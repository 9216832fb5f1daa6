"""Popularity metrics (paper App. K) on log1p counts, plus interval coverage and rank groups.

Definitions used everywhere in this project (stated in every report):

- nMSE = mean((y - y_hat)^2) / Var(y), with Var the population variance (ddof=0) of the
  targets y over the scored set; y = log1p(count). A constant prediction at mean(y) scores 1.
- SRC: Spearman rank correlation (average ranks for ties).
- PLCC: Pearson linear correlation between y and y_hat over the scored set.
- MAE = mean(|y - y_hat|), in log1p units.
- The "MMRA batch-mean" variant computes each metric on consecutive batches of 256 samples
  (the order given, the last batch possibly shorter) and averages over batches, as the MMRA
  reference code does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

MMRA_BATCH = 256


@dataclass(frozen=True)
class Scores:
    """The four App. K metrics of one method on one scored set."""

    nmse: float
    src: float
    plcc: float
    mae: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _check(y: np.ndarray, y_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)  # (N,)
    y_hat = np.asarray(y_hat, dtype=np.float64).reshape(-1)  # (N,)
    if y.shape != y_hat.shape:
        raise ValueError(f"targets {y.shape} and predictions {y_hat.shape} differ in length")
    if y.size == 0:
        raise ValueError("no samples to score")
    if not (np.isfinite(y).all() and np.isfinite(y_hat).all()):
        raise ValueError("targets or predictions contain NaN or infinity")
    return y, y_hat


def nmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    """mean((y - y_hat)^2) / Var(y) (ddof=0). NaN when the targets are all equal."""
    y, y_hat = _check(y, y_hat)
    var = float(np.var(y))
    if var <= 0.0:
        return float("nan")
    return float(np.mean((y - y_hat) ** 2) / var)


def mae(y: np.ndarray, y_hat: np.ndarray) -> float:
    """mean(|y - y_hat|)."""
    y, y_hat = _check(y, y_hat)
    return float(np.mean(np.abs(y - y_hat)))


def src(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    y, y_hat = _check(y, y_hat)
    if np.ptp(y) == 0 or np.ptp(y_hat) == 0:
        return float("nan")
    return float(stats.spearmanr(y, y_hat).statistic)


def plcc(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant."""
    y, y_hat = _check(y, y_hat)
    if np.ptp(y) == 0 or np.ptp(y_hat) == 0:
        return float("nan")
    return float(np.corrcoef(y, y_hat)[0, 1])


def score(y: np.ndarray, y_hat: np.ndarray) -> Scores:
    """All four metrics over the whole set."""
    return Scores(nmse(y, y_hat), src(y, y_hat), plcc(y, y_hat), mae(y, y_hat))


def score_batch_mean(y: np.ndarray, y_hat: np.ndarray, batch: int = MMRA_BATCH) -> Scores:
    """The MMRA-code variant: metrics per consecutive batch of ``batch`` samples, averaged.

    Batches whose metric is undefined (e.g. a single sample: Var(y) = 0) are left out of that
    metric's average.
    """
    y, y_hat = _check(y, y_hat)
    parts = [score(y[i : i + batch], y_hat[i : i + batch]) for i in range(0, y.size, batch)]

    def avg(name: str) -> float:
        vals = np.array([getattr(p, name) for p in parts], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        return float(vals.mean()) if vals.size else float("nan")

    return Scores(avg("nmse"), avg("src"), avg("plcc"), avg("mae"))


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Fraction of targets inside their closed interval [lo, hi]."""
    y, lo = _check(y, lo)
    _, hi = _check(y, hi)
    if np.any(lo > hi):
        raise ValueError("interval with lo > hi")
    return float(np.mean((y >= lo) & (y <= hi)))


def rank_groups(
    y: np.ndarray, y_hat: np.ndarray, sizes: tuple[int, ...] = (50, 200, 500)
) -> dict[str, dict[str, float]]:
    """Paper Table 2's Top-k / Bottom-k groups, on raw counts.

    The videos are ranked by their true value y (log1p counts); for the top-k and bottom-k
    groups this reports the mean true count and the mean predicted count (expm1 of the log1p
    values), and the MAE in log1p units within the group. Groups larger than the set are
    clipped to the set size (reported ``k`` says the size used).
    """
    y, y_hat = _check(y, y_hat)
    order = np.argsort(-y, kind="stable")  # descending by truth
    out: dict[str, dict[str, float]] = {}
    for k in sizes:
        kk = min(k, y.size)
        for name, idx in (("Top", order[:kk]), ("Bottom", order[::-1][:kk])):
            out[f"{name}{k}"] = {
                "k": float(kk),
                "true_mean": float(np.mean(np.expm1(y[idx]))),
                "pred_mean": float(np.mean(np.expm1(y_hat[idx]))),
                "mae_log1p": float(np.mean(np.abs(y[idx] - y_hat[idx]))),
            }
    return out
