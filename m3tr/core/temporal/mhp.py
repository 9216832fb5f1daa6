"""The Mamba-Hawkes Process (paper Eq. 1, §3.2):

    lambda_k(t) = softplus(mu_k + sum_m sum_{t_j^m < t} alpha_km exp(-delta_km (t - t_j^m)) + f_k(h(t)))

with ``h(t)`` from a time-aware Mamba (:mod:`m3tr.core.temporal.mamba`) and
``f_k = f_max_k * tanh(w_k . h + b_k)``, so ``|f_k| <= f_max_k``. The intensity is causal: at
time ``t`` it reads the state after the last event strictly before ``t``.

The same class with ``config.context = "gru"`` is the neural-Hawkes baseline (no Mamba).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3tr.core.temporal.batch import EventBatch
from m3tr.core.temporal.batch_ops import slice_slots
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.gru_context import GRUContext
from m3tr.core.temporal.hawkes import HawkesExcitation
from m3tr.core.temporal.likelihood import (
    LogLikelihood,
    interval_bounds,
    last_index_before,
    stratified_points,
)
from m3tr.core.temporal.mamba import TimeAwareMamba
from m3tr.core.temporal.state_ops import where_rows

if TYPE_CHECKING:
    from m3tr.core.temporal.trajectory import TrajectoryTransform

# Largest per-chunk tensor of a streamed encoding, in elements (B x chunk x D x N): 8 MiB in
# float32. Inference (sim_init, intensity_parts) encodes histories chunk by chunk under this
# bound, so its memory does not grow with the number of observed events.
STREAM_ELEMENTS = 1 << 21


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
    outputs: Tensor | None  # (B, L+1, d_model) h right after each slot (None: not asked)
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
        # fitted after training on the training windows; saved and loaded with the checkpoint
        self.trajectory_transform: TrajectoryTransform | None = None

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
    def encode(self, batch: EventBatch, need_finals: bool = False, outputs: bool = True) -> History:
        """Run the context network and the Hawkes states over a batch (``outputs`` False: the
        per-slot outputs may be skipped, for a history that is only read out)."""
        if batch.n_types != self.n_types:
            raise ValueError(f"batch has {batch.n_types} event types, model {self.n_types}")
        out, ctx = self.context.encode(batch, need_finals=need_finals, outputs=outputs)
        return History(batch, out, self.hawkes.states(batch), ctx)

    def intensity(self, hist: History, query: Tensor, idx: Tensor | None = None) -> IntensityParts:
        """Intensity parts at ``query`` (B, Q) (model time units).

        ``idx`` (B, Q): slot to read from; default the last event strictly before each query.
        """
        if idx is None:
            idx = last_index_before(hist.batch, query)
        return self._read(hist, query, idx)[1]

    def _read(self, hist: History, query: Tensor, idx: Tensor) -> tuple[Tensor, IntensityParts]:
        """h(t) (B, Q, d_model) and the intensity parts (B, Q, K) at ``query`` read from
        slots ``idx`` (B, Q) of ``hist``."""
        rows = torch.arange(query.shape[0], device=query.device)[:, None]
        tau = (query - hist.batch.times[rows, idx]).clamp(min=0)  # (B, Q)
        h_part, _ = self.hawkes.excitation(hist.hawkes[rows, idx], tau)  # (B, Q, K)
        hawkes = self.hawkes.mu + h_part
        h = self.context.readout(hist.context, idx, tau)  # (B, Q, d_model)
        corr = self.correction(h)  # (B, Q, K)
        return h, IntensityParts(hawkes, corr, F.softplus(hawkes + corr))

    def stream_chunk(self, batch_size: int) -> int:
        """Slots per chunk of a streamed encoding of ``batch_size`` rows (see STREAM_ELEMENTS)."""
        cfg = self.config
        per_slot = max(1, batch_size) * max(cfg.d_inner * cfg.d_state, cfg.d_model, 1)
        return max(64, STREAM_ELEMENTS // per_slot)

    def encode_chunks(
        self, batch: EventBatch, chunk: int | None = None
    ) -> Iterator[tuple[int, History]]:
        """The history of ``batch`` ``chunk`` slots at a time: (first slot, :class:`History` of
        those slots), context and Hawkes states carried across chunks; memory
        O(B * chunk * D * N) whatever the length."""
        if batch.n_types != self.n_types:
            raise ValueError(f"batch has {batch.n_types} event types, model {self.n_types}")
        chunk = chunk or self.stream_chunk(batch.batch_size)
        carry: Tensor | None = None  # (B, K, K) Hawkes states at the end of the last chunk
        for start, outputs, ctx in self.context.encode_chunks(batch, chunk):
            part = slice_slots(batch, start, start + outputs.shape[1])
            hawkes = self.hawkes.states(part, init=carry)  # (B, c, K, K)
            carry = hawkes[:, -1]
            yield start, History(part, outputs, hawkes, ctx)

    def intensity_parts(
        self, batch: EventBatch, query: Tensor, chunk: int | None = None
    ) -> IntensityParts:
        """Intensity parts (B, Q, K) at ``query`` (B, Q) given the events of ``batch``
        (streamed, see :meth:`readout`)."""
        return self.readout(batch, query, chunk)[1]

    def readout(
        self, batch: EventBatch, query: Tensor, chunk: int | None = None
    ) -> tuple[Tensor, IntensityParts]:
        """h(t) (B, Q, d_model) and the intensity parts (B, Q, K) at ``query`` (B, Q).

        Streamed: the history is encoded chunk by chunk (:meth:`encode_chunks`) and each query
        read from the chunk holding its last event, so memory stays bounded for long logs.
        """
        idx = last_index_before(batch, query)  # (B, Q) global slots
        top = int(idx.max()) if idx.numel() else 0
        out: tuple[Tensor, IntensityParts] | None = None
        for start, hist in self.encode_chunks(batch, chunk):
            width = hist.batch.times.shape[1]
            inside = (idx >= start) & (idx < start + width)  # (B, Q)
            if bool(inside.any()):
                h, parts = self._read(hist, query, (idx - start).clamp(0, width - 1))
                if out is not None:
                    h = torch.where(inside[..., None], h, out[0])
                    parts = _pick(inside, parts, out[1])
                out = (h, parts)
            if start + width > top:
                break
        assert out is not None
        return out

    def loglik(
        self, batch: EventBatch, n_mc: int = 1, generator: torch.Generator | None = None
    ) -> LogLikelihood:
        """Log-likelihood terms per sequence; the compensator by stratified Monte Carlo."""
        hist = self.encode(batch, outputs=False)
        ev = batch.event_mask  # (B, L+1)
        start, length, idx = interval_bounds(batch)  # (B, L+1) each
        offsets = stratified_points(length, n_mc, generator)  # (B, L+1, n)
        bsz, slots = start.shape
        q = (start[..., None] + offsets).reshape(bsz, slots * n_mc)  # (B, Q)
        q_idx = idx[..., None].expand(bsz, slots, n_mc).reshape(bsz, slots * n_mc)
        # one readout for the event times (strictly-before states) and the MC points
        ev_idx = last_index_before(batch, batch.times)  # (B, L+1)
        lam_all = self.intensity(
            hist, torch.cat([batch.times, q], 1), torch.cat([ev_idx, q_idx], 1)
        ).total  # (B, L+1+Q, K)
        lam, lam_mc = lam_all[:, :slots], lam_all[:, slots:].sum(-1)  # (B, L+1, K), (B, Q)
        lam_ev = lam.gather(-1, batch.types.clamp(max=self.n_types - 1)[..., None])[..., 0]
        log_term = (torch.log(lam_ev.clamp(min=1e-30)) * ev).sum(-1)  # (B,)
        comp = (lam_mc.view(bsz, slots, n_mc).mean(-1) * length).sum(-1)  # (B,)
        return LogLikelihood(log_term, comp, batch.lengths.to(log_term.dtype))

    # -- simulation interface (used by thinning and forecasts) -------------------------------
    def sim_init(self, batch: EventBatch, chunk: int | None = None) -> SimState:
        """Simulation state at the last event of each sequence of ``batch``.

        Streamed (:meth:`encode_chunks`): memory does not grow with the observed events.
        """
        last = batch.lengths  # slot of the last real event (0 = BOS)
        rows = torch.arange(batch.batch_size, device=last.device)
        state: SimState | None = None
        for start, hist in self.encode_chunks(batch, chunk):
            width = hist.batch.times.shape[1]
            inside = (last >= start) & (last < start + width)  # (B,)
            if bool(inside.any()):
                j = (last - start).clamp(0, width - 1)  # (B,) slot in the chunk
                new = SimState(
                    hist.batch.times[rows, j],
                    hist.hawkes[rows, j],
                    self.context.sim_cache(hist.context, j),
                    last.clone(),
                )
                state = new if state is None else where_rows(inside, new, state)
            if bool((last < start + width).all()):
                break
        assert state is not None
        return state

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


def _pick(mask: Tensor, new: IntensityParts, old: IntensityParts) -> IntensityParts:
    """Parts (B, Q, K) from ``new`` where ``mask`` (B, Q) is True, else from ``old``."""
    m = mask[..., None]
    return IntensityParts(
        torch.where(m, new.hawkes, old.hawkes), torch.where(m, new.correction, old.correction),
        torch.where(m, new.total, old.total), new.linked,
    )  # fmt: skip


def gauss_legendre_integrals(intensity_fn: Any, batch: EventBatch, n_nodes: int = 16) -> Tensor:
    """Per-interval integrals of the total intensity by Gauss-Legendre quadrature.

    Args:
        intensity_fn: maps (query (B, Q), idx (B, Q)) to the total intensity (B, Q, K).
    Returns:
        (B, L+1) integral over the interval after each slot (0 for padding).
    """
    import numpy as np

    from m3tr.core.temporal.likelihood import interval_bounds

    x, w = np.polynomial.legendre.leggauss(n_nodes)
    nodes = torch.as_tensor((x + 1) / 2, dtype=batch.times.dtype, device=batch.times.device)
    weights = torch.as_tensor(w / 2, dtype=batch.times.dtype, device=batch.times.device)
    start, length, idx = interval_bounds(batch)  # (B, L+1)
    bsz, slots = start.shape
    q = (start[..., None] + nodes * length[..., None]).reshape(bsz, slots * n_nodes)
    q_idx = idx[..., None].expand(bsz, slots, n_nodes).reshape(bsz, slots * n_nodes)
    lam = intensity_fn(q, q_idx).sum(-1).view(bsz, slots, n_nodes)  # (B, L+1, n)
    return (lam * weights).sum(-1) * length
