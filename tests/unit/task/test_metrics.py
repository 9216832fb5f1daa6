"""App. K metrics against values computed by hand."""

import math

import numpy as np
import pytest

from m3tr.core.task import metrics


def test_nmse_mae_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    y_hat = np.array([1.5, 2.0, 2.0, 5.0])
    # squared errors 0.25, 0, 1, 1 -> mean 0.5625; Var(y) (ddof=0) = 1.25
    assert metrics.nmse(y, y_hat) == pytest.approx(0.5625 / 1.25)
    # absolute errors 0.5, 0, 1, 1 -> 0.625
    assert metrics.mae(y, y_hat) == pytest.approx(0.625)


def test_constant_mean_prediction_has_nmse_one():
    y = np.array([0.0, 1.0, 5.0, 2.0])
    assert metrics.nmse(y, np.full(4, y.mean())) == pytest.approx(1.0)


def test_src_by_hand_and_ties():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y_hat = np.array([2.0, 1.0, 4.0, 3.0, 5.0])
    # rank differences d = (1, -1, 1, -1, 0): 1 - 6 * 4 / (5 * 24) = 0.8
    assert metrics.src(y, y_hat) == pytest.approx(0.8)
    assert math.isnan(metrics.src(y, np.ones(5)))


def test_plcc_by_hand():
    y = np.array([1.0, 2.0, 3.0])
    y_hat = np.array([2.0, 2.0, 5.0])
    # centred y: (-1, 0, 1); centred y_hat: (-1, -1, 2); cov = 3, |y| = sqrt 2, |y_hat| = sqrt 6
    assert metrics.plcc(y, y_hat) == pytest.approx(3 / math.sqrt(2 * 6))


def test_batch_mean_averages_per_batch():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    y_hat = np.array([1.0, 3.0, 3.0, 3.0])
    # batch 1: y (1, 2), err^2 (0, 1), var 0.25 -> nmse 2; batch 2: y (3, 4), err^2 (0, 1) -> 2
    s = metrics.score_batch_mean(y, y_hat, batch=2)
    assert s.nmse == pytest.approx(2.0)
    assert s.mae == pytest.approx(0.5)
    # whole set: mean err^2 0.5, var 1.25 -> 0.4: the variants differ
    assert metrics.score(y, y_hat).nmse == pytest.approx(0.4)


def test_coverage_and_groups():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    lo = np.array([-1.0, 1.5, 1.0, 3.0])
    hi = np.array([1.0, 2.0, 2.0, 4.0])
    assert metrics.coverage(y, lo, hi) == pytest.approx(0.75)
    g = metrics.rank_groups(np.log1p([10.0, 1.0, 5.0]), np.log1p([8.0, 2.0, 5.0]), sizes=(1, 2))
    assert g["Top1"]["true_mean"] == pytest.approx(10.0)
    assert g["Top1"]["pred_mean"] == pytest.approx(8.0)
    assert g["Bottom2"]["true_mean"] == pytest.approx(3.0)
    assert g["Bottom2"]["pred_mean"] == pytest.approx(3.5)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.nmse(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        metrics.mae(np.array([1.0, np.nan]), np.ones(2))
