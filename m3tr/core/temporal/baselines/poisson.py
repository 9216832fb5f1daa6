"""Homogeneous Poisson process: a constant rate per event type (closed-form MLE)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from m3tr.core.temporal.batch import EventBatch
from m3tr.core.temporal.likelihood import LogLikelihood
from m3tr.core.temporal.mhp import IntensityParts


@dataclass
class PoissonState:
    t_last: Tensor  # (B,)
    count: Tensor  # (B,)


class HomogeneousPoisson(nn.Module):
    """``lambda_k(t) = rate_k``, the same for every sequence."""

    def __init__(self, n_types: int) -> None:
        super().__init__()
        self.n_types = n_types
        self.log_rate = nn.Parameter(torch.zeros(n_types))

    @property
    def rate(self) -> Tensor:
        return torch.exp(self.log_rate)

    @torch.no_grad()
    def fit_batch(self, batch: EventBatch) -> None:
        """Maximum likelihood: events of each type over total observed time."""
        ev = batch.event_mask
        counts = torch.stack([((batch.types == k) & ev).sum() for k in range(self.n_types)])
        exposure = batch.t_end.sum().clamp(min=1e-9)
        self.log_rate.copy_(torch.log(counts.float().clamp(min=0.5) / exposure))

    def intensity_parts(self, batch: EventBatch, query: Tensor) -> IntensityParts:
        lam = self.rate.expand(*query.shape, -1)  # (B, Q, K)
        return IntensityParts(lam, torch.zeros_like(lam), lam, linked=False)

    def loglik(self, batch: EventBatch, **_: object) -> LogLikelihood:
        ev = batch.event_mask
        log_rate = self.log_rate[batch.types.clamp(max=self.n_types - 1)]  # (B, L+1)
        log_term = (log_rate * ev).sum(-1)
        comp = self.rate.sum() * batch.t_end
        return LogLikelihood(log_term, comp, batch.lengths.to(log_term.dtype))

    # simulation interface
    def sim_init(self, batch: EventBatch) -> PoissonState:
        rows = torch.arange(batch.batch_size, device=batch.times.device)
        return PoissonState(batch.times[rows, batch.lengths], batch.lengths.clone())

    def sim_bound(self, state: PoissonState, t: Tensor) -> Tensor:
        return self.rate.sum().expand_as(t)

    def sim_intensity(self, state: PoissonState, t: Tensor) -> IntensityParts:
        lam = self.rate.expand(t.shape[0], -1)
        return IntensityParts(lam, torch.zeros_like(lam), lam, linked=False)

    def sim_append(
        self, state: PoissonState, t: Tensor, types: Tensor, accept: Tensor
    ) -> PoissonState:
        return PoissonState(torch.where(accept, t, state.t_last), state.count + accept.long())
