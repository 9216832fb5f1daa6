"""``text_ridge``: a ridge regression on the full sparse TF-IDF of the text and the author/post
side features, fitted on the training rows. It sees no events.

The honest bar for the content path: a linear model on the same texts, without any reduction.
Features: sublinear TF-IDF of character 2-4-grams inside word boundaries (``char_wb``) and of
word 1-2-grams, each L2-normalised over the training texts' vocabulary (an n-gram must occur in
at least two training texts), then the side features standardised on the training rows
(followers, friends, ... where the dataset has them). ``alpha`` by K-fold cross-validation over
the training rows on the total (validation and test never choose anything); one alpha for every
output. Deterministic, so the method is not seeded.

One :class:`TextFitter` fits once per split; the ``text_ridge`` method and the fusion variants'
stacking (``stacking.stack``) share it. ``no_temporal`` is stacked with this model alone, so
that ablation sees no events at all.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler, normalize

from m3tr.core.evaluation.methods.base import MethodOutput, observed_floor
from m3tr.core.training.data import DataSplit, TaskData

logger = logging.getLogger(__name__)

TEXT_ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
ANALYZERS = (("char_wb", (2, 4)), ("word", (1, 2)))


@dataclass
class TextFit:
    """One split's val/test forecasts (N, O) log1p, floored at what was observed."""

    val: np.ndarray
    test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (val, test) forecast pairs a stack combines (one here)."""
        return [(self.val, self.test)]


class TextFeatures:
    """The sparse features of a split: TF-IDF vocabularies and side scaling fitted on train."""

    def __init__(self, train: TaskData) -> None:
        n = len(train)
        min_df = 2 if n >= 8 else 1
        self.vectorizers = [
            TfidfVectorizer(analyzer=a, ngram_range=r, sublinear_tf=True, min_df=min_df)
            for a, r in ANALYZERS
        ]
        for v in self.vectorizers:
            try:
                v.fit(train.texts)
            except ValueError:  # no n-gram in any training text: this block stays empty
                v.vocabulary_ = {}
        self.scaler = StandardScaler().fit(train.side) if train.side.shape[1] else None

    def transform(self, d: TaskData) -> sp.csr_matrix:
        """(N, V + F) sparse features of ``d``'s rows."""
        blocks = [
            normalize(v.transform(d.texts))
            for v in self.vectorizers
            if getattr(v, "vocabulary_", None)
        ]
        text = sp.hstack(blocks).tocsr() if blocks else sp.csr_matrix((len(d), 0))
        text = normalize(text)  # (N, V): one unit row per text (zero where no known n-gram)
        if self.scaler is None:
            return text
        side = sp.csr_matrix(self.scaler.transform(d.side))  # (N, F)
        return sp.hstack([text, side]).tocsr()


def choose_alpha(x: sp.csr_matrix, y: np.ndarray, folds: int) -> tuple[float, dict[str, float]]:
    """The alpha of least K-fold nMSE on (x, y) over the training rows, and the table."""
    table: dict[str, float] = {}
    splits = list(KFold(folds, shuffle=True, random_state=0).split(np.arange(x.shape[0])))
    var = float(np.var(y)) or 1.0
    for a in TEXT_ALPHAS:
        err = 0.0
        for fit_idx, hold in splits:
            pred = Ridge(alpha=a).fit(x[fit_idx], y[fit_idx]).predict(x[hold])
            err += float(np.sum((pred - y[hold]) ** 2))
        table[str(a)] = round(err / len(y) / var, 4)
    best = min(TEXT_ALPHAS, key=lambda a: table[str(a)])
    return best, table


class TextFitter:
    """Fits the text ridge once per split (shared by ``text_ridge`` and the stacking)."""

    def __init__(self, folds: int = 5) -> None:
        self.folds = folds
        self._fits: dict[int, TextFit] = {}

    def fit(self, split: DataSplit) -> TextFit:
        key = id(split)
        if key in self._fits:
            return self._fits[key]
        t0 = time.perf_counter()
        feats = TextFeatures(split.train)
        x_tr = feats.transform(split.train)  # (N, V + F)
        y_tr = split.train.y_log()  # (N, O)
        alpha, table = choose_alpha(x_tr, y_tr[:, -1], min(self.folds, len(y_tr)))
        model = Ridge(alpha=alpha).fit(x_tr, y_tr)

        def forecast(d: TaskData) -> np.ndarray:
            pred = np.asarray(model.predict(feats.transform(d)), np.float64).reshape(len(d), -1)
            return np.maximum(pred, observed_floor(d))  # (N, O)

        fit = TextFit(
            forecast(split.val),
            forecast(split.test),
            info={
                "text_features": int(x_tr.shape[1]),
                "text_alpha": alpha,
                f"text_{self.folds}_fold_cv_nmse_on_train": table,
                "text_seconds": round(time.perf_counter() - t0, 1),
            },
        )
        logger.info("text ridge: %d features, alpha %g, %s", x_tr.shape[1], alpha, table)
        self._fits = {key: fit}  # one split at a time
        return fit


class TextRidge:
    """The ``text_ridge`` method: the fitter's forecasts."""

    seeded = False
    name = "text_ridge"

    def __init__(self, fitter: TextFitter | None = None) -> None:
        self.fitter = fitter or TextFitter()

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        fit = self.fitter.fit(split)
        return MethodOutput(fit.val, fit.test, info=fit.info)
