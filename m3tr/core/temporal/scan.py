"""The selective scan behind one function, with a readable reference beside it.

``selective_scan`` has the signature of mamba-ssm's ``selective_scan_fn`` (layout ``(B, D, L)``;
``B`` and ``C`` shared ``(B, N, L)`` or grouped ``(B, G, N, L)`` along the channels) and picks its
backend in one place, :func:`scan_backend`: mamba-ssm's CUDA kernel
(:mod:`m3tr.core.temporal.scan_cuda`: the mamba-ssm package, or its extension built alone) when
it imports and the tensors are on CUDA; on the CPU the compiled kernel
(:mod:`m3tr.core.temporal.scan_cpu`, Numba: one pass per channel, states in registers); the
chunked pure-PyTorch scan (:mod:`m3tr.core.temporal.scan_kernels`) everywhere else and for what
the kernels do not cover (grouped ``C``, the last state's gradient; the compiled CPU kernel also
reads the MHP's queries, :func:`selective_scan_queries`). ``selective_scan_ref`` is the naive
step-by-step recurrence the others are tested against.

Semantics (all backends)::

    delta' = softplus(delta + delta_bias) if delta_softplus else delta + delta_bias
    x_l = exp(delta'_l * A) * x_{l-1} + delta'_l * B_l * u_l        x_{-1} = 0
    y_l = C_l . x_l + D * u_l,   then  y_l *= silu(z_l)  when z is given

With groups, channel ``d`` reads ``B[:, d // (D / G)]`` and ``C[:, d // (D / G)]``; ``G = D`` gives
every channel its own ``C``, which the MHP's query slots use (:mod:`m3tr.core.temporal.query_slots`).
The PyTorch scan takes grouped ``C`` of any ``G``, and grouped ``B`` only when every group holds the
same values (``G = 1`` or an ``expand``-ed tensor, stride 0 along the groups).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

from m3tr.core.temporal import scan_cpu
from m3tr.core.temporal.query_slots import merge_queries
from m3tr.core.temporal.scan_cuda import cuda_scan_source, cuda_selective_scan
from m3tr.core.temporal.scan_kernels import selective_scan_bld

log = logging.getLogger(__name__)

BACKENDS = ("torch", "mamba_ssm", "cpu_kernel")
_warned_fallback = False
_forced_backend: str | None = None


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Within the block :func:`scan_backend` answers ``name`` (one of :data:`BACKENDS`), e.g. to
    time the PyTorch scan inside the MHP against the kernel."""
    global _forced_backend
    if name not in BACKENDS:
        raise ValueError(f"unknown scan backend {name!r}: use one of {', '.join(BACKENDS)}")
    prev, _forced_backend = _forced_backend, name
    try:
        yield
    finally:
        _forced_backend = prev


def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's selective-scan kernel imported (package or extension)."""
    return cuda_selective_scan is not None


def scan_backend(device: torch.device | str) -> str:
    """The one place the backend is chosen: ``"mamba_ssm"`` on CUDA when it imports,
    ``"cpu_kernel"`` on the CPU when Numba imports, else ``"torch"``."""
    global _warned_fallback
    if _forced_backend is not None:
        return _forced_backend
    device = torch.device(device)
    if device.type == "cuda":
        if cuda_selective_scan is not None:
            return "mamba_ssm"
        if not _warned_fallback:
            log.warning("mamba-ssm's selective scan is not installed: the PyTorch scan on CUDA")
            _warned_fallback = True
        return "torch"
    if device.type == "cpu" and scan_cpu.available():
        return "cpu_kernel"
    return "torch"


def kernel_source() -> str:
    """Where the CUDA kernel came from (``"mamba_ssm package"``, ``"selective_scan_cuda
    extension"`` or ``"none"``), for reports."""
    return cuda_scan_source


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
    chunk: int | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan, same signature and semantics as mamba-ssm's ``selective_scan_fn``.

    Args:
        u: (B, D, L) inputs; delta: (B, D, L) steps; A: (D, N); B, C: (B, N, L) or
        (B, G, N, L); D: (D,) skip; z: (B, D, L) gate; delta_bias: (D,).
        backend: force one of :data:`BACKENDS`; default :func:`scan_backend`.
        chunk: steps per chunk of the PyTorch scan (default about sqrt(L)); the kernel ignores it.
    Returns:
        y: (B, D, L), and the last state (B, D, N) when ``return_last_state``.
    """
    backend = backend or scan_backend(u.device)
    if backend == "mamba_ssm":
        if cuda_selective_scan is None:
            raise RuntimeError(
                "backend 'mamba_ssm' asked for, but mamba-ssm's kernel did not import"
            )
        return cuda_selective_scan(  # type: ignore[no-any-return]
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )
    if backend not in BACKENDS:
        raise ValueError(f"unknown scan backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "cpu_kernel" and _kernel_covers(u, B, C, return_last_state):
        return _cpu_kernel_scan(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )
    dtype_in = u.dtype
    cdt = _compute_dtype(u)
    delta_p = _prepare_delta(delta.to(cdt), delta_bias, delta_softplus)  # (B, D, L)
    grouped_c = C.dim() == 4
    want_states = return_last_state or grouped_c
    y, states = selective_scan_bld(
        u.to(cdt).transpose(1, 2),  # (B, L, D)
        delta_p.transpose(1, 2),  # (B, L, D)
        A.to(cdt),
        _shared_b(B).to(cdt).transpose(1, 2),  # (B, L, N)
        (C[:, 0] if grouped_c else C).to(cdt).transpose(1, 2),  # (B, L, N)
        chunk=chunk,
        return_states=want_states,
    )
    if grouped_c:
        assert states is not None
        y = (states * _per_channel(C, u.shape[1]).to(cdt)).sum(-1)  # (B, L, D)
    out = y.transpose(1, 2)  # (B, D, L)
    out = _skip_and_gate(out, u, D, z).to(dtype_in)
    if return_last_state:
        assert states is not None
        last = states[:, -1] if states.shape[1] else u.new_zeros(u.shape[0], *A.shape)  # (B, D, N)
        return out, last
    return out


def _kernel_covers(u: Tensor, B: Tensor, C: Tensor, return_last_state: bool) -> bool:
    """Whether the compiled CPU kernel computes this call: CPU tensors, shared (not grouped)
    ``B`` and ``C``, and no gradient wanted through the last state."""
    if u.device.type != "cpu" or B.dim() != 3 or C.dim() != 3:
        return False
    return not (return_last_state and torch.is_grad_enabled())


def _cpu_kernel_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
    delta_bias: Tensor | None, delta_softplus: bool, return_last_state: bool,
) -> Tensor | tuple[Tensor, Tensor]:  # fmt: skip
    """:func:`selective_scan` on :mod:`m3tr.core.temporal.scan_cpu` (softplus, bias, skip and
    gate in PyTorch around it)."""
    dtype_in = u.dtype
    cdt = _compute_dtype(u)
    delta_p = _prepare_delta(delta.to(cdt), delta_bias, delta_softplus)  # (B, D, L)
    y, last = scan_cpu.scan(u.to(cdt), delta_p, A.to(cdt), B.to(cdt), C.to(cdt))  # (B, D, L)
    out = _skip_and_gate(y, u, D, z).to(dtype_in)
    return (out, last.to(dtype_in)) if return_last_state else out


def _shared_b(B: Tensor) -> Tensor:
    """(B, N, L) from B (B, N, L), or (B, G, N, L) whose groups all hold the same values."""
    if B.dim() == 3:
        return B
    if B.shape[1] == 1 or B.stride(1) == 0:
        return B[:, 0]
    raise NotImplementedError(
        "the PyTorch scan takes grouped B only when every group is the same (G = 1 or expand)"
    )


def _per_channel(C: Tensor, channels: int) -> Tensor:
    """(B, L, D, N) from grouped C (B, G, N, L): channel d reads group d // (D / G)."""
    groups = C.shape[1]
    if channels % groups:
        raise ValueError(f"{channels} channels cannot be split into {groups} groups")
    per = C.permute(0, 3, 1, 2)  # (B, L, G, N)
    return per.repeat_interleave(channels // groups, dim=2) if groups != channels else per


def selective_scan_queries(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor,
    z: Tensor,
    idx: Tensor,
    q_delta: Tensor,
    init: Tensor | None = None,
    backend: str | None = None,
    chunk: int | None = None,
    how: str | None = None,
) -> Tensor:
    """The scan read at queries between slots: each query ``q`` reads slot ``idx_q``'s state
    decayed over its own step, with that slot's ``C``, skip and gate::

        y_q = (C_i . (exp(q_delta_q * A) * x_i) + D * u_i) * silu(z_i)       i = idx_q

    Args:
        u, delta, z: (B, D, L); A: (D, N); B, C: (B, N, L); D: (D,) (``delta`` final: no bias,
        no softplus). idx: (B, Q) slots; q_delta: (B, D, Q) each query's step.
        init: (B, D, N) the state before slot 0 (default zero).
        how: ``"slots"``, ``"states"`` or ``"kernel"`` (below); default by backend.
    Returns:
        y: (B, D, Q).

    Three ways, equal by construction (tested on the CPU): with mamba-ssm's kernel, which never
    returns per-slot states, the queries become zero-input slots of one scan call
    (:mod:`m3tr.core.temporal.query_slots`); the PyTorch scan returns its per-slot states
    (B, L, D, N), so they are read at ``idx`` directly, which keeps the scan at ``L`` slots (the
    merged scan has ``L + Q``, about 4x the time on the CPU for the likelihood); the compiled
    CPU kernel (``"kernel"``, the default on ``cpu_kernel`` for CPU tensors and shared ``B``,
    ``C``) reads each (sequence, channel)'s states from a ``(L, N)`` buffer and stores nothing
    of size ``(B, L, D, N)`` (:func:`m3tr.core.temporal.scan_cpu.scan_queries`).
    """
    backend = backend or scan_backend(u.device)
    if how is None:
        if backend == "mamba_ssm":
            how = "slots"
        elif backend == "cpu_kernel" and _kernel_covers(u, B, C, False):
            how = "kernel"
        else:
            how = "states"
    if how not in ("slots", "states", "kernel"):
        raise ValueError(f"unknown query readout {how!r}: use 'slots', 'states' or 'kernel'")
    if how == "states" and backend == "mamba_ssm":
        raise ValueError("the 'states' readout needs the PyTorch scan (the kernel keeps no states)")
    if how == "kernel" and not (scan_cpu.available() and _kernel_covers(u, B, C, False)):
        raise ValueError(
            "the 'kernel' readout needs numba and CPU tensors with shared (B, N, L) B and C"
        )
    fn = {"slots": _queries_by_slots, "states": _queries_by_states, "kernel": _queries_by_kernel}
    return fn[how](u, delta, A, B, C, D, z, idx, q_delta, init, backend, chunk)


def _queries_by_slots(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, z: Tensor,
    idx: Tensor, q_delta: Tensor, init: Tensor | None, backend: str, chunk: int | None,
) -> Tensor:  # fmt: skip
    slots = merge_queries(idx, u.shape[2])
    keep = (~slots.is_query)[:, None].to(u.dtype)  # (B, 1, L+Q) 0 at query slots
    step = slots.spread_channels(q_delta)  # (B, D, L+Q) 0 at event slots
    decay = torch.exp(step[..., None] * A[:, None, :])  # (B, D, L+Q, N)
    c_read = slots.gather_last(C)[:, None] * decay.transpose(2, 3)  # (B, D, N, L+Q)
    b_in = (slots.gather_last(B) * keep)[:, None].expand(-1, u.shape[1], -1, -1)  # (B, D, N, L+Q)
    delta_m = slots.gather_last(delta) * keep  # (B, D, L+Q)
    u_m, z_m = slots.gather_last(u), slots.gather_last(z)  # (B, D, L+Q)
    y = selective_scan(u_m, delta_m, A, b_in, c_read, D, z_m, backend=backend, chunk=chunk)
    assert isinstance(y, Tensor)
    if init is not None:  # the carried initial state, read and gated like the scan's
        carried = _carried(init, delta_m, A)  # (B, D, L+Q, N)
        y = y + (carried * c_read.transpose(2, 3)).sum(-1) * F.silu(z_m)
    return slots.at_queries_last(y)  # (B, D, Q)


def _queries_by_states(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, z: Tensor,
    idx: Tensor, q_delta: Tensor, init: Tensor | None, backend: str, chunk: int | None,
) -> Tensor:  # fmt: skip
    cdt = _compute_dtype(u)
    _, states = selective_scan_bld(
        u.to(cdt).transpose(1, 2), delta.to(cdt).transpose(1, 2), A.to(cdt),
        B.to(cdt).transpose(1, 2), C.to(cdt).transpose(1, 2), chunk=chunk, return_states=True,
    )  # fmt: skip
    assert states is not None  # (B, L, D, N)
    if init is not None:
        states = states + _carried(init, delta.to(cdt), A.to(cdt)).transpose(1, 2)
    rows = torch.arange(idx.shape[0], device=idx.device)[:, None]  # (B, 1)
    state = states[rows, idx] * torch.exp(q_delta.transpose(1, 2)[..., None] * A)  # (B, Q, D, N)
    c_q = C.transpose(1, 2)[rows, idx]  # (B, Q, N)
    y = (state * c_q[:, :, None, :].to(cdt)).sum(-1).transpose(1, 2)  # (B, D, Q)
    u_q, z_q = u.transpose(1, 2)[rows, idx], z.transpose(1, 2)[rows, idx]  # (B, Q, D)
    return _skip_and_gate(y, u_q.transpose(1, 2), D, z_q.transpose(1, 2)).to(u.dtype)


def _queries_by_kernel(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, z: Tensor,
    idx: Tensor, q_delta: Tensor, init: Tensor | None, backend: str, chunk: int | None,
) -> Tensor:  # fmt: skip
    cdt = _compute_dtype(u)
    y = scan_cpu.scan_queries(  # (B, D, Q)
        u.to(cdt), delta.to(cdt), A.to(cdt), B.to(cdt), C.to(cdt), idx, q_delta.to(cdt),
        None if init is None else init.to(cdt),
    )  # fmt: skip
    u_q, z_q = u.gather(2, _channels(idx, u)), z.gather(2, _channels(idx, z))  # (B, D, Q)
    return _skip_and_gate(y, u_q, D, z_q).to(u.dtype)


def _channels(idx: Tensor, like: Tensor) -> Tensor:
    """idx (B, Q) expanded to (B, D, Q) for a gather along the slots of ``like`` (B, D, L)."""
    return idx[:, None, :].expand(-1, like.shape[1], -1)


def _carried(init: Tensor, delta: Tensor, A: Tensor) -> Tensor:
    """(B, D, L, N): ``init`` (B, D, N) decayed to every slot, ``exp(A sum_{j<=l} delta_j) init``."""
    return torch.exp(delta.cumsum(2)[..., None] * A[:, None, :]) * init[:, :, None, :]


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
    channels = u.shape[1]
    b_ch = _per_channel(B if B.dim() == 4 else B[:, None], channels).to(cdt)  # (B, L, D, N)
    c_ch = _per_channel(C if C.dim() == 4 else C[:, None], channels).to(cdt)  # (B, L, D, N)
    decay = torch.exp(delta_p.unsqueeze(-1) * A.to(cdt)[:, None, :])  # (B, D, L, N)
    inputs = (delta_p * u32).unsqueeze(-1) * b_ch.transpose(1, 2)  # (B, D, L, N)
    state = u32.new_zeros(u.shape[0], channels, A.shape[1])  # (B, D, N)
    ys = []
    for a_l, b_l, c_l in zip(decay.unbind(2), inputs.unbind(2), c_ch.unbind(1), strict=True):
        state = a_l * state + b_l  # (B, D, N)
        ys.append((state * c_l).sum(-1))  # (B, D)
    y = torch.stack(ys, dim=2) if ys else u32.new_zeros(u.shape)  # (B, D, L)
    out = _skip_and_gate(y, u, D, z).to(dtype_in)
    return (out, state) if return_last_state else out
