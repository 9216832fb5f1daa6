"""Fixed-length temporal signatures (paper §3.2.2, App. D).

Each sequence is cut to its first ``L`` events or extended to ``L`` events by Ogata thinning
from the learned intensity, starting at the end of its observation window; the extended
sequence is encoded and its per-event outputs are the signature X^s (L x d). The retrieval
vector is the mean over the L rows. A sequence with no events (cold start) is extended from
the baseline intensity (mu plus the correction read from the empty history) and flagged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from m3tr.core.temporal.batch import EventBatch, EventSequence, make_batch
from m3tr.core.temporal.batch_ops import append_events
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.thinning import simulate

log = logging.getLogger(__name__)


@dataclass
class Signature:
    """Signatures of a batch.

    Attributes:
        X: (B, L, d) per-event embeddings of the extended sequences.
        pooled: (B, d) mean of X over its L rows (the retrieval vector).
        times: (B, L) event times of the extended sequences (model units).
        types: (B, L) their types.
        n_observed: (B,) observed events used (<= L).
        n_simulated: (B,) events added by thinning.
        cold_start: (B,) True where nothing was observed: the signature comes from the
            baseline intensity alone.
    """

    X: Tensor
    pooled: Tensor
    times: Tensor
    types: Tensor
    n_observed: Tensor
    n_simulated: Tensor
    cold_start: Tensor


@torch.no_grad()
def temporal_signature(
    model: MHP,
    sequences: Sequence[EventSequence] | EventBatch,
    length: int,
    generator: torch.Generator | None = None,
    max_iter: int = 200_000,
) -> Signature:
    """X^s (B, L, d) and its pooled vector for each sequence (see the module docstring)."""
    if length < 1:
        raise ValueError(f"signature length must be >= 1, got {length}")
    cfg = model.config
    if isinstance(sequences, EventBatch):
        batch = sequences
    else:
        device = next(model.parameters()).device
        batch = make_batch(list(sequences), cfg.n_types, cfg.time_unit_s, length, device=device)
    was_training = model.training
    model.eval()
    try:
        need = (length - batch.lengths).clamp(min=0)  # (B,)
        sim = simulate(model, batch, need, generator=generator, max_iter=max_iter)
        ext = append_events(batch, sim.times, sim.types, sim.counts)
        hist = model.encode(ext)
    finally:
        model.train(was_training)
    out = hist.outputs[:, 1 : length + 1]  # (B, <=L, d)
    mask = ext.mask[:, 1 : length + 1]
    bsz, n, d = out.shape
    X = out.new_zeros(bsz, length, d)
    X[:, :n] = out * mask[..., None]
    times = ext.times.new_zeros(bsz, length)
    types = torch.full((bsz, length), cfg.n_types, dtype=torch.long, device=X.device)
    times[:, :n] = ext.times[:, 1 : length + 1]
    types[:, :n] = torch.where(mask, ext.types[:, 1 : length + 1], cfg.n_types)
    rows = mask.sum(1, keepdim=True).clamp(min=1)  # (B, 1)
    pooled = X.sum(1) / rows  # (B, d)
    cold = batch.lengths == 0
    if bool(cold.any()):
        log.info(
            "%d sequence(s) had no events: signature from the baseline intensity", int(cold.sum())
        )
    if bool(sim.truncated.any()):
        log.warning(
            "%d signature(s) shorter than %d events (max_iter)", int(sim.truncated.sum()), length
        )
    return Signature(X, pooled, times, types, batch.lengths.clone(), sim.counts, cold)
