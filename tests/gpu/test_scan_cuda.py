"""On CUDA: mamba-ssm's selective_scan_fn equals the pure-PyTorch scan (forward and backward),
and its timing next to the PyTorch scan. Skips without CUDA or mamba-ssm."""

from __future__ import annotations

import time

import pytest
import torch

from m3tr.core.temporal.scan import mamba_ssm_available, scan_backend, selective_scan

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.skipif(not mamba_ssm_available(), reason="needs mamba-ssm"),
]


def _inputs(b, d, length, n, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, device="cuda").requires_grad_()  # noqa: E731
    A = (-torch.rand(d, n, generator=g, device="cuda") * 4 - 0.1).requires_grad_()
    return (
        mk(b, d, length),
        mk(b, d, length),
        A,
        mk(b, n, length),
        mk(b, n, length),
        mk(d),
        mk(b, d, length),
    )


@pytest.mark.parametrize("length", [1, 7, 128, 511])
def test_kernel_matches_torch_scan(length):
    assert scan_backend("cuda") == "mamba_ssm"
    u, delta, A, B, C, D, z = _inputs(2, 16, length, 8)
    args = (u, delta, A, B, C, D, z)
    y1, s1 = selective_scan(*args, delta_softplus=True, return_last_state=True, backend="mamba_ssm")
    y2, s2 = selective_scan(*args, delta_softplus=True, return_last_state=True, backend="torch")
    torch.testing.assert_close(y1, y2, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(s1, s2, rtol=1e-4, atol=1e-4)
    w = torch.randn_like(y1)
    g1 = torch.autograd.grad((y1 * w).sum(), [u, delta, A, B, C, D, z])
    g2 = torch.autograd.grad((y2 * w).sum(), [u, delta, A, B, C, D, z])
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_kernel_vs_torch_timing(capsys):
    u, delta, A, B, C, _, _ = _inputs(256, 64, 512, 16)
    times = {}
    for backend in ("mamba_ssm", "torch"):
        for _ in range(2):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            selective_scan(u, delta, A, B, C, delta_softplus=True, backend=backend).sum().backward()
            torch.cuda.synchronize()
            times[backend] = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\nscan fwd+bwd 256x512, d 64, N 16: {times}")
    assert times["mamba_ssm"] > 0
