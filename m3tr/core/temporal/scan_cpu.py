"""The selective scan as a compiled CPU kernel (Numba): one pass over the events per channel.

The chunked PyTorch scan (:mod:`m3tr.core.temporal.scan_kernels`) issues tens of tensor ops per
chunk step and moves every ``(B, L, D, N)`` element through memory several times; this kernel
walks each (sequence, channel) pair's ``L`` steps once with its ``N`` states in registers, like
mamba-ssm's CUDA kernel does per thread block. Work is split over the sequences of the batch
(``prange``), each of which owns its rows of ``dB``, ``dC`` and ``dA``, so no two threads write
the same memory.

Forward, for one sequence ``b`` and channel ``d`` (``a = exp(delta_l A_d)``)::

    x_l = a_l * x_{l-1} + delta_l u_l B_l        y_l = C_l . x_l

Backward, with ``G_l = dLoss/dx_l = C_l gy_l + a_{l+1} G_{l+1}`` (run right to left over the
states recomputed into a ``(L, N)`` buffer of that pair, 32 KiB at L = 512, N = 16)::

    dC_l += gy_l x_l                  dB_l += G_l delta_l u_l
    du_l  = delta_l (G_l . B_l)       ddelta_l = u_l (G_l . B_l) + sum_n G_ln a_ln x_{l-1,n} A_dn
    dA_d += sum_l G_l a_l x_{l-1} delta_l

Nothing of size ``(B, L, D, N)`` is stored. Softplus, ``delta_bias``, the skip ``D`` and the
gate ``z`` stay in PyTorch (:func:`m3tr.core.temporal.scan.selective_scan`), so autograd covers
them. Compiled on first use and cached (``cache=True``: Numba's cache next to this module, or
``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

try:
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency; kept optional for odd platforms
    numba = None


def available() -> bool:
    """Whether Numba imported (the kernel can run)."""
    return numba is not None


if numba is not None:

    @njit(parallel=True, fastmath=True, cache=True)
    def _forward(u, dl, a_dn, b_ln, c_ln, y, last):  # noqa: ANN001, ANN202
        """u, dl: (B, D, L); a_dn: (D, N); b_ln, c_ln: (B, L, N); out: y (B, D, L) and
        last (B, D, N) the state after the last step."""
        n_b, n_d, n_l = u.shape
        n_n = a_dn.shape[1]
        for b in prange(n_b):
            x = np.empty(n_n, dtype=u.dtype)
            for d in range(n_d):
                x[:] = 0.0
                for step in range(n_l):
                    dd = dl[b, d, step]
                    du = dd * u[b, d, step]
                    acc = 0.0
                    for n in range(n_n):
                        x[n] = math.exp(dd * a_dn[d, n]) * x[n] + du * b_ln[b, step, n]
                        acc += c_ln[b, step, n] * x[n]
                    y[b, d, step] = acc
                for n in range(n_n):
                    last[b, d, n] = x[n]

    @njit(parallel=True, fastmath=True, cache=True)
    def _backward(u, dl, a_dn, b_ln, c_ln, gy, g_u, g_dl, g_a_part, g_b, g_c):  # noqa: ANN001, ANN202
        """Gradients; g_u, g_dl: (B, D, L); g_a_part: (B, D, N); g_b, g_c: (B, L, N), zeroed."""
        n_b, n_d, n_l = u.shape
        n_n = a_dn.shape[1]
        for b in prange(n_b):
            dec = np.empty((n_l, n_n), dtype=u.dtype)  # decays of this (b, d), recomputed
            hs = np.empty((n_l, n_n), dtype=u.dtype)  # states of this (b, d), recomputed
            g = np.empty(n_n, dtype=u.dtype)
            for d in range(n_d):
                for n in range(n_n):
                    g[n] = 0.0
                for step in range(n_l):
                    dd = dl[b, d, step]
                    du = dd * u[b, d, step]
                    for n in range(n_n):
                        a = math.exp(dd * a_dn[d, n])
                        dec[step, n] = a
                        hs[step, n] = (
                            a * (hs[step - 1, n] if step > 0 else 0.0) + du * b_ln[b, step, n]
                        )
                for step in range(n_l - 1, -1, -1):
                    dd = dl[b, d, step]
                    uu = u[b, d, step]
                    gys = gy[b, d, step]
                    gx = 0.0
                    gdelta = 0.0
                    for n in range(n_n):
                        if step + 1 < n_l:
                            g[n] = g[n] * dec[step + 1, n]
                        g[n] += c_ln[b, step, n] * gys
                        g_c[b, step, n] += gys * hs[step, n]
                        g_b[b, step, n] += g[n] * dd * uu
                        gx += g[n] * b_ln[b, step, n]
                        if step > 0:
                            q = g[n] * dec[step, n] * hs[step - 1, n]
                            gdelta += q * a_dn[d, n]
                            g_a_part[b, d, n] += q * dd
                    g_u[b, d, step] = gx * dd
                    g_dl[b, d, step] = gx * uu + gdelta

    @njit(parallel=True, fastmath=True, cache=True)
    def _queries_forward(u, dl, a_dn, b_ln, c_ln, x0, idx, qd, y):  # noqa: ANN001, ANN202
        """u, dl: (B, D, L); a_dn: (D, N); b_ln, c_ln: (B, L, N); x0: (B, D, N) the state
        before slot 0; idx: (B, Q) slots; qd: (B, D, Q) the queries' steps; out: y (B, D, Q)."""
        n_b, n_d, n_l = u.shape
        n_n = a_dn.shape[1]
        n_q = idx.shape[1]
        for b in prange(n_b):
            hs = np.empty((n_l, n_n), dtype=u.dtype)  # states of this (b, d)
            x = np.empty(n_n, dtype=u.dtype)
            for d in range(n_d):
                for n in range(n_n):
                    x[n] = x0[b, d, n]
                for step in range(n_l):
                    dd = dl[b, d, step]
                    du = dd * u[b, d, step]
                    for n in range(n_n):
                        x[n] = math.exp(dd * a_dn[d, n]) * x[n] + du * b_ln[b, step, n]
                        hs[step, n] = x[n]
                for q in range(n_q):
                    i = idx[b, q]
                    qq = qd[b, d, q]
                    acc = 0.0
                    for n in range(n_n):
                        acc += c_ln[b, i, n] * math.exp(qq * a_dn[d, n]) * hs[i, n]
                    y[b, d, q] = acc

    @njit(parallel=True, fastmath=True, cache=True)
    def _queries_backward(  # noqa: ANN202, PLR0913
        u, dl, a_dn, b_ln, c_ln, x0, idx, qd, gy,  # noqa: ANN001
        g_u, g_dl, g_a_part, g_b, g_c, g_x0, g_qd,  # noqa: ANN001
    ):  # fmt: skip
        """Gradients of :func:`_queries_forward`; g_u, g_dl: (B, D, L); g_a_part, g_x0:
        (B, D, N); g_b, g_c: (B, L, N), zeroed; g_qd: (B, D, Q)."""
        n_b, n_d, n_l = u.shape
        n_n = a_dn.shape[1]
        n_q = idx.shape[1]
        for b in prange(n_b):
            dec = np.empty((n_l, n_n), dtype=u.dtype)  # decays of this (b, d), recomputed
            hs = np.empty((n_l, n_n), dtype=u.dtype)  # states of this (b, d), recomputed
            gh = np.empty((n_l, n_n), dtype=u.dtype)  # dLoss/dstate from the queries alone
            g = np.empty(n_n, dtype=u.dtype)
            for d in range(n_d):
                for n in range(n_n):
                    g[n] = x0[b, d, n]  # the running state while recomputing
                for step in range(n_l):
                    dd = dl[b, d, step]
                    du = dd * u[b, d, step]
                    for n in range(n_n):
                        a = math.exp(dd * a_dn[d, n])
                        dec[step, n] = a
                        g[n] = a * g[n] + du * b_ln[b, step, n]
                        hs[step, n] = g[n]
                        gh[step, n] = 0.0
                for q in range(n_q):  # the readout: y_q = sum_n C_in e_qn H_in
                    i = idx[b, q]
                    qq = qd[b, d, q]
                    gq = gy[b, d, q]
                    gqd = 0.0
                    for n in range(n_n):
                        e = math.exp(qq * a_dn[d, n])
                        c = c_ln[b, i, n]
                        h = hs[i, n]
                        g_c[b, i, n] += gq * e * h
                        t = gq * c * e * h
                        gqd += t * a_dn[d, n]
                        g_a_part[b, d, n] += t * qq
                        gh[i, n] += gq * c * e
                    g_qd[b, d, q] = gqd
                for n in range(n_n):
                    g[n] = 0.0
                for step in range(n_l - 1, -1, -1):  # G_l = gh_l + a_{l+1} G_{l+1}
                    dd = dl[b, d, step]
                    uu = u[b, d, step]
                    gx = 0.0
                    gdelta = 0.0
                    for n in range(n_n):
                        if step + 1 < n_l:
                            g[n] = g[n] * dec[step + 1, n]
                        g[n] += gh[step, n]
                        g_b[b, step, n] += g[n] * dd * uu
                        gx += g[n] * b_ln[b, step, n]
                        prev = hs[step - 1, n] if step > 0 else x0[b, d, n]
                        p = g[n] * dec[step, n] * prev
                        gdelta += p * a_dn[d, n]
                        g_a_part[b, d, n] += p * dd
                    g_u[b, d, step] = gx * dd
                    g_dl[b, d, step] = gx * uu + gdelta
                for n in range(n_n):
                    g_x0[b, d, n] = dec[0, n] * g[n] if n_l > 0 else g[n]


def _np(t: Tensor) -> np.ndarray:
    """A contiguous CPU tensor's memory as a NumPy array (no copy)."""
    return t.detach().numpy()


class _ScanCPU(torch.autograd.Function):
    """y = scan(u, delta, A, B, C) in mamba-ssm's layout; see the module docstring."""

    @staticmethod
    def forward(ctx, u, delta, A, Bm, Cm):  # noqa: ANN001, ANN205
        u, delta, A = u.contiguous(), delta.contiguous(), A.contiguous()  # (B, D, L), (D, N)
        b_ln = Bm.transpose(1, 2).contiguous()  # (B, L, N)
        c_ln = Cm.transpose(1, 2).contiguous()  # (B, L, N)
        y = torch.empty_like(u)  # (B, D, L)
        last = u.new_empty(u.shape[0], *A.shape)  # (B, D, N)
        _forward(_np(u), _np(delta), _np(A), _np(b_ln), _np(c_ln), _np(y), _np(last))
        ctx.save_for_backward(u, delta, A, b_ln, c_ln)
        ctx.mark_non_differentiable(last)
        return y, last

    @staticmethod
    def backward(ctx, gy, _g_last):  # noqa: ANN001, ANN205
        u, delta, A, b_ln, c_ln = ctx.saved_tensors
        gy = gy.contiguous()  # (B, D, L)
        g_u, g_dl = torch.empty_like(u), torch.empty_like(u)  # (B, D, L)
        g_a_part = u.new_zeros(u.shape[0], *A.shape)  # (B, D, N)
        g_b, g_c = torch.zeros_like(b_ln), torch.zeros_like(c_ln)  # (B, L, N)
        _backward(
            _np(u), _np(delta), _np(A), _np(b_ln), _np(c_ln), _np(gy),
            _np(g_u), _np(g_dl), _np(g_a_part), _np(g_b), _np(g_c),
        )  # fmt: skip
        return g_u, g_dl, g_a_part.sum(0), g_b.transpose(1, 2), g_c.transpose(1, 2)


def scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """``C_l . x_l`` for every step (no skip, no gate), zero initial state, on the CPU.

    Args:
        u, delta: (B, D, L) inputs and positive steps (softplus and bias applied);
        A: (D, N); B, C: (B, N, L). One dtype, float32 or float64, CPU.
    Returns:
        y: (B, D, L), differentiable; the state after the last step (B, D, N), not
        differentiable (the caller takes the PyTorch scan when it needs that gradient).
    """
    if numba is None:
        raise RuntimeError("the compiled CPU scan needs numba (pip install numba)")
    return _ScanCPU.apply(u, delta, A, B, C)


class _QueriesCPU(torch.autograd.Function):
    """y_q = C_i . (exp(q_delta_q A) x_i), i = idx_q, over the scan's states x (mamba-ssm's
    layout); see :func:`scan_queries`."""

    @staticmethod
    def forward(ctx, u, delta, A, Bm, Cm, idx, q_delta, init):  # noqa: ANN001, ANN205
        u, delta, A = u.contiguous(), delta.contiguous(), A.contiguous()  # (B, D, L), (D, N)
        b_ln = Bm.transpose(1, 2).contiguous()  # (B, L, N)
        c_ln = Cm.transpose(1, 2).contiguous()  # (B, L, N)
        idx = idx.to(torch.int64).contiguous()  # (B, Q)
        q_delta = q_delta.contiguous()  # (B, D, Q)
        x0 = u.new_zeros(u.shape[0], *A.shape) if init is None else init.contiguous()  # (B, D, N)
        y = u.new_empty(*u.shape[:2], idx.shape[1])  # (B, D, Q)
        _queries_forward(
            _np(u), _np(delta), _np(A), _np(b_ln), _np(c_ln), _np(x0), _np(idx), _np(q_delta),
            _np(y),
        )  # fmt: skip
        ctx.save_for_backward(u, delta, A, b_ln, c_ln, x0, idx, q_delta)
        return y

    @staticmethod
    def backward(ctx, gy):  # noqa: ANN001, ANN205
        u, delta, A, b_ln, c_ln, x0, idx, q_delta = ctx.saved_tensors
        gy = gy.contiguous()  # (B, D, Q)
        g_u, g_dl = torch.empty_like(u), torch.empty_like(u)  # (B, D, L)
        g_a_part = u.new_zeros(u.shape[0], *A.shape)  # (B, D, N)
        g_x0 = torch.empty_like(x0)  # (B, D, N)
        g_b, g_c = torch.zeros_like(b_ln), torch.zeros_like(c_ln)  # (B, L, N)
        g_qd = torch.empty_like(q_delta)  # (B, D, Q)
        _queries_backward(
            _np(u), _np(delta), _np(A), _np(b_ln), _np(c_ln), _np(x0), _np(idx), _np(q_delta),
            _np(gy), _np(g_u), _np(g_dl), _np(g_a_part), _np(g_b), _np(g_c), _np(g_x0),
            _np(g_qd),
        )  # fmt: skip
        g_init = g_x0 if ctx.needs_input_grad[7] else None
        return (
            g_u, g_dl, g_a_part.sum(0), g_b.transpose(1, 2), g_c.transpose(1, 2), None, g_qd,
            g_init,
        )  # fmt: skip


def scan_queries(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, idx: Tensor, q_delta: Tensor,
    init: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """The scan's states read at queries, on the CPU, without storing ``(B, L, D, N)``::

        y_q = C_i . (exp(q_delta_q * A) * x_i)        i = idx_q   (no skip, no gate)

    Per (sequence, channel) the ``L`` states go into a ``(L, N)`` buffer (128 KiB at L = 2048,
    N = 16, fp32) and every query of that sequence reads it; the backward adds each query's
    ``dLoss/dx_i`` into a buffer of the same size and runs the adjoint right to left as
    :func:`scan`'s does.

    Args:
        u, delta: (B, D, L) inputs and final steps; A: (D, N); B, C: (B, N, L);
        idx: (B, Q) slots in ``[0, L)``; q_delta: (B, D, Q) each query's step;
        init: (B, D, N) the state before slot 0 (default zero). One float dtype, CPU.
    Returns:
        y: (B, D, Q), differentiable in every float argument.
    """
    if numba is None:
        raise RuntimeError("the compiled CPU scan needs numba (pip install numba)")
    lo, hi = (int(idx.min()), int(idx.max())) if idx.numel() else (0, 0)
    if idx.numel() and (lo < 0 or hi >= u.shape[2]):
        raise IndexError(f"query slots must lie in [0, {u.shape[2]}), got {lo}..{hi}")
    return _QueriesCPU.apply(u, delta, A, B, C, idx, q_delta, init)  # type: ignore[no-any-return]


def set_threads(n: int) -> None:
    """Threads of the kernel's parallel loop over sequences (the process's thread policy)."""
    if numba is not None:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
