"""Pure-PyTorch chunked scans for diagonal linear recurrences (CPU and any device).

Two autograd functions live here, both built on one in-place chunked scan:

- :func:`linear_scan`: ``x_l = a_l * x_{l-1} + b_l`` for generic tensors ``a, b: (B, L, *S)``.
- :func:`selective_scan_bld`: Mamba's selective scan in ``(batch, length, channel)`` layout,
  fused so that the ``(B, L, D, N)`` tensors are built once in the forward and once in the
  backward (the backward is written out by hand, not traced).

The chunked scan splits the length into chunks of ``T`` steps; it scans all chunks at once
(a loop over the ``T`` positions of a chunk, vectorised over chunks), carries the chunk end
states across chunks (a loop over the ``L / T`` chunks, on small tensors), then adds each
carried state, decayed, into its chunk (another loop over ``T``). With ``T ~ sqrt(L)`` there
are ``O(sqrt(L))`` Python iterations, never one per event; every step is a product of decay
factors in ``[0, 1]``, so the scan is as stable as the step-by-step recurrence.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def default_chunk(length: int) -> int:
    """Chunk size for a scan over ``length`` steps: about ``sqrt(length)``, at least 4."""
    return max(4, int(math.ceil(math.sqrt(max(length, 1)))))


def _pad_length(x: Tensor, multiple: int, value: float = 0.0) -> Tensor:
    """Pad dim 1 of ``x`` up to a multiple of ``multiple`` with ``value``."""
    length = x.shape[1]
    extra = (-length) % multiple
    if extra == 0:
        return x
    pad_shape = (x.shape[0], extra, *x.shape[2:])
    return torch.cat([x, x.new_full(pad_shape, value)], dim=1)


def scan_inplace_(x: Tensor, a: Tensor, chunk: int, reverse: bool = False) -> None:
    """Run ``x_l <- x_l + a_l * x_{l-1}`` (or ``x_{l+1}`` when ``reverse``) in place along dim 1.

    Args:
        x: (B, L, *S) inputs ``b_l`` on entry, states on exit. ``L`` must be a multiple of ``chunk``.
        a: (B, L, *S) decay factors. For ``reverse``, ``a_l`` multiplies ``x_{l+1}``.
        chunk: steps per chunk ``T``.
    """
    batch, length = x.shape[:2]
    if length % chunk:
        raise ValueError(f"scan length {length} is not a multiple of chunk {chunk}")
    n_chunks = length // chunk
    state_shape = x.shape[2:]
    xv = x.view(batch, n_chunks, chunk, *state_shape)  # (B, nc, T, *S)
    av = a.view(batch, n_chunks, chunk, *state_shape)  # (B, nc, T, *S)
    order = range(chunk - 1, -1, -1) if reverse else range(chunk)
    order = list(order)
    first = order[0]
    # 1. scan inside every chunk at once, from a zero state; keep each chunk's total decay
    total = av[:, :, first].clone()  # (B, nc, *S)
    prev = first
    for pos in order[1:]:
        xv[:, :, pos].addcmul_(av[:, :, pos], xv[:, :, prev])
        total.mul_(av[:, :, pos])
        prev = pos
    last = order[-1]
    if n_chunks == 1:
        return
    # 2. carry the true end state of each chunk into the next one (small tensors)
    carry = x.new_zeros(batch, *state_shape)  # (B, *S)
    carried = x.new_zeros(batch, n_chunks, *state_shape)  # (B, nc, *S)
    chunk_order = range(n_chunks - 1, -1, -1) if reverse else range(n_chunks)
    for c in chunk_order:
        carried[:, c] = carry
        carry = total[:, c] * carry + xv[:, c, last]
    # 3. add the carried state, decayed step by step, into every position of its chunk
    sl = slice(0, n_chunks - 1) if reverse else slice(1, n_chunks)
    corr = carried[:, sl]  # (B, nc-1, *S)
    for pos in order:
        corr = av[:, sl, pos] * corr
        xv[:, sl, pos].add_(corr)


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, chunk: int) -> Tensor:  # noqa: ANN001
        length = a.shape[1]
        a_p = _pad_length(a, chunk, 1.0)
        x = _pad_length(b, chunk, 0.0).clone()
        scan_inplace_(x, a_p, chunk)
        x = x[:, :length]
        ctx.chunk = chunk
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, gx: Tensor):  # noqa: ANN001, ANN205
        a, x = ctx.saved_tensors
        chunk = ctx.chunk
        length = a.shape[1]
        # adjoint: g_l = gx_l + a_{l+1} g_{l+1}
        a_next = torch.zeros_like(a)
        a_next[:, :-1] = a[:, 1:]
        g = _pad_length(gx.contiguous(), chunk, 0.0).clone()
        scan_inplace_(g, _pad_length(a_next, chunk, 0.0), chunk, reverse=True)
        g = g[:, :length]
        ga = torch.zeros_like(a)
        ga[:, 1:] = g[:, 1:] * x[:, :-1]
        return ga, g, None


def linear_scan(a: Tensor, b: Tensor, chunk: int | None = None) -> Tensor:
    """States of ``x_l = a_l * x_{l-1} + b_l`` with ``x_{-1} = 0``, differentiable in ``a`` and ``b``.

    Args:
        a: (B, L, *S) decay factors (usually in ``[0, 1]``).
        b: (B, L, *S) inputs.
    Returns:
        (B, L, *S) the states ``x_l``.
    """
    if a.shape != b.shape:
        raise ValueError(f"linear_scan: a {tuple(a.shape)} and b {tuple(b.shape)} differ")
    if a.shape[1] == 0:
        return b.clone()
    chunk = chunk or default_chunk(a.shape[1])
    return _LinearScan.apply(a.contiguous(), b.contiguous(), chunk)


# Elements per (b, d) tile of the (B, L, D, N) work: small enough that a tile's temporaries stay
# in cache, so the scan is bound by arithmetic rather than memory bandwidth.
TILE_ELEMENTS = 1 << 20


def _tiles(batch: int, channels: int, per_bd: int) -> list[tuple[slice, slice]]:
    """(batch slice, channel slice) tiles of about ``TILE_ELEMENTS`` elements each."""
    per_b = channels * per_bd
    if per_b <= TILE_ELEMENTS:
        nb = max(1, TILE_ELEMENTS // per_b)
        return [(slice(b, min(b + nb, batch)), slice(0, channels)) for b in range(0, batch, nb)]
    nd = max(1, TILE_ELEMENTS // per_bd)
    return [
        (slice(b, b + 1), slice(d, min(d + nd, channels)))
        for b in range(batch)
        for d in range(0, channels, nd)
    ]


def _tile_states(u: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, chunk: int) -> Tensor:
    """States of one tile. u, delta: (b, Lp, d); A: (d, N); Bm: (b, Lp, N) -> (b, Lp, d, N)."""
    decay = torch.exp(delta.unsqueeze(-1) * A)  # (b, Lp, d, N)
    states = (delta * u).unsqueeze(-1) * Bm.unsqueeze(2)  # (b, Lp, d, N)
    scan_inplace_(states, decay, chunk)
    return states


class _SelectiveScanBLD(torch.autograd.Function):
    """Selective scan, layout (B, L, D): x_l = exp(delta_l A) x_{l-1} + delta_l u_l B_l; y_l = C_l x_l.

    Works tile by tile over (batch, channel) and recomputes the states in the backward, so
    nothing of size (B, L, D, N) is stored unless the states are asked for.
    """

    @staticmethod
    def forward(ctx, u, delta, A, Bm, Cm, chunk, want_states):  # noqa: ANN001, ANN205
        batch, length, channels = u.shape
        n_state = A.shape[1]
        u_p, d_p = _pad_length(u, chunk), _pad_length(delta, chunk)  # (B, Lp, D)
        b_p = _pad_length(Bm, chunk)  # (B, Lp, N)
        y = u.new_empty(batch, length, channels)  # (B, L, D)
        states_out = u.new_empty(batch, length, channels, n_state) if want_states else None
        for bs, ds in _tiles(batch, channels, u_p.shape[1] * n_state):
            states = _tile_states(u_p[bs, :, ds], d_p[bs, :, ds], A[ds], b_p[bs], chunk)
            states = states[:, :length]  # (b, L, d, N)
            y[bs, :, ds] = torch.einsum("bldn,bln->bld", states, Cm[bs])
            if states_out is not None:
                states_out[bs, :, ds] = states
        ctx.chunk = chunk
        ctx.save_for_backward(u, delta, A, Bm, Cm)
        if states_out is None:
            states_out = u.new_zeros(())
            ctx.mark_non_differentiable(states_out)
        return y, states_out

    @staticmethod
    def backward(ctx, gy, g_states):  # noqa: ANN001, ANN205
        u, delta, A, Bm, Cm = ctx.saved_tensors
        chunk = ctx.chunk
        batch, length, channels = u.shape
        n_state = A.shape[1]
        u_p, d_p = _pad_length(u, chunk), _pad_length(delta, chunk)  # (B, Lp, D)
        b_p = _pad_length(Bm, chunk)  # (B, Lp, N)
        c_p, gy_p = _pad_length(Cm, chunk), _pad_length(gy.contiguous(), chunk)
        has_gs = g_states is not None and g_states.dim() == 4
        gs_p = _pad_length(g_states.contiguous(), chunk) if has_gs else None
        g_u, g_delta = torch.empty_like(u), torch.empty_like(delta)
        g_b, g_c = torch.zeros_like(Bm), torch.zeros_like(Cm)
        g_a = torch.zeros_like(A)
        for bs, ds in _tiles(batch, channels, u_p.shape[1] * n_state):
            ut, dt, at = u_p[bs, :, ds], d_p[bs, :, ds], A[ds]
            states = _tile_states(ut, dt, at, b_p[bs], chunk)  # (b, Lp, d, N)
            gx = gy_p[bs, :, ds].unsqueeze(-1) * c_p[bs].unsqueeze(2)  # (b, Lp, d, N)
            if gs_p is not None:
                gx.add_(gs_p[bs, :, ds])
            decay = torch.exp(dt.unsqueeze(-1) * at)  # (b, Lp, d, N)
            a_next = torch.zeros_like(decay)
            a_next[:, :-1] = decay[:, 1:]
            scan_inplace_(gx, a_next, chunk, reverse=True)  # adjoint of the states
            del a_next
            g_c[bs] += torch.einsum("bld,bldn->bln", gy_p[bs, :, ds], states)[:, :length]
            gx_b = torch.einsum("bldn,bln->bld", gx, b_p[bs])  # (b, Lp, d)
            g_b[bs] += torch.einsum("bldn,bld->bln", gx, dt * ut)[:, :length]
            g_u[bs, :, ds] = (dt * gx_b)[:, :length]
            # d loss / d(delta A) = g_decay * decay, with g_decay_l = gx_l * x_{l-1}
            decay.mul_(gx)
            decay[:, 1:].mul_(states[:, :-1])
            decay[:, 0].zero_()  # the state before the first step is zero
            g_delta[bs, :, ds] = (ut * gx_b + torch.einsum("bldn,dn->bld", decay, at))[:, :length]
            g_a[ds] += torch.einsum("bldn,bld->dn", decay, dt)
        return g_u, g_delta, g_a, g_b, g_c, None, None


def selective_scan_bld(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk: int | None = None,
    return_states: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Chunked selective scan in (batch, length, channel) layout, zero initial state.

    Args:
        u: (B, L, D) inputs.
        delta: (B, L, D) step sizes (already positive: softplus and any time scaling applied).
        A: (D, N) state matrix (diagonal per channel; negative for decay).
        B: (B, L, N) input projections.
        C: (B, L, N) output projections.
    Returns:
        y: (B, L, D) ``C_l . x_l`` (no skip, no gate), and
        states: (B, L, D, N) every state ``x_l``, differentiable, when ``return_states``
        (else None; then nothing of size (B, L, D, N) is kept for the backward).
    """
    batch, length, channels = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"selective_scan: delta {tuple(delta.shape)} != u {tuple(u.shape)}")
    if A.shape[0] != channels or B.shape[:2] != (batch, length) or C.shape != B.shape:
        raise ValueError(
            f"selective_scan: shapes do not agree: u {tuple(u.shape)}, A {tuple(A.shape)}, "
            f"B {tuple(B.shape)}, C {tuple(C.shape)} (expected A (D, N), B and C (B, L, N))"
        )
    if length == 0:
        empty = u.new_zeros(batch, 0, channels, A.shape[1]) if return_states else None
        return u.new_zeros(batch, 0, channels), empty
    chunk = chunk or default_chunk(length)
    y, states = _SelectiveScanBLD.apply(
        u.contiguous(),
        delta.contiguous(),
        A.contiguous(),
        B.contiguous(),
        C.contiguous(),
        chunk,
        return_states,
    )
    return y, (states if return_states else None)
