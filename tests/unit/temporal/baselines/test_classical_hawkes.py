"""Classical Hawkes: maximum likelihood recovers the parameters of simulated data;
the closed-form compensator agrees with quadrature."""

from __future__ import annotations

import torch

from m3tr.core.temporal.baselines import ClassicalHawkes, HomogeneousPoisson
from m3tr.core.temporal.baselines.classical_hawkes import branching_ratio
from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.batch_ops import append_events
from m3tr.core.temporal.mhp import gauss_legendre_integrals
from m3tr.core.temporal.thinning import simulate

MU = torch.tensor([0.3, 0.2])
ALPHA = torch.tensor([[0.6, 0.3], [0.2, 0.5]])
DECAY = torch.tensor([[2.0, 1.0], [1.5, 3.0]])


def simulated(n_seq: int = 200, horizon: float = 100.0, seed: int = 0):
    true = ClassicalHawkes(2)
    true.set_params(MU, ALPHA, DECAY)
    empty = make_batch([EventSequence([], [], 0.0)] * n_seq, 2, 1.0)
    sim = simulate(
        true, empty, 100_000, t_stop=horizon, generator=torch.Generator().manual_seed(seed)
    )
    end = torch.full((n_seq,), horizon)
    return true, append_events(empty, sim.times, sim.types, sim.counts, t_end=end)


def test_mle_recovers_parameters():
    true, batch = simulated()
    assert branching_ratio(true) < 1
    fit = ClassicalHawkes(2)
    fit.fit_batch(batch)
    h = fit.hawkes
    # ~17,000 events: tolerances are a few standard errors
    torch.testing.assert_close(h.mu.detach(), MU, rtol=0.15, atol=0.0)
    torch.testing.assert_close(h.alpha.detach(), ALPHA, rtol=0.0, atol=0.12)
    torch.testing.assert_close(h.decay.detach(), DECAY, rtol=0.35, atol=0.0)
    # the fitted model explains the data at least as well as the truth
    assert fit.loglik(batch).loglik.sum() >= true.loglik(batch).loglik.sum() - 1e-3


def test_closed_form_compensator_matches_quadrature():
    true, batch = simulated(n_seq=5, horizon=20.0, seed=1)
    with torch.no_grad():
        states = true.hawkes.states(batch)
        quad = gauss_legendre_integrals(lambda q, i: true.intensity_at(batch, states, q), batch, 32)
        torch.testing.assert_close(
            true.loglik(batch).compensator, quad.sum(-1), rtol=1e-4, atol=1e-4
        )


def test_poisson_mle_is_count_over_time():
    batch = make_batch([EventSequence([0.5, 1.0, 1.5], [0, 0, 1], 3.0)], 2, 1.0)
    p = HomogeneousPoisson(2)
    p.fit_batch(batch)
    torch.testing.assert_close(p.rate.detach(), torch.tensor([2 / 3, 1 / 3]))
    ll = p.loglik(batch)
    expected = 2 * torch.log(torch.tensor(2 / 3)) + torch.log(torch.tensor(1 / 3)) - 3.0
    torch.testing.assert_close(ll.loglik[0], expected)
