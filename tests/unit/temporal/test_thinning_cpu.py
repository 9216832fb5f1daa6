"""The compiled MHP thinning kernel against the model's own PyTorch sim_* methods: the same
paths and probe intensities from the same draws, and the time-rescaling theorem on its paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from m3tr.core.temporal import thinning_cpu
from m3tr.core.temporal.batch import make_batch
from m3tr.core.temporal.batch_ops import append_events, repeat_rows
from m3tr.core.temporal.state_ops import map_rows
from m3tr.core.temporal.thinning import simulate_from, thinning_backend

from .conftest import compensator_increments, edge_sequences, tiny_mhp

pytestmark = pytest.mark.skipif(not thinning_cpu.available(), reason="numba is not installed")


def _reference(model, state, t0, stop, n_events, draws, probe):  # noqa: ANN001, ANN202
    """One path at a time through the model's PyTorch sim_* methods, consuming ``draws``
    (3, B, J) as the kernel does: (times, types, probe intensities (G, K)) per path."""
    out = []
    for b in range(t0.shape[0]):
        st = map_rows(lambda x, b=b: x[b : b + 1], state)
        t, ts, ks, j = float(t0[b]), [], [], 0
        read = np.full((probe.shape[0], model.n_types), np.nan)
        nxt = int(torch.searchsorted(probe, torch.tensor(t)))
        while len(ts) < n_events and t < stop:
            bound = float(model.sim_bound(st, torch.tensor([t]))[0])
            t += float(draws[0, b, j]) / bound
            while nxt < probe.shape[0] and float(probe[nxt]) <= min(t, stop):
                read[nxt] = model.sim_intensity(st, probe[nxt : nxt + 1]).total[0].numpy()
                nxt += 1
            lam = model.sim_intensity(st, torch.tensor([t])).total[0].double()  # (K,)
            total = float(lam.sum())
            if t < stop and float(draws[1, b, j]) * bound <= total:
                k = int((lam.cumsum(0) <= float(draws[2, b, j]) * total).sum())
                k = min(k, model.n_types - 1)
                st = model.sim_append(
                    st, torch.tensor([t]), torch.tensor([k]), torch.tensor([True])
                )
                ts.append(t)
                ks.append(k)
            j += 1
        for g in range(nxt, probe.shape[0]):  # the last state holds after the event cap
            read[g] = model.sim_intensity(st, probe[g : g + 1]).total[0].numpy()
        out.append((ts, ks, read))
    return out


@torch.no_grad()
def test_kernel_follows_the_pytorch_methods_draw_for_draw():
    model = tiny_mhp("mamba", negative=True)  # 2 layers, inhibition
    batch = make_batch(edge_sequences()[:3], 2, 3600.0)
    state = model.sim_init(batch)
    assert thinning_backend(model, state) == "cpu_kernel"
    probe = torch.linspace(0.0, 20.0, 21)
    sim = simulate_from(
        model, state, batch.t_end, 12, 20.0, torch.Generator().manual_seed(5), probe=probe,
        backend="cpu_kernel",
    )  # fmt: skip
    draws = thinning_cpu.draw_block(torch.Generator().manual_seed(5), batch.batch_size)
    ref = _reference(model, state, batch.t_end, 20.0, 12, draws, probe)
    assert int(sim.counts.sum()) >= 8
    for b, (ts, ks, read) in enumerate(ref):
        n = int(sim.counts[b])
        assert n == len(ts)
        np.testing.assert_allclose(sim.times[b, :n].numpy(), ts, rtol=1e-5)
        assert sim.types[b, :n].tolist() == ks
        np.testing.assert_allclose(sim.probe_total[b].numpy(), read, rtol=1e-4, atol=1e-6)


@torch.no_grad()
def test_kernel_paths_pass_time_rescaling():
    model = tiny_mhp("mamba", negative=True)
    start = repeat_rows(make_batch(edge_sequences(), 2, 3600.0), 8)
    state = model.sim_init(start)
    gen = torch.Generator().manual_seed(3)
    sim = simulate_from(model, state, start.t_end, 60, generator=gen, backend="auto")
    assert int(sim.counts.min()) == 60
    b = append_events(start, sim.times, sim.types, sim.counts)
    hist = model.encode(b)
    inc_all = compensator_increments(b, lambda q, i: model.intensity(hist, q, i).total, n_nodes=32)
    mask = torch.zeros_like(b.mask)
    mask[:, :-1] = b.event_mask[:, 1:]
    inc = inc_all[(b.times >= start.t_end[:, None])[mask].numpy()]
    assert inc.size >= 2000
    assert stats.kstest(inc, "expon").pvalue > 0.01


def test_other_models_keep_the_pytorch_loop():
    gru = tiny_mhp("gru")
    state = gru.sim_init(make_batch(edge_sequences()[:1], 2, 3600.0))
    assert thinning_backend(gru, state) == "torch"


def test_warm_up_runs_the_kernel_on_a_tiny_model():
    # what `m3tr serve` and `m3tr worker` run in a background thread at start
    assert thinning_cpu.warm_up() > 0.0
