"""Trajectory signatures cover the whole observation window, and the fitted transform makes
trajectory scores discriminate (centred, whitened, saved with the checkpoint)."""

from __future__ import annotations

import numpy as np
import torch

from m3tr.core.temporal import load_mhp, save_mhp
from m3tr.core.temporal.batch import EventSequence
from m3tr.core.temporal.trajectory import (
    TrajectoryTransform,
    fit_trajectory_transform,
    trajectory_features,
    trajectory_vectors,
    vector_dim,
)

from .conftest import tiny_mhp

T_OBS = 3600.0


def _windows(n: int, seed: int = 0) -> list[EventSequence]:
    """Windows with rates from 5 to 500 events per hour and early or late bursts."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        m = int(rng.integers(5, 500))
        late = rng.random() < 0.5
        t = np.sort(rng.beta(4 if late else 1, 1 if late else 4, m) * T_OBS)
        out.append(EventSequence(t, rng.integers(0, 2, m), T_OBS, i))
    return out


def test_signature_sees_events_after_the_first_L():
    model = tiny_mhp()
    first = np.linspace(10.0, 600.0, 40)
    a = EventSequence(first, np.zeros(40, dtype=np.int64), T_OBS)
    later = np.concatenate([first, np.linspace(1800.0, 3500.0, 300)])
    b = EventSequence(later, np.zeros(340, dtype=np.int64), T_OBS)
    feats = trajectory_features(model, [a, b], T_OBS, length=16)
    assert feats.X.shape == (2, 16, 16) and feats.n_events.tolist() == [40, 340]
    # the same first 40 events: equal early rows, different rows once the later events start
    np.testing.assert_allclose(feats.X[0, :4], feats.X[1, :4], atol=1e-5)
    assert np.abs(feats.X[0, -1] - feats.X[1, -1]).max() > 1e-3
    assert np.isfinite(feats.raw).all()


def test_transform_makes_top10_scores_spread_and_is_saved(tmp_path):
    model = tiny_mhp()
    bank = _windows(120)
    raw_vectors, feats = trajectory_vectors(model, bank, T_OBS)  # no transform yet: raw, L2
    raw_cos = raw_vectors @ raw_vectors.T
    fit_trajectory_transform(model, bank, T_OBS, dim=16)
    vectors, _ = trajectory_vectors(model, bank, T_OBS)
    assert vectors.shape == (120, 16) and vector_dim(model) == 16
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cos = vectors @ vectors.T

    def top10_spread(c: np.ndarray) -> float:
        np.fill_diagonal(c, -np.inf)
        top = np.sort(c, axis=1)[:, -10:]
        return float(np.median(top[:, -1] - top[:, 0]))

    # raw vectors share one big mean: every top-10 score is about the same (~1)
    assert top10_spread(raw_cos.copy()) < top10_spread(cos.copy())
    assert top10_spread(cos.copy()) > 0.05
    # the transform travels with the checkpoint and gives the same vectors after loading
    save_mhp(model, tmp_path / "ckpt")
    loaded = load_mhp(tmp_path / "ckpt")
    assert isinstance(loaded.trajectory_transform, TrajectoryTransform)
    again, _ = trajectory_vectors(loaded, bank[:5], T_OBS)
    np.testing.assert_allclose(again, vectors[:5], atol=1e-5)


def test_long_window_is_signed_whole():
    model = tiny_mhp()
    n = 20_000
    rng = np.random.default_rng(1)
    seq = EventSequence(np.sort(rng.uniform(0, T_OBS, n)), rng.integers(0, 2, n), T_OBS)
    with torch.no_grad():
        feats = trajectory_features(model, [seq, EventSequence([], [], T_OBS)], T_OBS)
    assert feats.n_events.tolist() == [n, 0] and feats.cold_start.tolist() == [False, True]
    assert np.isfinite(feats.X).all()
