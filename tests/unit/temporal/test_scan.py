"""The chunked PyTorch scan equals the naive recurrence; gradients agree; backend choice."""

from __future__ import annotations

import pytest
import torch

from m3tr.core.temporal.scan import scan_backend, selective_scan, selective_scan_ref
from m3tr.core.temporal.scan_kernels import linear_scan, selective_scan_bld


def _inputs(b: int, d: int, length: int, n: int, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=dtype).requires_grad_()  # noqa: E731
    A = (-torch.rand(d, n, generator=g, dtype=dtype) * 4 - 0.1).requires_grad_()
    return (
        mk(b, d, length),
        mk(b, d, length),
        A,
        mk(b, n, length),
        mk(b, n, length),
        mk(d),
        mk(b, d, length),
    )


@pytest.mark.parametrize("backend", ["torch", "cpu_kernel"])
@pytest.mark.parametrize("shape", [(2, 3, 1, 4), (2, 5, 7, 3), (3, 4, 50, 6), (1, 8, 130, 16)])
def test_forward_and_grads_match_reference_fp32(shape, backend):
    u, delta, A, B, C, D, z = _inputs(*shape)
    y1, s1 = selective_scan(
        u, delta, A, B, C, D, z, delta_softplus=True, return_last_state=True, backend=backend
    )
    y2, s2 = selective_scan_ref(
        u, delta, A, B, C, D, z, delta_softplus=True, return_last_state=True
    )
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s1, s2, rtol=1e-5, atol=1e-5)
    w = torch.randn_like(y1)
    g1 = torch.autograd.grad((y1 * w).sum() + s1.sum(), [u, delta, A, B, C, D, z])
    g2 = torch.autograd.grad((y2 * w).sum() + s2.sum(), [u, delta, A, B, C, D, z])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("chunk", [4, 5, 16])
def test_chunk_size_does_not_change_result(chunk):
    u, delta, A, B, C, _, _ = _inputs(2, 4, 37, 3, dtype=torch.float64)
    d = torch.nn.functional.softplus(delta)
    y_ref = selective_scan_ref(u, d, A, B, C)
    y, states = selective_scan_bld(
        u.transpose(1, 2),
        d.transpose(1, 2),
        A,
        B.transpose(1, 2),
        C.transpose(1, 2),
        chunk=chunk,
        return_states=True,
    )
    torch.testing.assert_close(y.transpose(1, 2), y_ref, rtol=1e-10, atol=1e-10)
    assert states.shape == (2, 37, 4, 3)


def test_gradcheck_fp64():
    u, delta, A, B, C, _, _ = _inputs(1, 2, 9, 2, dtype=torch.float64)
    f = lambda u, d, A, B, C: selective_scan_bld(u, d.exp(), A, B, C, chunk=4, return_states=True)  # noqa: E731
    assert torch.autograd.gradcheck(
        lambda *a: tuple(f(*a)),
        (
            u.transpose(1, 2).detach().requires_grad_(),
            delta.transpose(1, 2).detach().requires_grad_(),
            A,
            B.transpose(1, 2).detach().requires_grad_(),
            C.transpose(1, 2).detach().requires_grad_(),
        ),
    )


def test_linear_scan_gradcheck_and_values():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 23, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 23, 3, generator=g, dtype=torch.float64, requires_grad=True)
    x = linear_scan(a, b, chunk=5)
    ref, state = [], torch.zeros(2, 3, dtype=torch.float64)
    for i in range(23):
        state = a[:, i] * state + b[:, i]
        ref.append(state)
    torch.testing.assert_close(x, torch.stack(ref, 1))
    assert torch.autograd.gradcheck(lambda a, b: linear_scan(a, b, chunk=5), (a, b))


def test_same_seed_same_result():
    out = [selective_scan(*_inputs(2, 3, 20, 4, seed=3)[:5], delta_softplus=True) for _ in range(2)]
    assert torch.equal(out[0], out[1])


def test_backend_on_cpu_is_the_compiled_kernel():
    assert scan_backend("cpu") == "cpu_kernel"
    with pytest.raises(ValueError, match="unknown scan backend"):
        selective_scan(*_inputs(1, 2, 3, 2)[:5], backend="nope")
