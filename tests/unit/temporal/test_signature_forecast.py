"""Signatures (fixed length, cold start), forecasts (shapes, monotone quantiles, decomposition),
the model interface and checkpoints."""

from __future__ import annotations

import numpy as np
import torch

from m3tr.core.temporal import (
    EventSequence,
    MHPConfig,
    MHPModel,
    TrainConfig,
    build_model,
    load_mhp,
    make_batch,
    save_mhp,
    temporal_signature,
)
from m3tr.core.temporal.baselines import PadMaskSignature

from .conftest import edge_sequences, tiny_mhp


def test_signature_has_fixed_length_and_flags_cold_start():
    model = tiny_mhp()
    seqs = edge_sequences()
    sig = temporal_signature(model, seqs, length=16, generator=torch.Generator().manual_seed(0))
    assert sig.X.shape == (5, 16, 16) and sig.pooled.shape == (5, 16)
    assert torch.isfinite(sig.X).all() and torch.isfinite(sig.pooled).all()
    assert sig.cold_start.tolist() == [True, False, False, False, False]
    assert (sig.n_observed + sig.n_simulated == 16).all()
    assert sig.n_observed.tolist() == [0, 1, 4, 4, 16]  # the ordinary one is cut to 16
    torch.testing.assert_close(sig.pooled, sig.X.mean(1))
    again = temporal_signature(model, seqs, length=16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sig.X, again.X)


def test_pad_mask_signature_uses_observed_events_only():
    model = tiny_mhp()
    x, pooled, mask = PadMaskSignature(model).signature(make_batch(edge_sequences(), 2, 3600.0), 8)
    assert x.shape == (5, 8, 16) and mask.sum(1).tolist() == [0, 1, 4, 4, 8]
    assert (x[0] == 0).all() and torch.isfinite(pooled).all()


def test_forecast_shapes_quantiles_and_decomposition():
    m = MHPModel(MHPConfig(n_types=2, d_model=8, d_state=2, n_layers=1, dt_rank=2))
    m.module.load_state_dict(tiny_mhp_state())
    seq = EventSequence([60.0, 120.0, 600.0, 4000.0], [0, 1, 0, 1], 7200.0)
    fc = m.forecast(seq, t_obs_s=3600.0, horizon_s=4 * 3600.0, n_paths=64, grid_size=20, seed=1)
    assert fc.cumulative_quantiles.shape == (3, 2, 20) and fc.final_quantiles.shape == (3, 2)
    assert fc.observed_counts.tolist() == [2, 1]  # the event at 4000 s is after T_obs
    assert (np.diff(fc.cumulative_quantiles, axis=0) >= 0).all()  # q10 <= q50 <= q90
    assert (np.diff(fc.cumulative_quantiles, axis=2) >= 0).all()  # cumulative
    assert (fc.final_quantiles[0] >= fc.observed_counts).all()
    np.testing.assert_allclose(
        fc.intensity_total - fc.intensity_hawkes, fc.intensity_correction, atol=1e-5
    )
    assert np.isfinite(fc.intensity_total).all() and fc.grid_s[-1] == 4 * 3600.0


def tiny_mhp_state():
    torch.manual_seed(0)
    from m3tr.core.temporal.mhp import MHP

    model = MHP(MHPConfig(n_types=2, d_model=8, d_state=2, n_layers=1, dt_rank=2))
    with torch.no_grad():
        model.f_head.weight.normal_(0, 0.5)
        model.hawkes.alpha_raw.copy_(torch.tensor([[1.0, -0.5], [0.5, 0.8]]))
    return model.state_dict()


def test_models_fit_and_score_simulated_data(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [
        EventSequence(np.sort(rng.uniform(0, 7200, 30)), rng.integers(0, 2, 30), 7200.0)
        for _ in range(12)
    ]
    scores = {}
    for name in ("poisson", "classical_hawkes", "mhp", "neural_hawkes"):
        small = dict(d_model=8, d_state=2, n_layers=1, dt_rank=2)
        model = build_model(name, 2, **(small if name in ("mhp", "neural_hawkes") else {}))
        model.fit(seqs, TrainConfig(epochs=2, batch_size=6, warm_start=False))
        scores[name] = model.loglik(seqs).per_event
    assert all(np.isfinite(v) for v in scores.values())


def test_checkpoint_roundtrip(tmp_path):
    model = tiny_mhp()
    save_mhp(model, tmp_path / "m1")
    loaded = load_mhp(tmp_path / "m1")
    b = make_batch(edge_sequences(), 2, 3600.0)
    with torch.no_grad():
        a = model.loglik(b, n_mc=2, generator=torch.Generator().manual_seed(0)).loglik
        c = loaded.loglik(b, n_mc=2, generator=torch.Generator().manual_seed(0)).loglik
    torch.testing.assert_close(a, c)
