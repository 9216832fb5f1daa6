"""The fusion model on synthetic tensors: shapes, masks, ablations, memory-bank equivalence."""

from dataclasses import replace

import pytest
import torch

from m3tr.core.fusion.model import M3TRFusion
from tests.unit.fusion.conftest import make_batch


@pytest.mark.parametrize(
    "changes",
    [{}, {"temporal": "none"}, {"top_s": 0}, {"use_labels": False}, {"d_side": 0}],
)
def test_every_variant_runs_forward_and_backward(cfg, changes):
    c = replace(cfg, **changes)
    model = M3TRFusion(c)
    out = model(make_batch(c))
    assert out.pred.shape == (4, c.num_outputs)
    assert torch.isfinite(out.pred).all()
    out.pred.sum().backward()
    grads = [p.grad for p in model.head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_forecast_never_below_observed(cfg):
    model = M3TRFusion(cfg)
    batch = make_batch(cfg)
    out = model(batch)
    assert (out.pred >= batch.target.floor - 1e-6).all()


def test_no_temporal_ignores_events(cfg):
    c = replace(cfg, temporal="none")
    model = M3TRFusion(c).eval()
    batch = make_batch(c)
    before = model(batch).pred
    batch.target.times = batch.target.times.flip(1)
    batch.target.ev_mask = ~batch.target.ev_mask
    batch.target.profile = batch.target.profile * 10
    batch.target.floor = batch.target.floor + 5
    assert torch.allclose(before, model(batch).pred)


def test_events_matter_with_temporal(cfg):
    model = M3TRFusion(cfg).eval()
    batch = make_batch(cfg)
    before = model(batch).pred
    batch.target.profile = batch.target.profile * 10
    assert not torch.allclose(before, model(batch).pred)


def test_empty_neighbour_slots_are_ignored(cfg):
    model = M3TRFusion(cfg).eval()
    batch = make_batch(cfg)
    batch.nb_mask[:, -1] = False
    before = model(batch).pred
    s = cfg.top_s
    rows = torch.arange(4) * s + (s - 1)  # the last slot of every target
    batch.neighbours.text[rows] = 100 * torch.randn_like(batch.neighbours.text[rows])
    batch.nb_labels[:, -1] = 42.0
    assert torch.allclose(before, model(batch).pred, atol=1e-5)


def test_precomputed_neighbour_vectors_match_raw_neighbours(cfg):
    model = M3TRFusion(cfg).eval()
    batch = make_batch(cfg)
    raw = model(batch).pred
    vec = model.encode(batch.neighbours).view(4, cfg.top_s, 3, cfg.d_model)
    batch.nb_floor = batch.neighbours.floor.view(4, cfg.top_s, -1)
    batch.nb_vectors = vec
    batch.neighbours = None
    assert torch.allclose(raw, model(batch).pred, atol=1e-5)


def test_missing_audio_visual_uses_mask_not_values(cfg):
    model = M3TRFusion(cfg).eval()
    batch = make_batch(cfg)
    before = model(batch).pred
    batch.target.av = torch.randn_like(batch.target.av) * 50  # absent: mask is all False
    assert torch.allclose(before, model(batch).pred, atol=1e-5)
