"""The sparse text ridge, the content-retrieval forecast's S chosen on validation, and which
companions each fusion variant is stacked with: real fits on small Chinese-text data."""

import numpy as np
import pytest

from m3tr.core.evaluation.methods.knn import NeighbourMean
from m3tr.core.evaluation.methods.strong_features import StrongFitter
from m3tr.core.evaluation.methods.szabo_huberman import MeanBaseline
from m3tr.core.evaluation.methods.text_ridge import TextFitter, TextRidge
from m3tr.core.evaluation.run import build_methods
from m3tr.core.task import metrics
from m3tr.core.task.spec import TaskSpec
from m3tr.core.task.splits import split_indices
from m3tr.core.training.content import ContentArrays
from m3tr.core.training.data import DataSplit, TaskData
from tests.unit.training.conftest import synthetic_task

TOPICS = (("猫咪", 1.0), ("足球比赛", 3.0), ("股市新闻", 5.0))
FILLER = "的了是在我有他这中大来上个国到说们为子和你地出道也时年"


def titled_task(n: int = 300, noise: float = 1.0, seed: int = 0) -> TaskData:
    """Title-only items (MicroLens-like): log1p label = the topic word's level + noise."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, len(TOPICS), n)
    texts = [
        "".join(rng.choice(list(FILLER), 4)) + TOPICS[t][0] + "".join(rng.choice(list(FILLER), 3))
        for t in topic
    ]
    level = np.array([TOPICS[t][1] for t in topic]) + rng.normal(0, noise, n)
    R = np.eye(len(TOPICS))[topic] + 0.01 * rng.normal(size=(n, len(TOPICS)))
    R = (R / np.linalg.norm(R, axis=1, keepdims=True)).astype(np.float32)
    empty_t, empty_k = np.zeros(0, np.float64), np.zeros(0, np.int64)
    return TaskData(
        spec=TaskSpec(obs_window_s=0.0, horizon_s=float("inf"), event_types=("comment",)),
        video_ids=np.arange(n, dtype=np.int64),
        keys=[f"t{i}" for i in range(n)],
        texts=texts,
        event_t=[empty_t] * n,
        event_k=[empty_k] * n,
        targets=np.round(np.expm1(np.maximum(level, 0)))[:, None].astype(np.int64),
        side=np.zeros((n, 0), np.float32),
        content=ContentArrays(
            R=R,
            text=R[:, None, :].copy(),
            text_mask=np.ones((n, 1), bool),
            av=np.zeros((n, 1, 2), np.float32),
            av_mask=np.zeros((n, 1), bool),
            profile_version="test",
        ),
    )


def split_of(task: TaskData) -> DataSplit:
    tr, va, te = split_indices(len(task), seed=1)
    return DataSplit(task.subset(tr), task.subset(va), task.subset(te))


def test_text_ridge_reads_chinese_words_and_is_deterministic():
    split = split_of(titled_task(noise=0.3))
    y = split.test.y_log()[:, -1]
    mean = metrics.score(y, MeanBaseline().run(split, 0).test_pred[:, -1]).nmse
    out = TextRidge().run(split, 0)
    assert metrics.score(y, out.test_pred[:, -1]).nmse < 0.25 * mean
    assert out.info["text_alpha"] in (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    np.testing.assert_array_equal(out.test_pred, TextRidge().run(split, 5).test_pred)


def test_text_ridge_uses_side_features_and_floors_at_the_observed_count():
    split = split_of(synthetic_task(n=240))
    fit = TextFitter(folds=3).fit(split)
    assert fit.info["text_features"] > 2  # n-grams of "topic k" and the two side columns
    floor = np.log1p(split.test.obs_counts.sum(1))
    assert (fit.test[:, -1] >= floor - 1e-12).all()
    assert len(fit.pairs()) == 1 and fit.pairs()[0][1] is fit.test


def test_neighbour_mean_chooses_more_neighbours_when_labels_are_noisy():
    split = split_of(titled_task(n=600, noise=1.5))
    out = NeighbourMean("content_only_retrieval").run(split, 0)
    by_s = {int(s): e for s, e in out.info["val_nmse_by_s"].items()}
    assert out.info["top_s"] == min(by_s, key=by_s.get)
    assert out.info["top_s"] > 10  # same-topic neighbours: averaging more of them helps
    with pytest.raises(ValueError, match="S must be"):
        NeighbourMean(candidates=(0,))


def test_no_temporal_is_stacked_without_events_and_m3tr_with_them():
    split = split_of(synthetic_task(n=120))
    methods = {
        m.name: m
        for m in build_methods(["m3tr", "no_temporal", "text_ridge"], split, 1, content_only=False)
    }
    text = methods["text_ridge"].fitter
    assert methods["no_temporal"].stack_with == (text,)
    kinds = [type(c) for c in methods["m3tr"].stack_with]
    assert kinds == [StrongFitter, TextFitter] and methods["m3tr"].stack_with[1] is text
    assert build_methods(["m3tr"], split, 1, content_only=False, stack=False)[0].stack_with == ()
