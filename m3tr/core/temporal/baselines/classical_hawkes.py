"""Classical multivariate Hawkes process with exponential kernels (identity link):

    lambda_k(t) = mu_k + sum_m sum_{t_j^m < t} alpha_km exp(-delta_km (t - t_j^m)),
    mu > 0, alpha >= 0, delta > 0,

with the closed-form compensator
``int_0^T lambda_k = mu_k T + sum_m alpha_km / delta_km sum_{j: m_j = m} (1 - exp(-delta_km (T - t_j)))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from m3tr.core.temporal.batch import EventBatch
from m3tr.core.temporal.hawkes import HawkesExcitation
from m3tr.core.temporal.likelihood import LogLikelihood, last_index_before
from m3tr.core.temporal.mhp import IntensityParts


@dataclass
class HawkesState:
    t_last: Tensor  # (B,)
    hawkes: Tensor  # (B, K, K)
    count: Tensor  # (B,)


class ClassicalHawkes(nn.Module):
    """Exponential-kernel Hawkes process, identity link, positive parameters."""

    def __init__(
        self, n_types: int, init_mu: float = 0.1, init_alpha: float = 0.2, init_decay: float = 1.0
    ) -> None:
        super().__init__()
        self.n_types = n_types
        self.hawkes = HawkesExcitation(
            n_types, init_mu, init_alpha, init_decay, positive_alpha=True, positive_mu=True
        )

    @torch.no_grad()
    def set_params(self, mu: Tensor, alpha: Tensor, decay: Tensor) -> None:
        """Set mu (K,), alpha (K, K) >= 0 and decay (K, K) > 0 directly."""
        inv = lambda x: x + torch.log(-torch.expm1(-x))  # noqa: E731
        self.hawkes.mu_raw.copy_(inv(torch.as_tensor(mu, dtype=torch.float32)))
        self.hawkes.alpha_raw.copy_(
            inv(torch.as_tensor(alpha, dtype=torch.float32).clamp(min=1e-6))
        )
        self.hawkes.decay_raw.copy_(inv(torch.as_tensor(decay, dtype=torch.float32) - 1e-6))

    def intensity_at(self, batch: EventBatch, states: Tensor, query: Tensor) -> Tensor:
        """(B, Q, K) intensity at ``query`` (B, Q) from states (B, L+1, K, K)."""
        idx = last_index_before(batch, query)
        rows = torch.arange(query.shape[0], device=query.device)[:, None]
        tau = (query - batch.times[rows, idx]).clamp(min=0)
        h, _ = self.hawkes.excitation(states[rows, idx], tau)
        return self.hawkes.mu + h

    def intensity_parts(self, batch: EventBatch, query: Tensor) -> IntensityParts:
        """(B, Q, K) intensity at ``query`` (B, Q); the correction part is zero."""
        lam = self.intensity_at(batch, self.hawkes.states(batch), query)
        return IntensityParts(lam, torch.zeros_like(lam), lam, linked=False)

    def loglik(self, batch: EventBatch, **_: object) -> LogLikelihood:
        """Exact log-likelihood (closed-form compensator)."""
        k = self.n_types
        states = self.hawkes.states(batch)  # (B, L+1, K, K)
        ev = batch.event_mask
        lam = self.intensity_at(batch, states, batch.times)  # (B, L+1, K)
        lam_ev = lam.gather(-1, batch.types.clamp(max=k - 1)[..., None])[..., 0]
        log_term = (torch.log(lam_ev.clamp(min=1e-30)) * ev).sum(-1)
        # compensator: sum over events j of sum_k alpha_{k,m_j} / delta_{k,m_j} (1 - e^{-delta (T - t_j)})
        src = batch.types.clamp(max=k - 1)  # (B, L+1)
        ratio = (self.hawkes.alpha / self.hawkes.decay).T[src]  # (B, L+1, K) over k
        dec = self.hawkes.decay.T[src]  # (B, L+1, K)
        rem = (batch.t_end[:, None] - batch.times).clamp(min=0)[..., None]  # (B, L+1, 1)
        excite = (ratio * -torch.expm1(-dec * rem)).sum(-1) * ev  # (B, L+1)
        comp = self.hawkes.mu.sum() * batch.t_end + excite.sum(-1)
        return LogLikelihood(log_term, comp, batch.lengths.to(log_term.dtype))

    def fit_batch(self, batch: EventBatch, max_iter: int = 200) -> float:
        """Maximum likelihood by L-BFGS on the whole batch; returns the final NLL per event."""
        opt = torch.optim.LBFGS(
            self.parameters(), lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe"
        )

        def closure() -> Tensor:
            opt.zero_grad()
            loss = self.loglik(batch).nll_per_event()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            return float(self.loglik(batch).nll_per_event())

    # simulation interface
    def sim_init(self, batch: EventBatch) -> HawkesState:
        states = self.hawkes.states(batch)
        rows = torch.arange(batch.batch_size, device=batch.times.device)
        last = batch.lengths
        return HawkesState(batch.times[rows, last], states[rows, last], last.clone())

    def sim_intensity(self, state: HawkesState, t: Tensor) -> IntensityParts:
        h, _ = self.hawkes.excitation(state.hawkes, (t - state.t_last).clamp(min=0))
        lam = self.hawkes.mu + h  # (B, K)
        return IntensityParts(lam, torch.zeros_like(lam), lam, linked=False)

    def sim_bound(self, state: HawkesState, t: Tensor) -> Tensor:
        return self.sim_intensity(state, t).total.sum(-1)  # decays until the next event

    def sim_append(
        self, state: HawkesState, t: Tensor, types: Tensor, accept: Tensor
    ) -> HawkesState:
        new = self.hawkes.append(state.hawkes, (t - state.t_last).clamp(min=0), types)
        return HawkesState(
            torch.where(accept, t, state.t_last),
            torch.where(accept[:, None, None], new, state.hawkes),
            state.count + accept.long(),
        )


def branching_ratio(model: ClassicalHawkes) -> float:
    """Spectral radius of ``alpha / delta``: the process is stationary when it is < 1."""
    g = (model.hawkes.alpha / model.hawkes.decay).detach()
    return float(torch.linalg.eigvals(g).abs().max())
