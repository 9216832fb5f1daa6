"""Pad-and-mask signatures (no point process): the observed events only, embedded, padded with
zeros to length L and mean-pooled over the real events. The ablation of paper App. D.2."""

from __future__ import annotations

import torch
from torch import Tensor

from m3tr.core.temporal.batch import EventBatch
from m3tr.core.temporal.mhp import MHP


class PadMaskSignature:
    """Signatures from an MHP's event embeddings without thinning."""

    def __init__(self, model: MHP) -> None:
        self.model = model

    @torch.no_grad()
    def signature(self, batch: EventBatch, length: int) -> tuple[Tensor, Tensor, Tensor]:
        """X (B, L, d) (zero rows past the observed events), pooled (B, d), mask (B, L)."""
        hist = self.model.encode(batch)
        out = hist.outputs[:, 1 : length + 1]  # (B, <=L, d)
        mask = batch.mask[:, 1 : length + 1]
        bsz, n, d = out.shape
        x = out.new_zeros(bsz, length, d)
        m = torch.zeros(bsz, length, dtype=torch.bool, device=out.device)
        x[:, :n] = out * mask[..., None]
        m[:, :n] = mask
        pooled = x.sum(1) / m.sum(1, keepdim=True).clamp(min=1)
        return x, pooled, m

    def loglik(self, *_: object, **__: object) -> None:
        raise NotImplementedError("pad-and-mask is not a point process: it has no likelihood")
