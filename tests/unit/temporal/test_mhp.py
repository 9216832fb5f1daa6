"""The MHP intensity: causal, finite on awkward input, consistent step vs whole sequence,
and an unbiased compensator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.likelihood import mc_integral
from m3tr.core.temporal.mhp import gauss_legendre_integrals

from .conftest import edge_sequences, tiny_mhp


@pytest.mark.parametrize("context", ["mamba", "gru"])
def test_loglik_finite_on_edge_cases_and_backward_runs(context, edge_batch):
    model = tiny_mhp(context).train()
    ll = model.loglik(edge_batch, n_mc=2, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(ll.loglik).all()
    ll.nll_per_event().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_intensity_is_causal():
    """lambda(t_i) must not change when event i, or anything after it, changes."""
    model = tiny_mhp()
    base = EventSequence([600.0, 1200.0, 1800.0], [0, 1, 0], 3600.0)
    alt = EventSequence([600.0, 1200.0, 1800.0, 1800.0, 2000.0], [0, 1, 1, 1, 0], 3600.0)
    b = make_batch([base, alt], 2, 3600.0)
    with torch.no_grad():
        lam = model.intensity(model.encode(b), b.times).total  # (B, L+1, K)
    torch.testing.assert_close(lam[0, 1:4], lam[1, 1:4])


def test_simultaneous_events_do_not_see_each_other():
    model = tiny_mhp()
    b = make_batch([EventSequence([60.0, 60.0, 60.0], [0, 1, 0], 100.0)], 2, 3600.0)
    with torch.no_grad():
        lam = model.intensity(model.encode(b), b.times).total[0]
    torch.testing.assert_close(lam[1], lam[2])
    torch.testing.assert_close(lam[1], lam[3])


@pytest.mark.parametrize("context", ["mamba", "gru"])
def test_stepwise_simulation_state_matches_whole_sequence(context):
    model = tiny_mhp(context)
    seqs = edge_sequences()
    full = make_batch(seqs, 2, 3600.0)
    first = make_batch([s.window(float(s.times_s[0]) if len(s) else 0.0) for s in seqs], 2, 3600.0)
    with torch.no_grad():
        state = model.sim_init(first)
        hist = model.encode(full)
        for j in range(full.max_len):
            acc = torch.tensor([j < len(s) for s in seqs])
            t = torch.where(acc, full.times[:, min(j + 1, full.max_len)], state.t_last)
            k = torch.where(acc, full.types[:, min(j + 1, full.max_len)], 0).clamp(max=1)
            state = model.sim_append(state, t, k, acc)
        q = full.t_end + 0.25
        a = model.sim_intensity(state, q)
        b = model.intensity(hist, q[:, None])
    # fp32 times near 8,000 h (the huge-gap sequence) resolve ~1e-3 h: a loose-ish tolerance
    torch.testing.assert_close(a.total, b.total[:, 0], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(a.correction, b.correction[:, 0], rtol=1e-3, atol=1e-4)


def test_mc_integral_unbiased_on_known_function():
    """Stratified MC of int_0^L exp(-t) over many draws averages to 1 - exp(-L)."""
    g = torch.Generator().manual_seed(0)
    length = torch.tensor([0.5, 2.0, 7.0])
    est = torch.stack(
        [
            mc_integral(lambda t: torch.exp(-t)[..., None], torch.zeros(3), length, 1, g)[:, 0]
            for _ in range(4000)
        ]
    )
    exact = 1 - torch.exp(-length)
    se = est.std(0) / math.sqrt(est.shape[0])
    assert ((est.mean(0) - exact).abs() < 4 * se + 1e-6).all()


def test_mhp_compensator_mc_matches_quadrature():
    model = tiny_mhp()
    b = make_batch(edge_sequences()[1:], 2, 3600.0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        hist = model.encode(b)
        quad = gauss_legendre_integrals(lambda q, i: model.intensity(hist, q, i).total, b, 48).sum(
            -1
        )
        mc = torch.stack([model.loglik(b, n_mc=4, generator=g).compensator for _ in range(200)])
    se = mc.std(0) / math.sqrt(mc.shape[0])
    assert ((mc.mean(0) - quad).abs() <= 4 * se + 1e-4 * quad.abs()).all()


def test_cold_start_intensity_is_baseline_modulated():
    model = tiny_mhp()
    b = make_batch([EventSequence([], [], 7200.0)], 2, 3600.0)
    with torch.no_grad():
        parts = model.intensity(model.encode(b), torch.tensor([[0.5, 1.5]]))
    torch.testing.assert_close(parts.hawkes[0, 0], model.hawkes.mu.detach())
    assert (parts.correction.abs() <= model.f_max().detach() + 1e-6).all()
    assert np.isfinite(parts.total.numpy()).all()
