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


def set_threads(n: int) -> None:
    """Threads of the kernel's parallel loop over sequences (the process's thread policy)."""
    if numba is not None:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
