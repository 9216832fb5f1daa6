"""Operations on :class:`EventBatch`: pick rows, repeat rows, append simulated events."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from m3tr.core.temporal.batch import EventBatch


def select_rows(batch: EventBatch, rows: Sequence[int] | Tensor) -> EventBatch:
    """The sub-batch of ``rows``, trimmed to its longest sequence."""
    idx = torch.as_tensor(rows, dtype=torch.long, device=batch.times.device)
    lengths = batch.lengths[idx]
    width = int(lengths.max().item()) + 1 if idx.numel() else 1
    keys = [batch.keys[int(i)] for i in idx] if batch.keys else []
    return EventBatch(
        batch.times[idx, :width],
        batch.types[idx, :width],
        batch.mask[idx, :width],
        batch.dt[idx, :width],
        lengths,
        batch.t_end[idx],
        batch.n_types,
        batch.time_unit_s,
        keys,
    )


def slice_slots(batch: EventBatch, start: int, stop: int) -> EventBatch:
    """Slots ``start..stop-1`` of every row (a chunk of a long batch; slot 0 of the chunk is
    not a BOS unless ``start`` is 0). ``lengths`` counts the real events in the chunk."""
    sl = slice(start, stop)
    mask = batch.mask[:, sl]
    real = mask.clone()
    if start == 0:
        real[:, 0] = False
    return EventBatch(
        batch.times[:, sl],
        batch.types[:, sl],
        mask,
        batch.dt[:, sl],
        real.sum(1),
        batch.t_end,
        batch.n_types,
        batch.time_unit_s,
        list(batch.keys),
    )


def repeat_rows(batch: EventBatch, n: int) -> EventBatch:
    """Each row ``n`` times in a row (row i -> rows i*n .. i*n+n-1)."""
    idx = torch.arange(batch.batch_size, device=batch.times.device).repeat_interleave(n)
    return select_rows(batch, idx)


def append_events(
    batch: EventBatch, times: Tensor, types: Tensor, counts: Tensor, t_end: Tensor | None = None
) -> EventBatch:
    """A new batch with ``counts[b]`` events (times, types: (B, M)) appended to each row.

    The appended times must not precede the row's last event. ``t_end`` (B,): the new window
    end (default: the later of the old end and the last appended event).
    """
    bsz = batch.batch_size
    new_len = batch.lengths + counts  # (B,)
    width = int(new_len.max().item()) + 1 if bsz else 1
    dev = batch.times.device
    out_t = torch.zeros(bsz, width, device=dev)
    out_k = torch.full((bsz, width), batch.n_types, dtype=torch.long, device=dev)
    slots = torch.arange(width, device=dev)[None, :]  # (1, W)
    old_w = batch.times.shape[1]
    out_t[:, :old_w] = batch.times[:, :width]
    out_k[:, :old_w] = torch.where(batch.mask, batch.types, batch.n_types)[:, :width]
    # appended event j of row b goes to slot lengths[b] + 1 + j
    m = times.shape[1]
    j = torch.arange(m, device=dev)[None, :]
    valid = j < counts[:, None]  # (B, M)
    dest = (batch.lengths[:, None] + 1 + j).clamp(max=width - 1)  # (B, M)
    rows = torch.arange(bsz, device=dev)[:, None].expand_as(dest)
    out_t[rows[valid], dest[valid]] = times[valid].to(out_t.dtype)
    out_k[rows[valid], dest[valid]] = types[valid]
    mask = slots <= new_len[:, None]  # (B, W)
    # padding repeats the last valid time
    last_t = out_t.gather(1, new_len[:, None])  # (B, 1)
    out_t = torch.where(mask, out_t, last_t)
    out_k = torch.where(mask, out_k, batch.n_types)
    dt = torch.zeros_like(out_t)
    dt[:, 1:] = (out_t[:, 1:] - out_t[:, :-1]).clamp(min=0)
    dt = dt * mask
    end = torch.maximum(batch.t_end, last_t[:, 0]) if t_end is None else t_end
    return EventBatch(
        out_t, out_k, mask, dt, new_len, end, batch.n_types, batch.time_unit_s, list(batch.keys)
    )
