"""Point-process likelihood pieces shared by every model: causal indexing and the compensator.

``loglik = sum_i log lambda_{k_i}(t_i) - sum_k int_0^T lambda_k(t) dt``. The integral is split
at the events; on each interval it is estimated by stratified Monte Carlo (``n`` points, one
uniform draw in each of ``n`` equal strata), which is unbiased for any integrable intensity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from m3tr.core.temporal.batch import EventBatch


@dataclass
class LogLikelihood:
    """Per-sequence log-likelihood terms.

    Attributes:
        log_intensity: (B,) ``sum_i log lambda_{k_i}(t_i)``.
        compensator: (B,) ``sum_k int lambda_k`` over the window.
        n_events: (B,) events scored.
    """

    log_intensity: Tensor
    compensator: Tensor
    n_events: Tensor

    @property
    def loglik(self) -> Tensor:
        """(B,) log-likelihood of each sequence."""
        return self.log_intensity - self.compensator

    def nll_per_event(self) -> Tensor:
        """Scalar: total negative log-likelihood over total events (the training loss)."""
        return -self.loglik.sum() / self.n_events.sum().clamp(min=1)


def last_index_before(batch: EventBatch, query: Tensor) -> Tensor:
    """Slot of the last event strictly before each query time (BOS, slot 0, if none).

    Args:
        query: (B, Q) times in model units.
    Returns:
        (B, Q) long indices into the slots ``0..L``.
    """
    real = batch.times[:, 1:].masked_fill(~batch.mask[:, 1:], float("inf"))  # (B, L)
    return torch.searchsorted(real.contiguous(), query.contiguous(), right=False)


def interval_bounds(batch: EventBatch) -> tuple[Tensor, Tensor, Tensor]:
    """The intervals between slots: after slot j until the next slot or ``t_end``.

    Returns:
        start: (B, L+1), length: (B, L+1) (0 for padding), and their slot index (B, L+1).
    """
    times = batch.times  # (B, L+1)
    nxt = torch.empty_like(times)
    nxt[:, :-1] = times[:, 1:]
    nxt[:, -1] = batch.t_end
    last = batch.lengths  # slot index of the last real event
    slots = torch.arange(times.shape[1], device=times.device)[None, :]  # (1, L+1)
    nxt = torch.where(slots == last[:, None], batch.t_end[:, None], nxt)
    length = (nxt - times).clamp(min=0) * (slots <= last[:, None])
    idx = slots.expand_as(times)
    return times, length, idx


def stratified_points(length: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
    """Offsets (..., n) with one uniform draw in each of ``n`` equal strata of ``[0, length)``."""
    u = torch.rand(*length.shape, n, generator=generator, device=length.device)
    strata = torch.arange(n, device=length.device, dtype=length.dtype)
    return (strata + u) / n * length[..., None]


def mc_integral(
    fn: Callable[[Tensor], Tensor],
    start: Tensor,
    length: Tensor,
    n: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Unbiased stratified Monte-Carlo estimate of ``int_start^{start+length} fn``.

    Args:
        fn: maps times (..., n) to values (..., n, K).
        start, length: (...).
    Returns:
        (..., K) integral estimates.
    """
    offsets = stratified_points(length, n, generator)  # (..., n)
    values = fn(start[..., None] + offsets)  # (..., n, K)
    return values.mean(-2) * length[..., None]
