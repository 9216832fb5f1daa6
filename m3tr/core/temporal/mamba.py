"""Time-aware Mamba over event sequences: the context ``h(t)`` of Eq. 1.

Each layer is a Mamba block (gated selective SSM, no convolution) whose discretisation step
is driven by real time: ``delta_i = softplus(dt_proj(x_i)) * clock_i`` with
``clock_i = min(dt_i, max_step) + event_step``, so ``Abar = exp(delta_i A)`` decays the state by
elapsed time, not by event count. Between events the last layer's state keeps decaying with
the last event's rate: for ``t`` after slot ``i``,
``state(t) = exp(A * rate_i * min(t - t_i, max_step)) * state_i`` and
``h(t) = norm(x_i + out_proj((C_i . state(t) + D u_i) * silu(z_i)))``. At ``t = t_i`` this is
exactly the layer's output for slot ``i``; ``h(t)`` depends only on slots ``<= i``.

Every layer runs through :func:`m3tr.core.temporal.scan.selective_scan` (mamba-ssm's kernel on
CUDA): reading ``h(t)`` needs no per-slot states from the kernel, because query times enter
the last layer's scan as zero-input slots (:mod:`m3tr.core.temporal.query_slots`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3tr.core.temporal.batch import EventBatch
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.scan import selective_scan, selective_scan_queries


class EventInput(nn.Module):
    """Event embedding ``E[type] + W [log1p(dt), log1p(t)]`` (BOS has id ``K``)."""

    def __init__(self, n_types: int, d_model: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_types + 1, d_model)
        self.time = nn.Linear(2, d_model)

    def forward(self, types: Tensor, dt: Tensor, t: Tensor) -> Tensor:
        """types, dt, t: (...) -> (..., d_model)."""
        feats = torch.stack([torch.log1p(dt.clamp(min=0)), torch.log1p(t.clamp(min=0))], -1)
        return self.embed(types) + self.time(feats)


@dataclass
class LayerCache:
    """What one layer keeps of its last slot, for stepping and reading out between events."""

    state: Tensor  # (B, D, N)
    x_in: Tensor | None = None  # (B, d_model) input of the last slot (residual)
    u: Tensor | None = None  # (B, D)
    z: Tensor | None = None  # (B, D)
    rate: Tensor | None = None  # (B, D)
    C: Tensor | None = None  # (B, N)


@dataclass
class MambaStates:
    """Encoded history: what the last layer needs to read out between slots, and every layer's
    state after the last slot."""

    x_in: Tensor  # (B, L+1, d_model) the last layer's input at each slot
    clock: Tensor  # (B, L+1) each slot's clock (0 on padding)
    init: Tensor | None = None  # (B, D, N) the last layer's state before slot 0 (None: zero)
    finals: list[Tensor] = field(default_factory=list)  # per layer (B, D, N); empty unless asked


class TimeAwareMambaLayer(nn.Module):
    """One gated selective-SSM block with a time-driven step."""

    def __init__(self, cfg: MHPConfig) -> None:
        super().__init__()
        d, n, r = cfg.d_inner, cfg.d_state, cfg.dt_rank
        self.cfg = cfg
        self.norm = nn.LayerNorm(cfg.d_model)
        self.in_proj = nn.Linear(cfg.d_model, 2 * d)
        self.x_proj = nn.Linear(d, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, d)
        # rates from 0.05 to 2 per time unit (log-uniform), as Mamba's dt init
        rates = torch.exp(torch.rand(d) * (math.log(2.0) - math.log(0.05)) + math.log(0.05))
        with torch.no_grad():
            self.dt_proj.bias.copy_(rates + torch.log(-torch.expm1(-rates)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1).float()).repeat(d, 1))
        self.D = nn.Parameter(torch.ones(d))
        self.out_proj = nn.Linear(d, cfg.d_model)

    @property
    def A(self) -> Tensor:
        return -torch.exp(self.A_log)  # (D, N)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """x: (..., d_model) -> u, z, rate (..., D) and B, C (..., N)."""
        n, r = self.cfg.d_state, self.cfg.dt_rank
        u, z = self.in_proj(self.norm(x)).chunk(2, dim=-1)  # (..., D) each
        u = F.silu(u)
        low, b, c = self.x_proj(u).split([r, n, n], dim=-1)
        rate = F.softplus(self.dt_proj(low))  # (..., D)
        return u, z, rate, b, c

    def forward(
        self, x: Tensor, clock: Tensor, want_final: bool = False, init: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """x: (B, L, d_model), clock: (B, L) (0 on padding) -> out (B, L, d_model) and, with
        ``want_final``, the state after the last slot (B, D, N).

        ``init`` (B, D, N): the state before the first slot (default zero), so a long sequence
        can be encoded chunk after chunk with the same result as in one piece.
        """
        u, z, rate, b, c = self.project(x)
        delta = rate * clock[..., None]  # (B, L, D)
        y, final = self._scan(u, delta, b, c, z, want_final, init)
        return x + self.out_proj(y), final

    def read_queries(
        self, x: Tensor, clock: Tensor, idx: Tensor, elapsed: Tensor, init: Tensor | None = None
    ) -> Tensor:
        """The gated SSM output (B, Q, D) at queries ``elapsed`` (B, Q) time units (already
        clamped to ``max_step``) after slots ``idx`` (B, Q) of ``x`` (B, L, d_model), ``clock``
        (B, L): the state decayed by ``rate_i * elapsed``, read with slot i's C, skip and gate
        (:func:`m3tr.core.temporal.scan.selective_scan_queries`: one kernel call over events and
        zero-input query slots on CUDA)."""
        u, z, rate, b, c = self.project(x)  # (B, L, D) / (B, L, N)
        delta = rate * clock[..., None]  # (B, L, D)
        rows = torch.arange(idx.shape[0], device=idx.device)[:, None]  # (B, 1)
        q_delta = rate[rows, idx] * elapsed[..., None].to(rate.dtype)  # (B, Q, D)
        y = selective_scan_queries(
            u.transpose(1, 2), delta.transpose(1, 2), self.A, b.transpose(1, 2),
            c.transpose(1, 2), self.D, z.transpose(1, 2), idx, q_delta.transpose(1, 2),
            init, chunk=self.cfg.scan_chunk,
        )  # fmt: skip
        return y.transpose(1, 2)  # (B, Q, D)

    def _scan(
        self,
        u: Tensor,
        delta: Tensor,
        b: Tensor,
        c: Tensor,
        z: Tensor,
        want_final: bool,
        init: Tensor | None,
    ) -> tuple[Tensor, Tensor | None]:
        """(C . x + D u) * silu(z) (B, L, D) and the final state (B, D, N) or None.

        u, delta, z: (B, L, D); b, c: (B, L, N).
        """
        out = selective_scan(
            u.transpose(1, 2), delta.transpose(1, 2), self.A, b.transpose(1, 2),
            c.transpose(1, 2), self.D, z.transpose(1, 2), return_last_state=want_final,
            chunk=self.cfg.scan_chunk,
        )  # fmt: skip
        y, final = out if want_final else (out, None)  # type: ignore[misc]
        y = y.transpose(1, 2)  # (B, L, D)
        if init is not None:  # add the carried initial state, read and gated like the scan's
            carried = self.carry(init, delta)  # (B, L, D, N)
            y = y + torch.einsum("bldn,bln->bld", carried, c) * F.silu(z)
            final = None if final is None else final + carried[:, -1]
        return y, final

    def carry(self, init: Tensor, delta: Tensor) -> Tensor:
        """(B, L, D, N): the state ``init`` (B, D, N) decayed to every slot of a chunk,
        ``exp(A sum_{j<=l} delta_j) init``; added to the zero-start scan it gives the scan
        started from ``init`` (the recurrence is linear in its state)."""
        return torch.exp(delta.cumsum(1)[..., None] * self.A) * init[:, None]  # (B, L, D, N)

    def step(self, cache: LayerCache, x: Tensor, clock: Tensor) -> tuple[Tensor, LayerCache]:
        """One new slot. x: (B, d_model), clock: (B,) -> out (B, d_model), new cache."""
        u, z, rate, b, c = self.project(x)  # (B, D) / (B, N)
        delta = rate * clock[:, None]  # (B, D)
        state = torch.exp(delta[..., None] * self.A) * cache.state  # (B, D, N)
        state = state + (delta * u)[..., None] * b[:, None, :]
        y = ((state * c[:, None, :]).sum(-1) + u * self.D) * F.silu(z)  # (B, D)
        return x + self.out_proj(y), LayerCache(state, x, u, z, rate, c)


class TimeAwareMamba(nn.Module):
    """Stack of :class:`TimeAwareMambaLayer` with the event input and a final norm."""

    def __init__(self, cfg: MHPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inputs = EventInput(cfg.n_types, cfg.d_model)
        self.layers = nn.ModuleList(TimeAwareMambaLayer(cfg) for _ in range(cfg.n_layers))
        self.norm_f = nn.LayerNorm(cfg.d_model)

    def clock(self, dt: Tensor) -> Tensor:
        """Clock credited to a slot ``dt`` after the previous one (time units)."""
        return dt.clamp(min=0, max=self.cfg.max_step) + self.cfg.event_step

    def encode(
        self, batch: EventBatch, need_finals: bool = False, outputs: bool = True
    ) -> tuple[Tensor | None, MambaStates]:
        """Per-slot outputs (B, L+1, d_model) and the states needed to read out between slots.

        ``need_finals``: also keep every layer's final state (for simulation). ``outputs``
        False: skip the last layer (the readout runs it, with its queries) and return None.
        """
        x = self.inputs(batch.types, batch.dt, batch.times)  # (B, L+1, d_model)
        clock = self.clock(batch.dt) * batch.mask  # (B, L+1)
        finals: list[Tensor] = []
        *lower, last = self.layers
        for layer in lower:
            x, final = layer(x, clock, want_final=need_finals)
            if final is not None:
                finals.append(final)
        hist = MambaStates(x, clock, None, finals)
        if not (outputs or need_finals):
            return None, hist
        out, final = last(x, clock, want_final=need_finals)
        if final is not None:
            finals.append(final)
        return self.norm_f(out), hist

    def encode_chunks(
        self, batch: EventBatch, chunk: int
    ) -> Iterator[tuple[int, Tensor, MambaStates]]:
        """:meth:`encode` ``chunk`` slots at a time: yields (first slot, outputs (B, c, d_model),
        states of those c slots), carrying every layer's state across chunks, so memory is
        O(B * chunk * D * N) whatever the length. ``finals`` hold every layer's state at the
        chunk's end (padding keeps a state unchanged: its clock is 0)."""
        width = batch.times.shape[1]
        carry: list[Tensor | None] = [None] * len(self.layers)
        last_init: Tensor | None = None
        for start in range(0, width, chunk):
            sl = slice(start, min(start + chunk, width))
            x = self.inputs(batch.types[:, sl], batch.dt[:, sl], batch.times[:, sl])  # (B, c, d)
            clock = self.clock(batch.dt[:, sl]) * batch.mask[:, sl]  # (B, c)
            x_last = x
            for i, layer in enumerate(self.layers):
                x_last = x
                x, carry[i] = layer(x, clock, want_final=True, init=carry[i])
            states = MambaStates(x_last, clock, init=last_init, finals=list(carry))  # type: ignore[arg-type]
            last_init = carry[-1]
            yield start, self.norm_f(x), states

    def readout(self, hist: MambaStates, idx: Tensor, tau: Tensor) -> Tensor:
        """h at ``tau`` (B, Q) after slot ``idx`` (B, Q) -> (B, Q, d_model): one scan of the
        last layer over the slots and the queries (:meth:`TimeAwareMambaLayer.read_queries`)."""
        elapsed = tau.clamp(min=0, max=self.cfg.max_step)  # (B, Q)
        y = self.layers[-1].read_queries(hist.x_in, hist.clock, idx, elapsed, hist.init)
        rows = torch.arange(idx.shape[0], device=idx.device)[:, None]  # (B, 1)
        return self.norm_f(hist.x_in[rows, idx] + self.layers[-1].out_proj(y))  # (B, Q, d_model)

    def _read(self, cache: LayerCache, tau: Tensor) -> Tensor:
        """h at ``tau`` after the slot of a one-slot cache (the step-by-step form, for
        simulation): the state decayed by ``rate * min(tau, max_step)``, read with its C."""
        layer = self.layers[-1]
        elapsed = tau.clamp(min=0, max=self.cfg.max_step)  # (...)
        decay = torch.exp((cache.rate * elapsed[..., None])[..., None] * layer.A)  # (..., D, N)
        state = decay * cache.state  # (..., D, N)
        y = (state * cache.C[..., None, :]).sum(-1) + cache.u * layer.D  # (..., D)
        y = y * F.silu(cache.z)
        return self.norm_f(cache.x_in + layer.out_proj(y))  # (..., d_model)

    # -- simulation (one slot at a time, batched over sequences) --------------------------
    def sim_cache(self, hist: MambaStates, last_idx: Tensor) -> list[LayerCache]:
        """Caches of every layer at slot ``last_idx`` (B,), the last valid slot (the states
        are ``hist.finals``: padding after it leaves them unchanged)."""
        if len(hist.finals) != len(self.layers):
            raise ValueError("sim_cache needs every layer's final state: encode(need_finals=True)")
        rows = torch.arange(last_idx.shape[0], device=last_idx.device)
        caches = [LayerCache(f) for f in hist.finals[:-1]]
        x_in = hist.x_in[rows, last_idx]  # (B, d_model)
        u, z, rate, _, c = self.layers[-1].project(x_in)
        caches.append(LayerCache(hist.finals[-1], x_in, u, z, rate, c))
        return caches

    def sim_readout(self, caches: list[LayerCache], tau: Tensor) -> Tensor:
        """h at ``tau`` (B,) after the last slot -> (B, d_model)."""
        return self._read(caches[-1], tau)

    def sim_append(
        self, caches: list[LayerCache], types: Tensor, dt: Tensor, t: Tensor, accept: Tensor
    ) -> list[LayerCache]:
        """Caches after a new event (types, dt, t: (B,)) where ``accept`` (B,) is True."""
        x = self.inputs(types, dt, t)  # (B, d_model)
        clock = self.clock(dt)
        out = []
        for layer, cache in zip(self.layers, caches, strict=True):
            x, new = layer.step(cache, x, clock)
            out.append(_merge(cache, new, accept))
        return out


def _merge(old: LayerCache, new: LayerCache, accept: Tensor) -> LayerCache:
    def pick(a: Tensor | None, b: Tensor | None) -> Tensor | None:
        if a is None or b is None:
            return b if a is None else a
        m = accept.view(-1, *([1] * (a.dim() - 1)))
        return torch.where(m, b, a)

    return LayerCache(
        pick(old.state, new.state),  # type: ignore[arg-type]
        pick(old.x_in, new.x_in),
        pick(old.u, new.u),
        pick(old.z, new.z),
        pick(old.rate, new.rate),
        pick(old.C, new.C),
    )
