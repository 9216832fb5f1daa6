"""Shared fixtures for the temporal tests: small models and a single torch thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.mhp import MHP, gauss_legendre_integrals


@pytest.fixture(autouse=True)
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def tiny_mhp(context: str = "mamba", n_types: int = 2, seed: int = 0, negative: bool = True) -> MHP:
    """A small MHP with a non-trivial correction and, optionally, inhibition (alpha < 0)."""
    torch.manual_seed(seed)
    cfg = MHPConfig(n_types=n_types, context=context, d_model=16, d_state=4, n_layers=2, dt_rank=4)
    model = MHP(cfg)
    with torch.no_grad():
        model.f_head.weight.normal_(0, 0.5)
        model.hawkes.mu_raw.fill_(-0.5)
        model.hawkes.alpha_raw.copy_(torch.tensor([[0.8, -0.6], [0.4, 0.5]])[:n_types, :n_types])
        if not negative:
            model.hawkes.alpha_raw.abs_()
        model.hawkes.decay_raw.fill_(1.0)
    return model.eval()


def edge_sequences() -> list[EventSequence]:
    """Empty, single, simultaneous, huge-gap and ordinary sequences (seconds)."""
    rng = np.random.default_rng(0)
    return [
        EventSequence([], [], 3600.0, "empty"),
        EventSequence([10.0], [1], 3600.0, "single"),
        EventSequence([60.0, 60.0, 60.0, 120.0], [0, 1, 0, 0], 7200.0, "simultaneous"),
        EventSequence([0.0, 5.0, 3.0e7, 3.0e7 + 1.0], [0, 1, 1, 0], 3.1e7, "huge-gap"),
        EventSequence(
            np.sort(rng.uniform(0, 36000, 40)), rng.integers(0, 2, 40), 36000.0, "ordinary"
        ),
    ]


@pytest.fixture
def edge_batch():
    return make_batch(edge_sequences(), 2, 3600.0)


def compensator_increments(batch, intensity_fn, n_nodes=24) -> np.ndarray:
    """Compensator increments between consecutive events (Exp(1) if the model is right)."""
    with torch.no_grad():
        ints = gauss_legendre_integrals(intensity_fn, batch, n_nodes)
    ends_at_event = torch.zeros_like(batch.mask)
    ends_at_event[:, :-1] = batch.event_mask[:, 1:]
    return ints[ends_at_event].numpy()
