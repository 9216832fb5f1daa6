"""Query times as zero-input slots of the scan, so one selective-scan call (mamba-ssm's kernel on
CUDA) returns the last layer's outputs at event times and at query times.

The readout it reproduces (:mod:`m3tr.core.temporal.mamba`): for a query ``t`` read from slot
``i`` (the last event strictly before ``t``), with ``e = min(t - t_i, max_step)``,

    state(t) = exp(A * rate_i * e) * state_i                       (D, N), decay only
    y(t)     = (C_i . state(t) + D * u_i) * silu(z_i)               (D,)
    h(t)     = norm(x_i + out_proj(y(t)))

where ``state_i`` is the last layer's state after slot ``i``, ``rate_i, u_i, z_i, C_i`` its
projections of its input ``x_i`` at slot ``i``. A query slot therefore has zero input, the
preceding event's ``u, z, C`` and residual, and a decay over its step ``rate_i * e``.

Design choices, so that the merged scan gives exactly these numbers:

1. Query slots must not alter later event states. A scan carries a slot's decay into every
   later slot, and undoing it needs ``exp(+rate e |A|)``, which overflows or, after an underflow,
   cannot restore the state. So the state passes a query slot unchanged (``delta = 0``:
   ``exp(0 A) = 1`` and zero input ``delta B u = 0``; ``B = 0`` too) and the decay moves into
   the slot's read vector, per channel:

       C'_q[d, n] = C_i[n] * exp(A[d, n] * rate_i[d] * e_q)        (G = D groups of C)
       y_q[d]     = sum_n C'_q[d, n] state_i[d, n]  =  C_i . (exp(A rate_i e_q) state_i)[d]

   which is the decayed state read with the preceding event's ``C``. Event slots keep
   ``C'[d, n] = C_i[n]`` (``e = 0``). Several queries after one event, in any order, all read
   ``state_i``; later events see exactly the states of the event-only scan.
2. Lower layers never see query times (as today): their outputs at a query slot are their
   outputs at slot ``i``, so the last layer's input there is ``x_i`` and only the last layer
   runs on the merged sequence; the lower layers run once, on the events alone.
3. Layout: slot ``i``'s queries follow it, sorted by ``i`` (ties keep their order), so the merged
   sequence has ``L + Q`` slots; :class:`QuerySlots` holds the gather map.

Cost: ``C'`` is per channel, (B, D, N, L + Q) (the kernel needs the same groups for ``B``, which
is an ``expand``, no copy). :func:`m3tr.core.temporal.scan.selective_scan_queries` uses this
layout with mamba-ssm's kernel; the PyTorch scan returns per-slot states, so there the queries
read them directly (same numbers, a scan of ``L`` slots instead of ``L + Q``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class QuerySlots:
    """Events and queries merged into one sequence of ``L + Q`` slots.

    Attributes:
        source: (B, L+Q) the event slot each merged slot copies (its own slot for an event,
            the slot read from for a query).
        is_query: (B, L+Q) True at query slots.
        query_pos: (B, Q) where each query sits in the merged sequence.
        event_pos: (B, L) where each event slot sits.
    """

    source: Tensor
    is_query: Tensor
    query_pos: Tensor
    event_pos: Tensor

    def gather_last(self, per_slot: Tensor) -> Tensor:
        """(B, *S, L) per event slot, slots last -> (B, *S, L+Q) per merged slot."""
        lead = per_slot.shape[1:-1]
        index = self.source.view(self.source.shape[0], *([1] * len(lead)), -1)
        return per_slot.gather(-1, index.expand(-1, *lead, -1))

    def at_queries_last(self, merged: Tensor) -> Tensor:
        """(B, *S, L+Q) -> (B, *S, Q), the values at the query slots."""
        lead = merged.shape[1:-1]
        index = self.query_pos.view(self.query_pos.shape[0], *([1] * len(lead)), -1)
        return merged.gather(-1, index.expand(-1, *lead, -1))

    def spread_channels(self, per_query: Tensor) -> Tensor:
        """(B, D, Q) per query -> (B, D, L+Q), 0 at event slots."""
        out = per_query.new_zeros(*per_query.shape[:2], self.source.shape[1])  # (B, D, L+Q)
        index = self.query_pos[:, None, :].expand(-1, per_query.shape[1], -1)
        return out.scatter(2, index, per_query)


def merge_queries(idx: Tensor, n_slots: int) -> QuerySlots:
    """Place queries read from slots ``idx`` (B, Q) right after those slots, among ``n_slots``.

    A query of rank ``r`` (in the order of ``idx``, stable) read from slot ``i`` sits at
    ``i + 1 + r``; event slot ``i`` at ``i + #{queries read from a slot < i}``.
    """
    bsz, n_q = idx.shape
    device = idx.device
    sorted_idx, order = idx.sort(dim=1, stable=True)  # (B, Q)
    ranks = torch.arange(n_q, device=device).expand(bsz, n_q)  # (B, Q)
    rank = torch.empty_like(order).scatter_(1, order, ranks)  # (B, Q) rank of each query
    query_pos = idx + 1 + rank  # (B, Q)
    slots = torch.arange(n_slots, device=device).expand(bsz, n_slots).contiguous()  # (B, L)
    before = torch.searchsorted(sorted_idx.contiguous(), slots, right=False)  # (B, L)
    event_pos = slots + before  # (B, L)
    width = n_slots + n_q
    source = torch.empty(bsz, width, dtype=torch.long, device=device)
    source.scatter_(1, event_pos, slots)
    source.scatter_(1, query_pos, idx)
    is_query = torch.zeros(bsz, width, dtype=torch.bool, device=device)
    is_query.scatter_(1, query_pos, torch.ones_like(idx, dtype=torch.bool))
    return QuerySlots(source, is_query, query_pos, event_pos)
