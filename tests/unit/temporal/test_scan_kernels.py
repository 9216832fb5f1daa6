"""Edge cases of the tiled chunked scan: underflowing decays, tile shapes."""

from __future__ import annotations

import pytest
import torch

from m3tr.core.temporal import scan_kernels
from m3tr.core.temporal.scan import selective_scan, selective_scan_ref
from m3tr.core.temporal.scan_kernels import selective_scan_bld


def _inputs(b: int, d: int, length: int, n: int, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=dtype).requires_grad_()  # noqa: E731
    A = (-torch.rand(d, n, generator=g, dtype=dtype) * 16 - 0.1).requires_grad_()
    return mk(b, d, length), mk(b, d, length), A, mk(b, n, length), mk(b, n, length)


def _grads(fn, u, delta, A, B, C, **kw):
    y, last = fn(u, delta, A, B, C, return_last_state=True, **kw)
    w = torch.linspace(-1, 1, y.numel()).view_as(y)
    gr = torch.autograd.grad((y * w).sum() + last.sum(), [u, delta, A, B, C])
    return y, last, gr


def test_large_delta_a_within_a_chunk_is_finite_and_equal_to_reference():
    # delta * A down to about -1600 per step: exp underflows to 0 and the products within a
    # chunk run through the denormal range; nothing may turn into inf or NaN.
    u, delta, A, B, C = _inputs(2, 4, 70, 8)
    kw = {"delta_bias": torch.full((4,), 60.0), "delta_softplus": True}
    y1, s1, g1 = _grads(selective_scan, u, delta, A, B, C, **kw)
    y2, s2, g2 = _grads(selective_scan_ref, u, delta, A, B, C, **kw)
    assert torch.isfinite(y1).all() and torch.isfinite(s1).all()
    assert all(torch.isfinite(g).all() for g in g1)
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s1, s2, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("tile_elements", [1 << 6, 1 << 9, 1 << 24])
def test_tile_shapes_do_not_change_result(monkeypatch, tile_elements):
    # tiny tiles split the channels of one sequence; huge ones hold several sequences
    monkeypatch.setattr(scan_kernels, "TILE_ELEMENTS", tile_elements)
    u, delta, A, B, C = _inputs(3, 5, 23, 4, dtype=torch.float64)
    kw = {"delta_softplus": True}
    y1, s1, g1 = _grads(selective_scan, u, delta, A, B, C, **kw)
    y2, s2, g2 = _grads(selective_scan_ref, u, delta, A, B, C, **kw)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s1, s2, rtol=1e-10, atol=1e-10)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_all_states_and_their_gradient_with_split_tiles(monkeypatch):
    monkeypatch.setattr(scan_kernels, "TILE_ELEMENTS", 1 << 6)
    u, delta, A, B, C = _inputs(1, 3, 11, 2, dtype=torch.float64)
    args = (
        u.transpose(1, 2).detach().requires_grad_(),
        torch.nn.functional.softplus(delta).transpose(1, 2).detach().requires_grad_(),
        A,
        B.transpose(1, 2).detach().requires_grad_(),
        C.transpose(1, 2).detach().requires_grad_(),
    )
    f = lambda *a: tuple(selective_scan_bld(*a, chunk=4, return_states=True))  # noqa: E731
    assert torch.autograd.gradcheck(f, args)
