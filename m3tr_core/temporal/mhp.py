"""The Mamba-Hawkes Process (paper Eq. 1, §3.2):

    lambda_k(t) = softplus(mu_k + sum_m sum_{t_j^m < t} alpha_km exp(-delta_km (t - t_j^m)) + f_k(h(t)))

with ``h(t)`` from a time-aware Mamba (:mod:`m3tr_core.temporal.mamba`) and
``f_k = f_max_k * tanh(w_k . h + b_k)``, so ``|f_k| <= f_max_k``. The intensity is causal: at
time ``t`` it reads the state after the last event strictly before ``t``.

The same class with ``config.context = "gru"`` is the neural-Hawkes baseline (no Mamba).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3tr_core.temporal.batch import EventBatch
from m3tr_core.temporal.config import MHPConfig
from m3tr_core.temporal.gru_context import GRUContext
from m3tr_core.temporal.hawkes import HawkesExcitation
from m3tr_core.temporal.likelihood import (
    LogLikelihood,
    interval_bounds,
    last_index_before,
    stratified_points,
)
from m3tr_core.temporal.mamba import TimeAwareMamba


@dataclass
class IntensityParts:
    """Eq. 1 split into its parts, each (..., K).

    Attributes:
        hawkes: ``mu_k + sum alpha exp(...)`` (pre-link classical part).
        correction: ``f_k(h(t))``, the Mamba (or GRU) correction.
        total: ``softplus(hawkes + correction)``, the intensity.
    """

    hawkes: Tensor
    correction: Tensor
    total: Tensor
    linked: bool = True

    @property
    def hawkes_only(self) -> Tensor:
        """The intensity without the correction (Figure 8's dashed line): softplus(hawkes),
        or ``hawkes`` itself for identity-link models (``linked=False``)."""
        return F.softplus(self.hawkes) if self.linked else self.hawkes


@dataclass
class History:
    """An encoded batch: per-slot outputs, Hawkes states and the context's states."""

    batch: EventBatch
    outputs: Tensor  # (B, L+1, d_model) h right after each slot
    hawkes: Tensor  # (B, L+1, K, K)
    context: Any


@dataclass
class SimState:
    """State of a batch of simulations: everything at the last (real or simulated) event."""

    t_last: Tensor  # (B,)
    hawkes: Tensor  # (B, K, K)
    context: Any
    count: Tensor  # (B,) events so far


class MHP(nn.Module):
    """Mamba-Hawkes Process intensity, likelihood and simulation interface."""

    def __init__(self, config: MHPConfig) -> None:
        super().__init__()
        self.config = config
        k = config.n_types
        self.hawkes = HawkesExcitation(
            k, config.hawkes_init_mu, config.hawkes_init_alpha, config.hawkes_init_decay
        )
        self.context = TimeAwareMamba(config) if config.context == "mamba" else GRUContext(config)
        self.f_head = nn.Linear(config.d_model, k)
        nn.init.zeros_(self.f_head.weight)
        nn.init.zeros_(self.f_head.bias)
        f0 = float(config.f_max_init)
        self.f_max_raw = nn.Parameter(
            torch.full((k,), f0 + float(torch.log(-torch.expm1(torch.tensor(-f0)))))
        )

    @property
    def n_types(self) -> int:
        return self.config.n_types

    def f_max(self) -> Tensor:
        """(K,) the bound of ``|f_k|``."""
        return F.softplus(self.f_max_raw)

    def correction(self, h: Tensor) -> Tensor:
        """f_k(h): (..., d_model) -> (..., K), bounded by :meth:`f_max`."""
        return self.f_max() * torch.tanh(self.f_head(h))

    # -- encoding and intensity -------------------------------------------------------------
    def encode(self, batch: EventBatch, need_finals: bool = False) -> History:
        """Run the context network and the Hawkes states over a batch."""
        if batch.n_types != self.n_types:
            raise ValueError(f"batch has {batch.n_types} event types, model {self.n_types}")
        outputs, ctx = self.context.encode(batch, need_finals=need_finals)
        return History(batch, outputs, self.hawkes.states(batch), ctx)

    def intensity(self, hist: History, query: Tensor, idx: Tensor | None = None) -> IntensityParts:
        """Intensity parts at ``query`` (B, Q) (model time units).

        ``idx`` (B, Q): slot to read from; default the last event strictly before each query.
        """
        if idx is None:
            idx = last_index_before(hist.batch, query)
        rows = torch.arange(query.shape[0], device=query.device)[:, None]
        tau = (query - hist.batch.times[rows, idx]).clamp(min=0)  # (B, Q)
        h_part, _ = self.hawkes.excitation(hist.hawkes[rows, idx], tau)  # (B, Q, K)
        hawkes = self.hawkes.mu + h_part
        corr = self.correction(self.context.readout(hist.context, idx, tau))  # (B, Q, K)
        return IntensityParts(hawkes, corr, F.softplus(hawkes + corr))

    def intensity_parts(self, batch: EventBatch, query: Tensor) -> IntensityParts:
        """Intensity parts (B, Q, K) at ``query`` (B, Q) given the events of ``batch``."""
        return self.intensity(self.encode(batch), query)

    def loglik(
        self, batch: EventBatch, n_mc: int = 1, generator: torch.Generator | None = None
    ) -> LogLikelihood:
        """Log-likelihood terms per sequence; the compensator by stratified Monte Carlo."""
        hist = self.encode(batch)
        ev = batch.event_mask  # (B, L+1)
        lam = self.intensity(hist, batch.times).total  # (B, L+1, K) strictly-before states
        lam_ev = lam.gather(-1, batch.types.clamp(max=self.n_types - 1)[..., None])[..., 0]
        log_term = (torch.log(lam_ev.clamp(min=1e-30)) * ev).sum(-1)  # (B,)
        start, length, idx = interval_bounds(batch)  # (B, L+1) each
        offsets = stratified_points(length, n_mc, generator)  # (B, L+1, n)
        bsz, slots = start.shape
        q = (start[..., None] + offsets).reshape(bsz, slots * n_mc)  # (B, Q)
        q_idx = idx[..., None].expand(bsz, slots, n_mc).reshape(bsz, slots * n_mc)
        lam_mc = self.intensity(hist, q, q_idx).total.sum(-1)  # (B, Q)
        comp = (lam_mc.view(bsz, slots, n_mc).mean(-1) * length).sum(-1)  # (B,)
        return LogLikelihood(log_term, comp, batch.lengths.to(log_term.dtype))

    # -- simulation interface (used by thinning and forecasts) -------------------------------
    def sim_init(self, batch: EventBatch) -> SimState:
        """Simulation state at the last event of each sequence of ``batch``."""
        hist = self.encode(batch, need_finals=True)
        last = batch.lengths  # slot of the last real event (0 = BOS)
        rows = torch.arange(batch.batch_size, device=last.device)
        return SimState(
            batch.times[rows, last],
            hist.hawkes[rows, last],
            self.context.sim_cache(hist.context, last),
            batch.lengths.clone(),
        )

    def sim_intensity(self, state: SimState, t: Tensor) -> IntensityParts:
        """Intensity parts (B, K) at times ``t`` (B,) after the last event."""
        tau = (t - state.t_last).clamp(min=0)
        h_part, _ = self.hawkes.excitation(state.hawkes, tau)
        hawkes = self.hawkes.mu + h_part
        corr = self.correction(self.context.sim_readout(state.context, tau))
        return IntensityParts(hawkes, corr, F.softplus(hawkes + corr))

    def sim_bound(self, state: SimState, t: Tensor) -> Tensor:
        """(B,) an upper bound of ``sum_k lambda_k`` on ``[t, next event)``.

        Excitation with ``alpha > 0`` only decays after ``t`` and inhibition (``alpha < 0``) only
        lowers the intensity, and ``|f_k| <= f_max_k``; softplus is increasing.
        """
        tau = (t - state.t_last).clamp(min=0)
        _, decayed = self.hawkes.excitation(state.hawkes, tau)  # (B, K, K)
        pre = self.hawkes.mu + self.hawkes.positive_excitation(decayed) + self.f_max()
        return F.softplus(pre).sum(-1)

    def sim_append(self, state: SimState, t: Tensor, types: Tensor, accept: Tensor) -> SimState:
        """State after events of ``types`` at ``t`` (B,) where ``accept`` (B,) is True."""
        tau = (t - state.t_last).clamp(min=0)
        new_h = self.hawkes.append(state.hawkes, tau, types)
        ctx = self.context.sim_append(state.context, types, tau, t, accept)
        m = accept[:, None, None]
        return SimState(
            torch.where(accept, t, state.t_last),
            torch.where(m, new_h, state.hawkes),
            ctx,
            state.count + accept.long(),
        )


def gauss_legendre_integrals(intensity_fn: Any, batch: EventBatch, n_nodes: int = 16) -> Tensor:
    """Per-interval integrals of the total intensity by Gauss-Legendre quadrature.

    Args:
        intensity_fn: maps (query (B, Q), idx (B, Q)) to the total intensity (B, Q, K).
    Returns:
        (B, L+1) integral over the interval after each slot (0 for padding).
    """
    import numpy as np

    from m3tr_core.temporal.likelihood import interval_bounds

    x, w = np.polynomial.legendre.leggauss(n_nodes)
    nodes = torch.as_tensor((x + 1) / 2, dtype=batch.times.dtype, device=batch.times.device)
    weights = torch.as_tensor(w / 2, dtype=batch.times.dtype, device=batch.times.device)
    start, length, idx = interval_bounds(batch)  # (B, L+1)
    bsz, slots = start.shape
    q = (start[..., None] + nodes * length[..., None]).reshape(bsz, slots * n_nodes)
    q_idx = idx[..., None].expand(bsz, slots, n_nodes).reshape(bsz, slots * n_nodes)
    lam = intensity_fn(q, q_idx).sum(-1).view(bsz, slots, n_nodes)  # (B, L+1, n)
    return (lam * weights).sum(-1) * length
