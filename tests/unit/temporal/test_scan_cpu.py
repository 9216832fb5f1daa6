"""The compiled CPU scan (Numba) equals the naive recurrence, values and gradients."""

from __future__ import annotations

import pytest
import torch

from m3tr.core.temporal import scan_cpu
from m3tr.core.temporal.scan import selective_scan, selective_scan_ref

pytestmark = pytest.mark.skipif(not scan_cpu.available(), reason="numba did not import")


def _inputs(b: int, d: int, length: int, n: int, dtype=torch.float64, seed: int = 0):
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
        mk(d),
    )


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 1, 4), (2, 5, 7, 3), (3, 4, 50, 6)])
def test_values_and_gradients_equal_the_reference_fp64(shape):
    u, delta, A, B, C, D, z, bias = _inputs(*shape)
    args = (u, delta, A, B, C, D, z, bias)
    y1 = selective_scan(*args, delta_softplus=True, backend="cpu_kernel")
    y2 = selective_scan_ref(*args, delta_softplus=True)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(y1)
    g1 = torch.autograd.grad((y1 * w).sum(), args)
    g2 = torch.autograd.grad((y2 * w).sum(), args)
    for name, a, b in zip("u delta A B C D z bias".split(), g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=name)


def test_gradcheck_through_the_kernel():
    u, delta, A, B, C, *_ = _inputs(2, 3, 9, 2)
    fn = lambda *a: selective_scan(*a, delta_softplus=True, backend="cpu_kernel")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (u, delta, A, B, C))


def test_last_state_without_gradient_comes_from_the_kernel():
    u, delta, A, B, C, *_ = _inputs(3, 4, 20, 5, dtype=torch.float32)
    with torch.no_grad():
        y1, s1 = selective_scan(u, delta, A, B, C, delta_softplus=True, return_last_state=True,
                                backend="cpu_kernel")  # fmt: skip
        y2, s2 = selective_scan_ref(u, delta, A, B, C, delta_softplus=True, return_last_state=True)
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s1, s2, rtol=1e-5, atol=1e-5)
    y, last = scan_cpu.scan(u.detach(), torch.nn.functional.softplus(delta.detach()), A.detach(),
                            B.detach(), C.detach())  # fmt: skip
    torch.testing.assert_close(last, s2, rtol=1e-5, atol=1e-5)


def test_same_inputs_same_bits():
    a = _inputs(4, 6, 33, 4, dtype=torch.float32, seed=5)[:5]
    out = [selective_scan(*a, delta_softplus=True, backend="cpu_kernel") for _ in range(2)]
    assert torch.equal(out[0], out[1])
