"""The selective scan behind one function, with a readable reference beside it.

``selective_scan`` has the signature of mamba-ssm's ``selective_scan_fn`` (layout ``(B, D, L)``)
and picks its backend in one place, :func:`scan_backend`: mamba-ssm's CUDA kernel when it
imports and the tensors are on CUDA, the chunked pure-PyTorch scan
(:mod:`m3tr.core.temporal.scan_kernels`) everywhere else. ``selective_scan_ref`` is the naive
step-by-step recurrence the others are tested against.

Semantics (all backends)::

    delta' = softplus(delta + delta_bias) if delta_softplus else delta + delta_bias
    x_l = exp(delta'_l * A) * x_{l-1} + delta'_l * B_l * u_l        x_{-1} = 0
    y_l = C_l . x_l + D * u_l,   then  y_l *= silu(z_l)  when z is given
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from m3tr.core.temporal.scan_kernels import selective_scan_bld

log = logging.getLogger(__name__)

_mamba_selective_scan_fn: Callable[..., object] | None
try:  # optional CUDA kernel
    from mamba_ssm.ops.selective_scan_interface import (
        selective_scan_fn as _mamba_selective_scan_fn,
    )
except ImportError:  # pragma: no cover - depends on the machine
    _mamba_selective_scan_fn = None

_warned_fallback = False


def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's ``selective_scan_fn`` imported."""
    return _mamba_selective_scan_fn is not None


def scan_backend(device: torch.device | str) -> str:
    """The one place the backend is chosen: ``"mamba_ssm"`` on CUDA when it imports, else ``"torch"``."""
    global _warned_fallback
    device = torch.device(device)
    if device.type == "cuda":
        if _mamba_selective_scan_fn is not None:
            return "mamba_ssm"
        if not _warned_fallback:
            log.warning("mamba-ssm is not installed: using the pure-PyTorch scan on CUDA")
            _warned_fallback = True
    return "torch"


def _prepare_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]  # (B, D, L)
    return F.softplus(delta) if delta_softplus else delta


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan, same signature and semantics as mamba-ssm's ``selective_scan_fn``.

    Args:
        u: (B, D, L) inputs; delta: (B, D, L) steps; A: (D, N); B, C: (B, N, L);
        D: (D,) skip; z: (B, D, L) gate; delta_bias: (D,).
        backend: force ``"torch"`` or ``"mamba_ssm"``; default :func:`scan_backend`.
    Returns:
        y: (B, D, L), and the last state (B, D, N) when ``return_last_state``.
    """
    backend = backend or scan_backend(u.device)
    if backend == "mamba_ssm":
        if _mamba_selective_scan_fn is None:
            raise RuntimeError("backend 'mamba_ssm' asked for, but mamba-ssm did not import")
        return _mamba_selective_scan_fn(  # type: ignore[return-value]
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )
    if backend != "torch":
        raise ValueError(f"unknown scan backend {backend!r}: use 'torch' or 'mamba_ssm'")
    dtype_in = u.dtype
    cdt = _compute_dtype(u)
    delta_p = _prepare_delta(delta.to(cdt), delta_bias, delta_softplus)  # (B, D, L)
    y, states = selective_scan_bld(
        u.to(cdt).transpose(1, 2),  # (B, L, D)
        delta_p.transpose(1, 2),  # (B, L, D)
        A.to(cdt),
        B.to(cdt).transpose(1, 2),  # (B, L, N)
        C.to(cdt).transpose(1, 2),  # (B, L, N)
        return_states=return_last_state,
    )
    out = y.transpose(1, 2)  # (B, D, L)
    out = _skip_and_gate(out, u, D, z).to(dtype_in)
    if return_last_state:
        last = states[:, -1] if states.shape[1] else u.new_zeros(u.shape[0], *A.shape)  # (B, D, N)
        return out, last
    return out


def _compute_dtype(u: Tensor) -> torch.dtype:
    """fp64 stays fp64 (for gradient checks); everything else computes in fp32."""
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def _skip_and_gate(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    if D is not None:
        y = y + u.to(y.dtype) * D[:, None].to(y.dtype)  # (B, D, L)
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The naive step-by-step recurrence (a Python loop over the length); the reference.

    Same arguments and result as :func:`selective_scan`.
    """
    dtype_in = u.dtype
    cdt = _compute_dtype(u)
    u32 = u.to(cdt)
    delta_p = _prepare_delta(delta.to(cdt), delta_bias, delta_softplus)  # (B, D, L)
    decay = torch.exp(delta_p.unsqueeze(-1) * A.to(cdt)[:, None, :])  # (B, D, L, N)
    inputs = (delta_p * u32).unsqueeze(-1) * B.to(cdt).transpose(1, 2).unsqueeze(1)  # (B, D, L, N)
    c_steps = C.to(cdt).unbind(2)  # L x (B, N)
    state = u32.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # (B, D, N)
    ys = []
    for a_l, b_l, c_l in zip(decay.unbind(2), inputs.unbind(2), c_steps, strict=True):
        state = a_l * state + b_l  # (B, D, N)
        ys.append((state * c_l.unsqueeze(1)).sum(-1))  # (B, D)
    y = torch.stack(ys, dim=2) if ys else u32.new_zeros(u.shape)  # (B, D, L)
    out = _skip_and_gate(y, u, D, z).to(dtype_in)
    return (out, state) if return_last_state else out
