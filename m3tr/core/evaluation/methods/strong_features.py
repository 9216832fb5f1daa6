"""``strong_features``: gradient boosting and ridge over rich early features, and their mean.

The honest bar for every model that sees the early events: the features of
:mod:`m3tr.core.training.early_features` (counts on a log-spaced grid, recent counts, gaps,
distinct users, reposts of reposts, type shares, author/post metadata, hour, text length), all
computed from ``[0, T_obs]`` and publication-time data only.

Model choice never looks at the test split, nor at the validation split (which stays clean for
interval calibration and for stacking the fusion model on top, see ``stacking``):

- ridge: features standardised on the training rows, ``alpha`` by efficient leave-one-out over
  the training rows (``RidgeCV``);
- gradient boosting (``HistGradientBoostingRegressor``): a small grid of tree settings and the
  number of trees, chosen by K-fold cross-validation over the training rows on the total
  (mean nMSE over the folds; the fold spread is reported), then refitted on all training rows
  with the chosen settings for every output.

Both are deterministic (no subsampling, no early-stopping split), so the method is not seeded.
One :class:`StrongFitter` fits both once per split; the three methods and the fusion model's
stacking share it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from m3tr.core.evaluation.methods.base import MethodOutput, observed_floor
from m3tr.core.training.data import DataSplit, TaskData
from m3tr.core.training.early_features import early_features

logger = logging.getLogger(__name__)

# (learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization)
GBDT_GRID = ((0.05, 7, 40, 1.0), (0.05, 15, 20, 1.0), (0.05, 31, 40, 3.0))
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 4, 13))
KINDS = ("strong_features", "strong_features_gbdt", "strong_features_ridge")


@dataclass
class StrongFit:
    """One split's fitted models and their val/test forecasts (N, O) log1p, floored."""

    gbdt_val: np.ndarray
    gbdt_test: np.ndarray
    ridge_val: np.ndarray
    ridge_test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (val, test) forecast pairs a stack combines: gbdt, ridge."""
        return [(self.gbdt_val, self.gbdt_test), (self.ridge_val, self.ridge_test)]

    def forecast(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(val, test) forecasts of ``kind`` (one of ``KINDS``)."""
        if kind == "strong_features_gbdt":
            return self.gbdt_val, self.gbdt_test
        if kind == "strong_features_ridge":
            return self.ridge_val, self.ridge_test
        if kind == "strong_features":
            return (self.gbdt_val + self.ridge_val) / 2, (self.gbdt_test + self.ridge_test) / 2
        raise ValueError(f"unknown strong-features forecast {kind!r}; one of {KINDS}")


def _gbdt(params: tuple[float, int, int, float], max_iter: int) -> HistGradientBoostingRegressor:
    lr, leaves, min_leaf, l2 = params
    return HistGradientBoostingRegressor(
        learning_rate=lr,
        max_iter=max_iter,
        max_leaf_nodes=leaves,
        min_samples_leaf=min_leaf,
        l2_regularization=l2,
        early_stopping=False,
        random_state=0,
    )


def choose_gbdt(
    x: np.ndarray, y: np.ndarray, folds: int = 5, max_iter: int = 400, seed: int = 0
) -> tuple[tuple[float, int, int, float], int, dict[str, Any]]:
    """Grid settings and tree count with the lowest mean K-fold nMSE of ``y`` (N,).

    Returns the settings, the number of trees, and every candidate's fold mean/std.
    """
    kf = KFold(folds, shuffle=True, random_state=seed)
    table: dict[str, Any] = {}
    best: tuple[float, tuple[float, int, int, float], int] = (float("inf"), GBDT_GRID[0], 1)
    for params in GBDT_GRID:
        curves = []  # (folds, max_iter) nMSE after each tree
        for tr, va in kf.split(x):
            m = _gbdt(params, max_iter).fit(x[tr], y[tr])
            var = float(np.var(y[va])) or 1.0
            curves.append([float(np.mean((p - y[va]) ** 2)) / var for p in m.staged_predict(x[va])])
        curve = np.asarray(curves)  # (folds, max_iter)
        n_best = int(np.argmin(curve.mean(axis=0))) + 1
        at = curve[:, n_best - 1]
        table[str(params)] = {
            "trees": n_best,
            "cv_nmse": round(float(at.mean()), 4),
            "cv_nmse_std": round(float(at.std()), 4),
        }
        if at.mean() < best[0]:
            best = (float(at.mean()), params, n_best)
    return best[1], best[2], table


class StrongFitter:
    """Fits both models once per split (shared by the three methods and the stacking)."""

    def __init__(self, folds: int = 5) -> None:
        self.folds = folds
        self._fits: dict[int, StrongFit] = {}

    def fit(self, split: DataSplit) -> StrongFit:
        """Fit (once per split object) and forecast val and test."""
        key = id(split)
        if key in self._fits:
            return self._fits[key]
        t0 = time.perf_counter()
        x_tr, y_tr = early_features(split.train), split.train.y_log()  # (N, F), (N, O)
        x_va, x_te = early_features(split.val), early_features(split.test)
        total = y_tr.shape[1] - 1
        params, trees, table = choose_gbdt(x_tr, y_tr[:, total], self.folds)
        gbdt = [_gbdt(params, trees).fit(x_tr, y_tr[:, j]) for j in range(y_tr.shape[1])]
        ridge: Pipeline = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
        ridge.fit(x_tr, y_tr)

        def floor(d: TaskData, p: np.ndarray) -> np.ndarray:
            return np.maximum(p, observed_floor(d))

        fit = StrongFit(
            gbdt_val=floor(split.val, np.stack([m.predict(x_va) for m in gbdt], axis=1)),
            gbdt_test=floor(split.test, np.stack([m.predict(x_te) for m in gbdt], axis=1)),
            ridge_val=floor(split.val, ridge.predict(x_va)),
            ridge_test=floor(split.test, ridge.predict(x_te)),
            info={
                "features": int(x_tr.shape[1]),
                "gbdt": {
                    "chosen": {
                        "learning_rate": params[0],
                        "max_leaf_nodes": params[1],
                        "min_samples_leaf": params[2],
                        "l2_regularization": params[3],
                        "trees": trees,
                    },
                    f"{self.folds}_fold_cv_on_train": table,
                },
                "ridge_alpha": float(ridge[-1].alpha_),
                "seconds": round(time.perf_counter() - t0, 1),
            },
        )
        logger.info(
            "strong features: gbdt %s x %d trees, ridge alpha %.3g",
            params,
            trees,
            fit.info["ridge_alpha"],
        )
        self._fits = {key: fit}  # one split at a time
        return fit


class StrongFeatures:
    """``kind``: the mean of both (``strong_features``), or one of them alone."""

    seeded = False

    def __init__(self, kind: str = "strong_features", fitter: StrongFitter | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown strong-features method {kind!r}; one of {KINDS}")
        self.name = kind
        self.kind = kind
        self.fitter = fitter or StrongFitter()

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        fit = self.fitter.fit(split)
        val, test = fit.forecast(self.kind)
        return MethodOutput(val, test, info=fit.info)
