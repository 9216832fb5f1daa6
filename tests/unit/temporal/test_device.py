"""Every tensor of the temporal path is made on the model's device: the likelihood (forward and
backward) and the streamed encoding run with the model and the batch on the ``meta`` device,
where any tensor made on the CPU by mistake raises (a stand-in for CUDA on this CPU machine).
Thinning and readouts branch on values (``.item()``), which ``meta`` cannot give: they run on
the CPU under a mode that fails on any tensor made without an explicit device."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from m3tr.core.temporal.batch import make_batch
from m3tr.core.temporal.forecast import forecast
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.scan import selective_scan_queries
from m3tr.core.temporal.signature import temporal_signature
from m3tr.core.temporal.thinning import simulate
from tests.unit.device_check import FactoriesNeedADevice

from .conftest import edge_sequences, tiny_mhp


@pytest.mark.parametrize("context", ["mamba", "gru"])
def test_likelihood_and_streamed_encoding_stay_on_the_model_device(context):
    model = tiny_mhp(context).to("meta")
    batch = make_batch(edge_sequences(), 2, 3600.0, device="meta")
    ll = model.loglik(batch, n_mc=2)
    assert ll.loglik.device.type == "meta" and ll.loglik.shape == (5,)
    ll.nll_per_event().backward()
    assert all(p.grad is None or p.grad.device.type == "meta" for p in model.parameters())
    with torch.no_grad():
        chunks = list(model.encode_chunks(batch, chunk=4))
        assert len(chunks) == -(-batch.times.shape[1] // 4)
        start, hist = chunks[-1]
        idx = torch.zeros(5, 3, dtype=torch.long, device="meta")
        parts = model.intensity(hist, torch.zeros(5, 3, device="meta"), idx)
        assert parts.total.device.type == "meta" and parts.total.shape == (5, 3, 2)


def test_zero_input_slot_readout_stays_on_the_device():
    """The kernel's readout layout (queries as zero-input slots), run by the PyTorch scan on meta."""
    bsz, d, n, length, n_q = 2, 4, 3, 9, 5
    meta = {"device": "meta"}
    u, delta, z = (torch.empty(bsz, d, length, **meta) for _ in range(3))
    A, D = torch.empty(d, n, **meta), torch.empty(d, **meta)
    B, C = torch.empty(bsz, n, length, **meta), torch.empty(bsz, n, length, **meta)
    idx = torch.zeros(bsz, n_q, dtype=torch.long, **meta)
    q_delta, init = torch.empty(bsz, d, n_q, **meta), torch.empty(bsz, d, n, **meta)
    y = selective_scan_queries(u, delta, A, B, C, D, z, idx, q_delta, init, how="slots")
    assert y.device.type == "meta" and y.shape == (bsz, d, n_q)


def test_the_mode_catches_a_stray_tensor():
    with pytest.raises(AssertionError, match="without a device"), FactoriesNeedADevice():
        torch.zeros(3)


@pytest.mark.parametrize("n_layers", [1, 2])
def test_thinning_signatures_and_forecasts_make_tensors_on_the_model_device(n_layers):
    model = tiny_mhp("mamba")
    model = MHP(dataclasses.replace(model.config, n_layers=n_layers)).eval()
    seqs = edge_sequences()
    gen = torch.Generator().manual_seed(0)
    with FactoriesNeedADevice():
        batch = make_batch(seqs, 2, 3600.0, device="cpu")
        sim = simulate(model, batch, 4, generator=gen)
        sig = temporal_signature(model, seqs, 8, generator=gen)
        fc = forecast(
            model, seqs[4], 20000.0, 40000.0, 2, 3600.0, n_paths=4, grid_size=6, generator=gen
        )
        parts = model.intensity_parts(batch, batch.times, chunk=4)
    assert sim.counts.sum() > 0 and sig.X.shape[:2] == (5, 8)
    assert fc.intensity_total.shape == (2, 6) and parts.total.shape == (5, batch.times.shape[1], 2)
