"""The MHP as the fusion model's temporal encoder: same batches as the temporal core builds,
NLL while training, gradients reaching the MHP."""

import numpy as np
import torch

from m3tr.core.fusion.mhp_adapter import MHPTemporalEncoder, padded_to_event_batch
from m3tr.core.temporal import MHP, EventSequence, MHPConfig, make_batch
from m3tr.core.training.features import pad_events


def _events():
    rng = np.random.default_rng(0)
    ts = [np.sort(rng.uniform(0, 3600, n)) for n in (0, 3, 9)]
    ks = [rng.integers(0, 2, len(t)) for t in ts]
    return ts, ks


def test_padded_batch_matches_make_batch():
    ts, ks = _events()
    L = 5  # the 9-event sequence is cut to its first 5
    times, types, mask = pad_events(ts, ks, L, keep="first")
    ours = padded_to_event_batch(
        torch.tensor(times, dtype=torch.float32),
        torch.tensor(types),
        torch.tensor(mask),
        2,
        3600.0,
        3600.0,
    )
    seqs = [EventSequence(t, k, t_end_s=3600.0) for t, k in zip(ts, ks, strict=True)]
    ref = make_batch(seqs, 2, 3600.0, max_len=L)
    assert torch.equal(ours.types, ref.types)
    assert torch.equal(ours.mask, ref.mask)
    assert torch.equal(ours.lengths, ref.lengths)
    assert torch.allclose(ours.times, ref.times, atol=1e-6)
    assert torch.allclose(ours.dt, ref.dt, atol=1e-6)
    # uncut sequences end at T_obs; the cut one ends near its 6th event (we only know the 5th)
    assert torch.allclose(ours.t_end[:2], ref.t_end[:2])
    assert ours.t_end[2] <= ref.t_end[2]


def test_encoder_returns_nll_when_training_and_trains_the_mhp():
    torch.manual_seed(0)
    mhp = MHP(MHPConfig(n_types=2, d_model=8, d_state=4, n_layers=1))
    enc = MHPTemporalEncoder(mhp, 16, 3600.0)
    ts, ks = _events()
    times, types, mask = (torch.tensor(a) for a in pad_events(ts, ks, 6, keep="first"))
    out = enc(times.float(), types, mask)
    assert out.tokens.shape == (3, 6, 16)
    assert torch.equal(out.tokens[0], torch.zeros(6, 16))  # no events: nothing but masks
    assert out.nll is not None and out.nll.shape == (3,)
    (out.tokens.sum() + out.nll.mean()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in mhp.parameters())
    enc.eval()
    with torch.no_grad():
        assert enc(times.float(), types, mask).nll is None
