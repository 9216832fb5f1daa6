"""The zero-input-slot readout equals the step-by-step readout it replaced (fp32, 1e-5), with
1, 2 and 3 layers: h(t) and intensities between events (whole and streamed), the
log-likelihood, and a thinning path with a fixed generator. The reference below is written
from the equations (per-slot states by stepping the recurrence, then decay and read):

    state(t) = exp(A rate_i min(t - t_i, max_step)) state_i
    h(t) = norm(x_i + out_proj((C_i . state(t) + D u_i) silu(z_i)))
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from m3tr.core.temporal.batch import make_batch
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.likelihood import interval_bounds, last_index_before, stratified_points
from m3tr.core.temporal.mamba import LayerCache
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.query_slots import merge_queries
from m3tr.core.temporal.scan import selective_scan, selective_scan_queries, selective_scan_ref
from m3tr.core.temporal.thinning import simulate, simulate_from

from .conftest import edge_sequences

TOL = 1e-5


def model_with(n_layers: int) -> MHP:
    torch.manual_seed(n_layers)
    cfg = MHPConfig(n_types=2, d_model=16, d_state=4, n_layers=n_layers, dt_rank=4)
    model = MHP(cfg)
    with torch.no_grad():
        model.f_head.weight.normal_(0, 0.5)
        model.hawkes.alpha_raw.copy_(torch.tensor([[0.8, -0.6], [0.4, 0.5]]))
    return model.eval()


def stepped_caches(model: MHP, batch) -> list[list[LayerCache]]:
    """Every layer's cache after each slot, by the one-slot recurrence: [slot][layer]."""
    ctx = model.context
    bsz = batch.batch_size
    d, n = model.config.d_inner, model.config.d_state
    caches = [LayerCache(torch.zeros(bsz, d, n)) for _ in ctx.layers]
    out = []
    for slot in range(batch.times.shape[1]):
        x = ctx.inputs(batch.types[:, slot], batch.dt[:, slot], batch.times[:, slot])
        clock = ctx.clock(batch.dt[:, slot]) * batch.mask[:, slot]
        new = []
        for layer, cache in zip(ctx.layers, caches, strict=True):
            x, cache = layer.step(cache, x, clock)
            new.append(cache)
        caches = new
        out.append(caches)
    return out


def reference_h(model: MHP, per_slot: list[list[LayerCache]], idx, tau):
    """h(t) (B, Q, d_model) read from the last layer's cache at slots idx (B, Q)."""
    ctx, layer = model.context, model.context.layers[-1]
    last = [c[-1] for c in per_slot]

    def pick(name):
        stacked = torch.stack([getattr(c, name) for c in last], 1)  # (B, L+1, ...)
        return stacked[torch.arange(idx.shape[0])[:, None], idx]  # (B, Q, ...)

    elapsed = tau.clamp(min=0, max=model.config.max_step)
    state = torch.exp((pick("rate") * elapsed[..., None])[..., None] * layer.A) * pick("state")
    y = ((state * pick("C")[..., None, :]).sum(-1) + pick("u") * layer.D) * F.silu(pick("z"))
    return ctx.norm_f(pick("x_in") + layer.out_proj(y))


def reference_intensity(model: MHP, batch, per_slot, query, idx):
    rows = torch.arange(query.shape[0])[:, None]
    tau = (query - batch.times[rows, idx]).clamp(min=0)
    hawkes = (
        model.hawkes.mu + model.hawkes.excitation(model.hawkes.states(batch)[rows, idx], tau)[0]
    )
    return F.softplus(hawkes + model.correction(reference_h(model, per_slot, idx, tau)))


@pytest.fixture
def batch():
    return make_batch(edge_sequences(), 2, 3600.0)


def queries(batch, n=30):
    g = torch.Generator().manual_seed(5)
    return torch.rand(batch.batch_size, n, generator=g) * batch.t_end[:, None] * 1.1


@pytest.mark.parametrize("n_layers", [1, 2, 3])
@torch.no_grad()
def test_intensities_equal_the_stepwise_readout(batch, n_layers):
    model = model_with(n_layers)
    per_slot = stepped_caches(model, batch)
    q = queries(batch)
    idx = last_index_before(batch, q)
    ref = reference_intensity(model, batch, per_slot, q, idx)
    assert torch.allclose(model.intensity(model.encode(batch), q).total, ref, atol=TOL, rtol=0)
    streamed = model.intensity_parts(batch, q, chunk=4).total  # carried states across chunks
    assert torch.allclose(streamed, ref, atol=TOL, rtol=0)
    h_ref = reference_h(model, per_slot, idx, (q - batch.times.gather(1, idx)))
    assert torch.allclose(model.readout(batch, q, chunk=7)[0], h_ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_loglik_equals_the_stepwise_readout(batch, n_layers):
    model = model_with(n_layers)
    ll = model.loglik(batch, n_mc=3, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        per_slot = stepped_caches(model, batch)
        ev_idx = last_index_before(batch, batch.times)
        lam = reference_intensity(model, batch, per_slot, batch.times, ev_idx)
        lam_ev = lam.gather(-1, batch.types.clamp(max=1)[..., None])[..., 0]
        log_term = (torch.log(lam_ev.clamp(min=1e-30)) * batch.event_mask).sum(-1)
        start, length, idx = interval_bounds(batch)
        offsets = stratified_points(length, 3, torch.Generator().manual_seed(11))
        bsz, slots = start.shape
        q = (start[..., None] + offsets).reshape(bsz, -1)
        q_idx = idx[..., None].expand(bsz, slots, 3).reshape(bsz, -1)
        lam_mc = reference_intensity(model, batch, per_slot, q, q_idx).sum(-1)
        comp = (lam_mc.view(bsz, slots, 3).mean(-1) * length).sum(-1)
    assert torch.allclose(ll.loglik, log_term - comp, atol=TOL * 10, rtol=TOL)
    ll.nll_per_event().backward()  # the merged scan is differentiable end to end
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def cache_at(per_slot: list[list[LayerCache]], layer: int, slots) -> LayerCache:
    """Layer ``layer``'s cache at slots (B,), from the stepped caches."""
    rows = torch.arange(slots.shape[0])
    values = {
        f.name: torch.stack([getattr(c[layer], f.name) for c in per_slot], 1)[rows, slots]
        for f in dataclasses.fields(LayerCache)
    }
    return LayerCache(**values)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_thinning_path_equals_the_stepwise_state(batch, n_layers):
    model = model_with(n_layers)
    with torch.no_grad():
        per_slot = stepped_caches(model, batch)
        stepped = [cache_at(per_slot, k, batch.lengths) for k in range(n_layers)]
        state = model.sim_init(batch, chunk=4)  # streamed: states carried across chunks
        for new, ref in zip(state.context, stepped, strict=True):
            assert torch.allclose(new.state, ref.state, atol=TOL, rtol=0)
        for name in ("x_in", "u", "z", "rate", "C"):  # the last layer reads these between events
            assert torch.allclose(
                getattr(state.context[-1], name), getattr(stepped[-1], name), atol=TOL
            )
    sim = simulate(model, batch, 6, generator=torch.Generator().manual_seed(3))
    ref_state = dataclasses.replace(state, context=stepped)
    ref = simulate_from(
        model, ref_state, batch.t_end, 6, generator=torch.Generator().manual_seed(3)
    )
    assert int(sim.counts.sum()) > 10
    assert torch.equal(sim.counts, ref.counts) and torch.equal(sim.types, ref.types)
    finite = torch.isfinite(ref.times)
    assert torch.equal(finite, torch.isfinite(sim.times))
    assert torch.allclose(sim.times[finite], ref.times[finite], atol=TOL, rtol=0)


def test_query_slots_follow_their_event_and_keep_the_event_order():
    idx = torch.tensor([[2, 0, 2, 4], [0, 0, 0, 0]])
    slots = merge_queries(idx, 5)
    for row in range(2):
        merged = torch.cat([slots.event_pos[row], slots.query_pos[row]])
        assert sorted(merged.tolist()) == list(range(9))  # a permutation of L + Q slots
        assert (slots.event_pos[row].diff() > 0).all()
        for q, i in enumerate(idx[row].tolist()):
            pos = int(slots.query_pos[row, q])
            assert slots.event_pos[row, i] < pos
            assert i == 4 or pos < slots.event_pos[row, i + 1]
            assert slots.source[row, pos] == i and slots.is_query[row, pos]


def test_per_channel_c_scan_equals_the_reference():
    g = torch.Generator().manual_seed(0)
    bsz, d, n, length = 2, 6, 3, 17
    u, delta = torch.randn(bsz, d, length, generator=g), torch.rand(bsz, d, length, generator=g)
    A = -torch.rand(d, n, generator=g) - 0.5
    B = torch.randn(bsz, n, length, generator=g)[:, None].expand(-1, d, -1, -1)  # shared
    C = torch.randn(bsz, d, n, length, generator=g)  # one C per channel
    D, z = torch.randn(d, generator=g), torch.randn(bsz, d, length, generator=g)
    y, last = selective_scan(u, delta, A, B, C, D, z, return_last_state=True, backend="torch")
    y_ref, last_ref = selective_scan_ref(u, delta, A, B, C, D, z, return_last_state=True)
    assert torch.allclose(y, y_ref, atol=1e-5) and torch.allclose(last, last_ref, atol=1e-5)
    with pytest.raises(NotImplementedError):
        selective_scan(u, delta, A, torch.randn(bsz, d, n, length), C, backend="torch")


@pytest.mark.parametrize("with_init", [False, True])
def test_zero_input_slots_equal_the_per_slot_states(batch, with_init):
    """The kernel's way (queries as zero-input slots of one scan, run here on the PyTorch scan)
    equals the CPU's way (per-slot states read at the queries), on a real layer's tensors."""
    model = model_with(3)
    layer = model.context.layers[-1]
    with torch.no_grad():
        _, hist = model.context.encode(batch, outputs=False)
        u, z, rate, b, c = layer.project(hist.x_in)  # (B, L+1, D) / (B, L+1, N)
        delta = rate * hist.clock[..., None]
        q = queries(batch)
        idx = last_index_before(batch, q)
        elapsed = (q - batch.times.gather(1, idx)).clamp(0, model.config.max_step)
        q_delta = rate.gather(1, idx[..., None].expand(-1, -1, rate.shape[-1])) * elapsed[..., None]
        init = torch.rand(batch.batch_size, *layer.A.shape) if with_init else None
        args = (
            u.transpose(1, 2), delta.transpose(1, 2), layer.A, b.transpose(1, 2),
            c.transpose(1, 2), layer.D, z.transpose(1, 2), idx, q_delta.transpose(1, 2), init,
        )  # fmt: skip
        by_slots = selective_scan_queries(*args, backend="torch", how="slots")
        by_states = selective_scan_queries(*args, backend="torch", how="states")
    assert by_slots.shape == (batch.batch_size, u.shape[-1], q.shape[1])
    assert torch.allclose(by_slots, by_states, atol=TOL, rtol=0)
    assert (by_states.abs() > 1e-3).float().mean() > 0.5  # not trivially zero
