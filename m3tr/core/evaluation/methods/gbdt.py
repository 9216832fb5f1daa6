"""Gradient-boosted trees on early counts, inter-event statistics and content (HyFea-like).

Features per video: the count profile (cumulative counts per type at fixed fractions of T_obs),
statistics of the observed inter-event times, author/post side features, and the first
principal components of the semantic text vector R (PCA fitted on the training videos only).
One ``HistGradientBoostingRegressor`` per output, early-stopped on 10% of the training rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor

from m3tr.core.evaluation.methods.base import MethodOutput
from m3tr.core.training.data import DataSplit, TaskData
from m3tr.core.training.features import count_profile


def inter_event_stats(event_t: list[np.ndarray], obs_window_s: float) -> np.ndarray:
    """(N, 5): log1p of mean, median, min and std of inter-event gaps (s), and the burstiness
    (std - mean) / (std + mean) of the gaps; zeros where a video has fewer than 2 events."""
    out = np.zeros((len(event_t), 5), dtype=np.float32)
    for i, t in enumerate(event_t):
        if len(t) < 2:
            out[i, :4] = np.log1p(obs_window_s)
            continue
        gaps = np.diff(np.asarray(t, dtype=np.float64))  # (n - 1,)
        mean, std = float(gaps.mean()), float(gaps.std())
        out[i] = (
            np.log1p(mean),
            np.log1p(float(np.median(gaps))),
            np.log1p(float(gaps.min())),
            np.log1p(std),
            (std - mean) / (std + mean) if std + mean > 0 else 0.0,
        )
    return out


class GBDT:
    name = "gbdt"
    seeded = True

    def __init__(self, n_text_components: int = 16, max_iter: int = 500) -> None:
        self.n_text_components = n_text_components
        self.max_iter = max_iter
        self.pca: PCA | None = None
        self.models: list[HistGradientBoostingRegressor] = []

    def features(self, data: TaskData) -> np.ndarray:
        """(N, F) float32 feature matrix."""
        spec = data.spec
        parts = [
            count_profile(data.event_t, data.event_k, spec.num_types, spec.obs_window_s),
            inter_event_stats(data.event_t, spec.obs_window_s) if spec.obs_window_s > 0 else None,
            data.side,
        ]
        if self.pca is not None and data.content is not None:
            parts.append(self.pca.transform(data.content.R).astype(np.float32))
        return np.concatenate([p for p in parts if p is not None and p.shape[1]], axis=1)

    def fit(self, train: TaskData, val: TaskData, seed: int) -> GBDT:
        if train.content is not None and self.n_text_components > 0:
            k = min(self.n_text_components, len(train) - 1, train.content.R.shape[1])
            self.pca = PCA(n_components=k, random_state=seed).fit(train.content.R)
        x_tr, y_tr = self.features(train), train.y_log()
        self.models = []
        for j in range(y_tr.shape[1]):
            # early stopping on 10% of the training rows: the validation set stays untouched
            # for interval calibration
            m = HistGradientBoostingRegressor(
                learning_rate=0.05,
                max_iter=self.max_iter,
                max_leaf_nodes=15,
                min_samples_leaf=20,
                l2_regularization=1.0,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=30,
                random_state=seed,
            )
            m.fit(x_tr, y_tr[:, j])
            self.models.append(m)
        return self

    def predict(self, data: TaskData) -> np.ndarray:
        x = self.features(data)
        return np.stack([m.predict(x) for m in self.models], axis=1)

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        self.fit(split.train, split.val, seed)
        return MethodOutput(self.predict(split.val), self.predict(split.test))
