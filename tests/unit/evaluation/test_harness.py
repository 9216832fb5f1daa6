"""The harness and report on a synthetic split with fast methods: keys, seeds, honest intervals."""

import json

import numpy as np
import pytest

from m3tr.core.evaluation.harness import run_methods, summarise
from m3tr.core.evaluation.methods.gbdt import GBDT
from m3tr.core.evaluation.methods.knn import NeighbourMean
from m3tr.core.evaluation.methods.szabo_huberman import MeanBaseline, SzaboHuberman
from m3tr.core.evaluation.report import write_report
from m3tr.core.task.splits import split_indices
from m3tr.core.training.data import DataSplit
from tests.unit.training.conftest import synthetic_task


@pytest.fixture
def split():
    task = synthetic_task(n=200)
    tr, va, te = split_indices(len(task), seed=1)
    return DataSplit(task.subset(tr), task.subset(va), task.subset(te))


def test_splits_are_disjoint_and_deterministic():
    a = split_indices(101, seed=3)
    b = split_indices(101, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(101))
    assert (len(a[1]), len(a[2])) == (10, 10)


def test_szabo_huberman_recovers_a_log_linear_law(split):
    sh = SzaboHuberman().fit(split.train)
    # synthetic growth is multiplicative in the early count: slope near 1 on the total
    assert 0.7 < sh.coef[-1, 1] < 1.3
    assert (sh.predict(split.test) >= np.log1p(split.test.obs_counts.sum(1))[:, None].min()).all()


def test_report_has_the_required_fields(split, tmp_path):
    methods = [SzaboHuberman(), MeanBaseline(), GBDT(max_iter=20), NeighbourMean("knn", candidates=(5,))]
    result = run_methods(split, methods, seeds=[0, 1])
    summary = summarise(result)
    meta = {"dataset": "synthetic", "split": {"kind": "test"}, "seeds": [0, 1], "notes": []}
    write_report(result, summary, meta, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_train"] == len(split.train) and report["n_test"] == len(split.test)
    for name in ("szabo_huberman", "mean", "gbdt", "knn"):
        m = report["methods"][name]
        for key in (
            "nmse",
            "src",
            "plcc",
            "mae",
            "coverage",
            "batch_mean_256",
            "per_type",
            "rank_groups",
        ):
            assert key in m
        assert set(m["per_type"]) == {"repost", "comment", "total"}
    assert report["methods"]["gbdt"]["seeds"] == [0, 1]  # seeded: both seeds ran
    assert report["methods"]["mean"]["seeds"] == [0]
    # the mean forecast has nMSE close to 1 and the early-count law beats it
    assert report["methods"]["szabo_huberman"]["nmse"] < 0.5 < report["methods"]["mean"]["nmse"]
    assert 0.5 < report["methods"]["szabo_huberman"]["coverage"] <= 1.0
    text = (tmp_path / "report.md").read_text()
    assert "nMSE = mean((y - y_hat)^2) / Var(y)" in text
    assert (tmp_path / "scatter.png").stat().st_size > 0


def test_separate_test_set_is_scored_whole_with_ids_apart_from_the_bank():
    from m3tr.core.evaluation.run import make_split

    train, test = synthetic_task(n=50, seed=1), synthetic_task(n=20, seed=2)
    split, desc = make_split(train, test)
    assert len(split.train) + len(split.val) == 50 and len(split.test) == 20
    assert set(split.test.video_ids).isdisjoint(set(split.train.video_ids))
    assert "--test" in desc["kind"]
