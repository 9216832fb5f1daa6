"""A neural-Hawkes context without Mamba (a baseline): a GRU over events whose hidden state
decays toward zero between events, ``h(t) = h_i * exp(-gamma_i * min(t - t_i, max_step))`` with
per-dimension rates ``gamma_i = softplus(W h_i)`` (a continuous-time GRU in the spirit of
Mei & Eisner's neural Hawkes process). Same interface as :class:`TimeAwareMamba`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3tr.core.temporal.batch import EventBatch
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.mamba import EventInput


@dataclass
class GRUStates:
    h: Tensor  # (B, L+1, d_model) hidden state right after each slot
    gamma: Tensor  # (B, L+1, d_model) decay rates


class GRUContext(nn.Module):
    """GRU context with exponential decay between events."""

    def __init__(self, cfg: MHPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inputs = EventInput(cfg.n_types, cfg.d_model)
        self.gru = nn.GRU(cfg.d_model, cfg.d_model, batch_first=True)
        self.rate = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm_f = nn.LayerNorm(cfg.d_model)

    def encode(
        self, batch: EventBatch, need_finals: bool = False, outputs: bool = True
    ) -> tuple[Tensor, GRUStates]:
        """Per-slot outputs (B, L+1, d_model) and states for the readout (the outputs are the
        readout's own states, so ``outputs`` and ``need_finals`` change nothing).

        The GRU sees each slot's own ``dt`` as an input feature; padding repeats the last state.
        """
        x = self.inputs(batch.types, batch.dt, batch.times)  # (B, L+1, d_model)
        h, _ = self.gru(x)  # (B, L+1, d_model)
        # padding slots: hold the last valid state
        last = (batch.lengths).clamp(min=0)  # (B,) index of the last valid slot
        rows = torch.arange(h.shape[0], device=h.device)
        h = torch.where(batch.mask[..., None], h, h[rows, last][:, None, :])
        gamma = F.softplus(self.rate(h))  # (B, L+1, d_model)
        return self.norm_f(h), GRUStates(h, gamma)

    def encode_chunks(
        self, batch: EventBatch, chunk: int
    ) -> Iterator[tuple[int, Tensor, GRUStates]]:
        """:meth:`encode` ``chunk`` slots at a time (first slot, outputs, states), carrying the
        hidden state; memory O(B * chunk * d_model) whatever the length."""
        width = batch.times.shape[1]
        h0: Tensor | None = None  # (1, B, d_model) after the last real slot so far
        rows = torch.arange(batch.batch_size, device=batch.times.device)
        for start in range(0, width, chunk):
            sl = slice(start, min(start + chunk, width))
            x = self.inputs(batch.types[:, sl], batch.dt[:, sl], batch.times[:, sl])  # (B, c, d)
            h, _ = self.gru(x, h0)  # (B, c, d_model)
            last = (batch.lengths - start).clamp(max=h.shape[1] - 1)  # (B,) -1: before chunk
            held = h[rows, last.clamp(min=0)]  # (B, d_model)
            if h0 is not None:
                held = torch.where((last >= 0)[:, None], held, h0[0])
            h = torch.where(batch.mask[:, sl, None], h, held[:, None, :])  # padding holds
            h0 = held[None].contiguous()
            yield start, self.norm_f(h), GRUStates(h, F.softplus(self.rate(h)))

    def readout(self, hist: GRUStates, idx: Tensor, tau: Tensor) -> Tensor:
        """h at ``tau`` (B, Q) after slot ``idx`` (B, Q) -> (B, Q, d_model)."""
        rows = torch.arange(idx.shape[0], device=idx.device)[:, None]
        return self._read(hist.h[rows, idx], hist.gamma[rows, idx], tau)

    def _read(self, h: Tensor, gamma: Tensor, tau: Tensor) -> Tensor:
        elapsed = tau.clamp(min=0, max=self.cfg.max_step)[..., None]
        return self.norm_f(h * torch.exp(-gamma * elapsed))

    def sim_cache(self, hist: GRUStates, last_idx: Tensor) -> list[Tensor]:
        rows = torch.arange(last_idx.shape[0], device=last_idx.device)
        return [hist.h[rows, last_idx], hist.gamma[rows, last_idx]]

    def sim_readout(self, cache: list[Tensor], tau: Tensor) -> Tensor:
        return self._read(cache[0], cache[1], tau)

    def sim_append(
        self, cache: list[Tensor], types: Tensor, dt: Tensor, t: Tensor, accept: Tensor
    ) -> list[Tensor]:
        x = self.inputs(types, dt, t)[:, None, :]  # (B, 1, d_model)
        _, h_new = self.gru(x, cache[0][None].contiguous())  # (1, B, d_model)
        h_new = h_new[0]
        gamma_new = F.softplus(self.rate(h_new))
        m = accept[:, None]
        return [torch.where(m, h_new, cache[0]), torch.where(m, gamma_new, cache[1])]
