"""Batched Ogata thinning: the time-rescaling theorem holds (KS at 1%) for the classical
and the full MHP intensity, the bound is valid under inhibition, seeds reproduce."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from m3tr.core.temporal.baselines import ClassicalHawkes
from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.batch_ops import append_events
from m3tr.core.temporal.thinning import simulate, simulate_one_at_a_time

from .conftest import compensator_increments, edge_sequences, tiny_mhp


def test_time_rescaling_classical_hawkes():
    model = ClassicalHawkes(2)
    model.set_params(
        torch.tensor([0.3, 0.2]),
        torch.tensor([[0.6, 0.3], [0.2, 0.5]]),
        torch.tensor([[2.0, 1.0], [1.5, 3.0]]),
    )
    empty = make_batch([EventSequence([], [], 0.0)] * 60, 2, 1.0)
    sim = simulate(model, empty, 10_000, t_stop=60.0, generator=torch.Generator().manual_seed(7))
    b = append_events(empty, sim.times, sim.types, sim.counts, t_end=torch.full((60,), 60.0))
    states = model.hawkes.states(b)
    inc = compensator_increments(b, lambda q, i: model.intensity_at(b, states, q))
    assert inc.size > 2000
    assert stats.kstest(inc, "expon").pvalue > 0.01


def test_time_rescaling_full_mhp_with_inhibition():
    model = tiny_mhp("mamba", negative=True)
    start = make_batch(edge_sequences(), 2, 3600.0)
    from m3tr.core.temporal.batch_ops import repeat_rows

    start = repeat_rows(start, 8)
    sim = simulate(model, start, 60, generator=torch.Generator().manual_seed(3))
    assert int(sim.counts.min()) == 60
    b = append_events(start, sim.times, sim.types, sim.counts)
    with torch.no_grad():
        hist = model.encode(b)
    # only the simulated part: intervals that start at or after the observation end
    inc_all = compensator_increments(b, lambda q, i: model.intensity(hist, q, i).total, n_nodes=32)
    mask = torch.zeros_like(b.mask)
    mask[:, :-1] = b.event_mask[:, 1:]
    sim_part = (b.times >= start.t_end[:, None])[mask].numpy()
    inc = inc_all[sim_part]
    assert inc.size >= 2000
    assert stats.kstest(inc, "expon").pvalue > 0.01


def test_bound_holds_on_a_fine_grid_with_negative_alpha():
    model = tiny_mhp("mamba", negative=True)
    with torch.no_grad():
        model.hawkes.alpha_raw.copy_(torch.tensor([[2.0, -3.0], [-1.5, 1.0]]))
    batch = make_batch(edge_sequences(), 2, 3600.0)
    with torch.no_grad():
        state = model.sim_init(batch)
        t0 = batch.t_end
        bound = model.sim_bound(state, t0)
        for dt in np.linspace(0, 30, 301):
            lam = model.sim_intensity(state, t0 + float(dt)).total.sum(-1)
            assert (lam <= bound * (1 + 1e-6)).all()


def test_same_seed_same_simulation_and_cold_start():
    model = tiny_mhp()
    batch = make_batch(edge_sequences(), 2, 3600.0)
    a = simulate(model, batch, 25, generator=torch.Generator().manual_seed(11))
    b = simulate(model, batch, 25, generator=torch.Generator().manual_seed(11))
    assert torch.equal(a.times, b.times) and torch.equal(a.types, b.types)
    assert torch.isfinite(a.times).all() and (a.counts == 25).all()
    # simulated events come after the window and are sorted
    assert (a.times >= batch.t_end[:, None]).all()
    assert (a.times.diff(dim=1) >= 0).all()


def test_one_at_a_time_sampler_agrees_in_distribution():
    model = ClassicalHawkes(1, init_mu=0.5, init_alpha=0.5, init_decay=1.0)
    empty = make_batch([EventSequence([], [], 0.0)] * 300, 1, 1.0)
    batched = simulate(model, empty, 1000, t_stop=10.0, generator=torch.Generator().manual_seed(0))
    loop = simulate_one_at_a_time(
        model,
        make_batch([EventSequence([], [], 0.0)] * 150, 1, 1.0),
        1000,
        10.0,
        torch.Generator().manual_seed(1),
    )
    counts_loop = np.array([len(t) for t, _ in loop])
    # mean count of a Hawkes with branching 0.5 on [0, 10]: about mu*T/(1-n) minus the warm-up
    assert stats.mannwhitneyu(batched.counts.numpy(), counts_loop).pvalue > 0.01
