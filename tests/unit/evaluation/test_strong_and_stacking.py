"""strong_features, the validation stack, trajectory-only retrieval: real fits on synthetic data."""

import numpy as np
import pytest
import torch

from m3tr.core.evaluation.methods.stacking import ridge_loo, stack
from m3tr.core.evaluation.methods.strong_features import StrongFeatures, StrongFitter
from m3tr.core.evaluation.methods.szabo_huberman import MeanBaseline
from m3tr.core.evaluation.methods.trajectory import top_by_trajectory
from m3tr.core.evaluation.repro import reproducible
from m3tr.core.task import metrics
from m3tr.core.task.splits import split_indices
from m3tr.core.training.data import DataSplit
from tests.unit.training.conftest import synthetic_task


@pytest.fixture
def split():
    task = synthetic_task(n=240)
    tr, va, te = split_indices(len(task), seed=1)
    return DataSplit(task.subset(tr), task.subset(va), task.subset(te))


def test_strong_features_beat_the_mean_and_share_one_fit(split):
    fitter = StrongFitter(folds=3)
    y = split.test.y_log()[:, -1]
    mean = metrics.score(y, MeanBaseline().run(split, 0).test_pred[:, -1]).nmse
    outs = {k: StrongFeatures(k, fitter).run(split, 0) for k in ("strong_features_gbdt",
                                                                 "strong_features_ridge",
                                                                 "strong_features")}  # fmt: skip
    for out in outs.values():
        assert metrics.score(y, out.test_pred[:, -1]).nmse < 0.8 * mean
    np.testing.assert_allclose(
        outs["strong_features"].test_pred,
        (outs["strong_features_gbdt"].test_pred + outs["strong_features_ridge"].test_pred) / 2,
    )
    info = outs["strong_features"].info
    assert info["gbdt"]["chosen"]["trees"] >= 1 and info["ridge_alpha"] > 0
    # never below what was observed
    floor = np.log1p(split.test.obs_counts.sum(1))
    assert (outs["strong_features"].test_pred[:, -1] >= floor - 1e-12).all()


def test_strong_features_are_deterministic(split):
    a = StrongFeatures().run(split, 0).test_pred
    b = StrongFeatures().run(split, 1).test_pred
    np.testing.assert_array_equal(a, b)


def test_ridge_loo_matches_refitting_without_each_row():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3 + rng.normal(0, 0.3, 30)
    f = ridge_loo(x, y, alphas=(0.7,))
    for i in (0, 7, 29):
        keep = np.arange(30) != i
        g = ridge_loo(x[keep], y[keep], alphas=(0.7,))
        assert f.loo[i] == pytest.approx(g.predict(x[i : i + 1])[0], rel=1e-9)


def test_stack_picks_the_better_forecast_by_leave_one_out():
    rng = np.random.default_rng(1)
    n, nt = 80, 50
    y = rng.normal(3, 1, size=(n + nt, 2))
    good = y + rng.normal(0, 0.2, size=y.shape)
    noise = rng.normal(3, 1, size=y.shape)
    floor = np.zeros_like(y)
    val, test, info = stack(
        y[:n], (noise[:n], noise[n:]), [(good[:n], good[n:])], floor[:n], floor[n:]
    )
    assert info["stack"] in ("features", "ridge_stack")
    assert info["stack_val_loo_nmse"]["model"] > 0.9
    assert np.mean((test - y[n:]) ** 2) < 0.1
    # the model alone wins when it is the good one and nothing else helps
    val, test, info = stack(y[:n], (good[:n], good[n:]), [(noise[:n], noise[n:])], floor[:n],
                            floor[n:])  # fmt: skip
    assert info["stack"] in ("model", "ridge_stack")
    assert abs(info["stack_weights_total"][0]) > 10 * abs(info["stack_weights_total"][1])


def test_trajectory_top_is_exact_and_reports_the_spread():
    bank = np.eye(4, dtype=np.float32)
    q = np.array([[0.9, 0.1, 0.0, -0.5]], dtype=np.float32)
    idx, raw, norm = top_by_trajectory(q, bank, 3)
    assert idx.tolist() == [[0, 1, 2]]
    assert raw[0].tolist() == pytest.approx([0.9, 0.1, 0.0])
    assert norm[0, 0] == pytest.approx(1.0) and norm[0, 2] == pytest.approx(0.5 / 1.4)


def test_reproducible_caps_threads_and_restores_them():
    before = torch.get_num_threads()
    with reproducible(1):
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with reproducible(0):
            pass
