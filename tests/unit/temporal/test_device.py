"""Every tensor of the temporal path is made on the model's device: the likelihood (forward and
backward) and the streamed encoding run with the model and the batch on the ``meta`` device,
where any tensor made on the CPU by mistake raises (a stand-in for CUDA on this CPU machine).
Thinning and readouts branch on values (``.item()``), which ``meta`` cannot give."""

from __future__ import annotations

import pytest
import torch

from m3tr.core.temporal.batch import make_batch

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
