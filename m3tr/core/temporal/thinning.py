"""Ogata thinning (paper Algorithm 1), batched over many sequences at once.

Every model that can be simulated offers four methods (see :class:`Simulable`): its state at the
end of a batch (``sim_init``), an upper bound of its total intensity valid from a time until the
next event (``sim_bound``), its intensity at a time (``sim_intensity``) and the state after an
event (``sim_append``). Each iteration draws, for every active sequence at once, one candidate
``t + Exp(bound)``, accepts it with probability ``lambda(t_cand) / bound``, picks its type in
proportion to ``lambda_k``, and moves on from the candidate (the bound is recomputed there, so
it tightens as excitation decays). The bound is checked at every candidate.

Two samplers run this algorithm, chosen in one place (:func:`thinning_backend`): the batched
PyTorch loop here (any :class:`Simulable`, any device) and, for the MHP on the CPU, a compiled
kernel (:mod:`m3tr.core.temporal.thinning_cpu`), ~10-20x faster on a forecast. They draw their
random numbers differently (same law, not the same paths for a seed), so the kernel is used only
where a caller asks for it (``backend="auto"``: forecasts); signatures keep the PyTorch loop,
and with it the vectors already stored in banks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from m3tr.core.temporal import thinning_cpu
from m3tr.core.temporal.batch import EventBatch

log = logging.getLogger(__name__)

BACKENDS = ("torch", "cpu_kernel")


class ThinningBoundError(RuntimeError):
    """The intensity exceeded its declared upper bound (a bug in a model's ``sim_bound``)."""


class Simulable(Protocol):
    n_types: int

    def sim_init(self, batch: EventBatch) -> Any: ...
    def sim_bound(self, state: Any, t: Tensor) -> Tensor: ...
    def sim_intensity(self, state: Any, t: Tensor) -> Any: ...
    def sim_append(self, state: Any, t: Tensor, types: Tensor, accept: Tensor) -> Any: ...


@dataclass
class Simulation:
    """Simulated events after the observed ones.

    Attributes:
        times: (B, M) model time units (padding: +inf).
        types: (B, M) long (padding: 0).
        counts: (B,) simulated events per sequence.
        iterations: thinning iterations (one candidate per active sequence each).
        candidates: candidates drawn in all.
        truncated: (B,) True where ``max_iter`` stopped a sequence before its target.
        probe_total: (B, G, K) the intensity at the probe times along each simulated path
            (each read from the state after the last event strictly before it), or None.
        probe_hawkes: (B, G, K) its classical part alone, or None.
    """

    times: Tensor
    types: Tensor
    counts: Tensor
    iterations: int
    candidates: int
    truncated: Tensor
    probe_total: Tensor | None = None
    probe_hawkes: Tensor | None = None


def _as_vector(x: Tensor | float | int, n: int, like: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=like.dtype, device=like.device).expand(n).clone()


@torch.no_grad()
def simulate(
    model: Simulable,
    batch: EventBatch,
    n_events: Tensor | int,
    t_stop: Tensor | float = float("inf"),
    t_start: Tensor | None = None,
    generator: torch.Generator | None = None,
    max_iter: int = 100_000,
) -> Simulation:
    """Extend every sequence of ``batch`` by up to ``n_events`` simulated events before ``t_stop``.

    Args:
        model: anything :class:`Simulable` (MHP, classical Hawkes, Poisson, ...).
        batch: observed events; simulation starts at ``t_start`` (default ``batch.t_end``).
        n_events: (B,) or scalar: how many events to add at most.
        t_stop: (B,) or scalar: no event at or after this time (model units).
        max_iter: safety cap on thinning iterations.
    """
    start = batch.t_end if t_start is None else t_start
    return simulate_from(model, model.sim_init(batch), start, n_events, t_stop, generator, max_iter)


class _Probes:
    """Records the intensity at fixed times (G,) along B simulated paths.

    A probe is read when the path's clock passes it, from the state in force then (the one
    after the last event strictly before the probe), so memory is (B, G, K) whatever the
    number of events; nothing is re-encoded afterwards.
    """

    def __init__(self, probe: Tensor, t0: Tensor, n_types: int) -> None:
        self.probe = probe  # (G,)
        self.next = torch.searchsorted(probe, t0.contiguous(), right=False)  # (B,) first unread
        shape = (t0.shape[0], probe.shape[0], n_types)
        self.total = torch.full(shape, float("nan"), device=t0.device)
        self.hawkes = torch.full(shape, float("nan"), device=t0.device)
        self.rows = torch.arange(t0.shape[0], device=t0.device)

    def read_until(self, model: Simulable, state: Any, until: Tensor | None, rows: Tensor) -> None:
        """Read every unread probe <= ``until`` (B,) (all of them when None) of ``rows`` (B,)."""
        g = self.probe.shape[0]
        while True:
            nxt = self.next.clamp(max=g - 1)
            due = rows & (self.next < g)
            if until is not None:
                due = due & (self.probe[nxt] <= until)
            if not bool(due.any()):
                return
            parts = model.sim_intensity(state, self.probe[nxt])  # (B, K)
            sel = self.rows[due]
            self.total[sel, self.next[due]] = parts.total[due]
            self.hawkes[sel, self.next[due]] = parts.hawkes_only[due]
            self.next = self.next + due.long()


def thinning_backend(model: Simulable, state: Any) -> str:
    """The one place the sampler is chosen: ``"cpu_kernel"`` for an MHP with the Mamba context
    whose state is on the CPU when Numba imports (:func:`thinning_cpu.supports`), else
    ``"torch"``."""
    return "cpu_kernel" if thinning_cpu.supports(model, state) else "torch"


@torch.no_grad()
def simulate_from(
    model: Simulable,
    state: Any,
    t_start: Tensor,
    n_events: Tensor | int,
    t_stop: Tensor | float = float("inf"),
    generator: torch.Generator | None = None,
    max_iter: int = 100_000,
    probe: Tensor | None = None,
    backend: str = "torch",
) -> Simulation:
    """Ogata thinning from a state already built (``model.sim_init``): B = ``t_start.shape[0]``.

    Many futures of one history share its encoding: build the state once and repeat its rows
    (:func:`m3tr.core.temporal.state_ops.repeat_rows_of`). ``probe`` (G,) increasing times:
    also record the intensity at those times along every path (``probe_total``,
    ``probe_hawkes``); probes before ``t_start`` stay NaN. ``backend``: ``"torch"`` (this loop),
    ``"cpu_kernel"``, or ``"auto"`` (:func:`thinning_backend`; see the module docstring).
    """
    bsz = t_start.shape[0]
    target = _as_vector(n_events, bsz, t_start).long()
    stop = _as_vector(t_stop, bsz, t_start)
    if backend == "auto":
        backend = thinning_backend(model, state)
    if backend == "cpu_kernel":
        return Simulation(
            *thinning_cpu.simulate_mhp(
                model, state, t_start, target, stop, generator, max_iter, probe
            )
        )
    if backend != "torch":
        raise ValueError(f"unknown thinning backend {backend!r}: use one of {BACKENDS} or 'auto'")
    t = t_start.clone()
    width = int(target.max().item()) if bsz else 0
    out_t = torch.full((bsz, max(width, 1)), float("inf"), device=t.device)
    out_k = torch.zeros((bsz, max(width, 1)), dtype=torch.long, device=t.device)
    done = torch.zeros(bsz, dtype=torch.long, device=t.device)
    probes = None if probe is None else _Probes(probe, t_start, model.n_types)
    active = (done < target) & (t < stop)
    rows = torch.arange(bsz, device=t.device)
    it = cand = 0
    while bool(active.any()) and it < max_iter:
        it += 1
        cand += int(active.sum())
        bound = model.sim_bound(state, t)  # (B,)
        e = torch.empty_like(t).exponential_(1.0, generator=generator)
        t_cand = torch.where(active, t + e / bound, t)  # (B,)
        if probes is not None:  # the state holds until t_cand at least
            probes.read_until(model, state, torch.minimum(t_cand, stop), active)
        lam = model.sim_intensity(state, t_cand).total  # (B, K)
        total = lam.sum(-1)
        over = active & (total > bound * (1 + 1e-4) + 1e-6)
        if bool(over.any()):
            i = int(over.nonzero()[0])
            raise ThinningBoundError(
                f"intensity {float(total[i]):.6g} exceeds its bound {float(bound[i]):.6g} "
                f"at t={float(t_cand[i]):.6g} (sequence {i})"
            )
        u = torch.rand(bsz, generator=generator, device=t.device)
        accept = active & (t_cand < stop) & (u * bound <= total)
        kinds = torch.multinomial(lam.clamp(min=0) + 1e-30, 1, generator=generator)[:, 0]
        if bool(accept.any()):
            sel = rows[accept]
            out_t[sel, done[accept]] = t_cand[accept]
            out_k[sel, done[accept]] = kinds[accept]
            state = model.sim_append(state, t_cand, kinds, accept)
            done = done + accept.long()
        t = t_cand
        active = active & (done < target) & (t < stop)
    truncated = active.clone()
    if bool(truncated.any()):
        log.warning("thinning stopped by max_iter=%d for %d sequences", max_iter, truncated.sum())
    if probes is not None:  # paths that stopped early (event cap, max_iter): last state holds
        probes.read_until(model, state, None, torch.ones_like(active))
    return Simulation(
        out_t, out_k, done, it, cand, truncated,
        None if probes is None else probes.total,
        None if probes is None else probes.hawkes,
    )  # fmt: skip


@torch.no_grad()
def simulate_one_at_a_time(
    model: Simulable,
    batch: EventBatch,
    n_events: int,
    t_stop: float = float("inf"),
    generator: torch.Generator | None = None,
) -> list[tuple[list[float], list[int]]]:
    """Reference sampler: one sequence at a time, one candidate per Python iteration.

    Same algorithm as :func:`simulate`; used to check it and as the benchmark's baseline.
    """
    from m3tr.core.temporal.batch_ops import select_rows

    results = []
    for i in range(batch.batch_size):
        one = select_rows(batch, [i])
        state = model.sim_init(one)
        t = float(one.t_end[0])
        ts: list[float] = []
        ks: list[int] = []
        while len(ts) < n_events:
            tt = torch.tensor([t])
            bound = float(model.sim_bound(state, tt)[0])
            t += float(torch.empty(1).exponential_(1.0, generator=generator)) / bound
            if t >= t_stop:
                break
            tt = torch.tensor([t])
            lam = model.sim_intensity(state, tt).total[0]
            if float(torch.rand(1, generator=generator)) * bound <= float(lam.sum()):
                k = int(torch.multinomial(lam, 1, generator=generator))
                state = model.sim_append(state, tt, torch.tensor([k]), torch.tensor([True]))
                ts.append(t)
                ks.append(k)
        results.append((ts, ks))
    return results
