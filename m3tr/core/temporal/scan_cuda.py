"""mamba-ssm's selective-scan CUDA kernel, found once, from one of two places.

1. The mamba-ssm package: ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``.
2. Its compiled extension alone: a module named ``selective_scan_cuda`` built from mamba-ssm's
   ``csrc/selective_scan`` sources (``benchmarks/gpu/run.sh`` JIT-builds it for the local GPU
   with ``torch.utils.cpp_extension.load`` and puts its folder on ``PYTHONPATH``), wrapped here
   in :class:`SelectiveScanExtension`, an autograd function with the same signature.

Nothing here reads a setting: where the extension lies is Python's import path. Importing this
module never fails; :func:`cuda_selective_scan` is None when neither source imports.

The extension's calls (mamba-ssm 2.x)::

    out, x, [out_z] = fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    du, ddelta, dA, dB, dC, dD, ddelta_bias, [dz] =
        bwd(u, delta, A, B, C, D, z, delta_bias, dout, x, out, dz, delta_softplus, False)

with ``x`` (B, D, n_chunks, 2N) the chunk-end states (real and imaginary parts interleaved for
a real ``A``: the last state is ``x[:, :, -1, 1::2]``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)


def _package_scan() -> Callable[..., Any] | None:
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def _extension() -> ModuleType | None:
    try:
        import selective_scan_cuda  # type: ignore[import-not-found]
    except ImportError:
        return None
    return selective_scan_cuda


class SelectiveScanExtension(torch.autograd.Function):
    """The compiled ``selective_scan_cuda`` module as an autograd function.

    Inputs as mamba-ssm's ``selective_scan_fn``: u, delta, z (B, D, L); A (D, N) float32;
    B, C (B, N, L) or grouped (B, G, N, L); D, delta_bias (D,) float32 or None.
    Returns y (B, D, L) and, with ``return_last_state``, the last state (B, D, N).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        u: Tensor,
        delta: Tensor,
        A: Tensor,
        B: Tensor,
        C: Tensor,
        D: Tensor | None,
        z: Tensor | None,
        delta_bias: Tensor | None,
        delta_softplus: bool,
        return_last_state: bool,
    ) -> Tensor | tuple[Tensor, Tensor]:
        ext = _extension()
        assert ext is not None
        u, delta = u.contiguous(), delta.contiguous()
        z = None if z is None else z.contiguous()
        ctx.squeeze = (B.dim() == 3, C.dim() == 3)
        B = (B[:, None] if B.dim() == 3 else B).contiguous()  # (B, G, N, L)
        C = (C[:, None] if C.dim() == 3 else C).contiguous()  # (B, G, N, L)
        out, x, *rest = ext.fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        ctx.delta_softplus = delta_softplus
        ctx.has_z = z is not None
        if z is None:
            ctx.save_for_backward(u, delta, A, B, C, D, delta_bias, x)
            y = out
        else:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, x, out)
            y = rest[0]
        if return_last_state:
            last = x[:, :, -1, 1::2]  # (B, D, N)
            ctx.mark_non_differentiable(last)
            return y, last
        return y

    @staticmethod
    def backward(ctx: Any, dy: Tensor, *_: Any) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        ext = _extension()
        assert ext is not None
        dy = dy.contiguous()
        if ctx.has_z:
            u, delta, A, B, C, D, z, delta_bias, x, out = ctx.saved_tensors
        else:
            (u, delta, A, B, C, D, delta_bias, x), z, out = ctx.saved_tensors, None, None
        du, ddelta, dA, dB, dC, dD, ddelta_bias, *rest = ext.bwd(
            u, delta, A, B, C, D, z, delta_bias, dy, x, out, None, ctx.delta_softplus, False
        )
        dz = rest[0] if ctx.has_z else None
        dB = dB[:, 0] if ctx.squeeze[0] else dB
        dC = dC[:, 0] if ctx.squeeze[1] else dC
        return (
            du, ddelta, dA, dB, dC,
            dD if D is not None else None, dz,
            ddelta_bias if delta_bias is not None else None, None, None,
        )  # fmt: skip


def _extension_scan(
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
    return SelectiveScanExtension.apply(  # type: ignore[no-any-return]
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
    )


def find_cuda_scan() -> tuple[Callable[..., Any] | None, str]:
    """(``selective_scan_fn``, where it came from): the package's, else the extension's, else
    (None, "none")."""
    fn = _package_scan()
    if fn is not None:
        return fn, "mamba_ssm package"
    if _extension() is not None:
        return _extension_scan, "selective_scan_cuda extension"
    return None, "none"


cuda_selective_scan, cuda_scan_source = find_cuda_scan()
