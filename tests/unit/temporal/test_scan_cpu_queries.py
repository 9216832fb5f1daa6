"""The compiled CPU readout at queries (``how="kernel"``) equals the per-slot-states readout:
values and gradients of every input in fp64, a gradcheck, and the MHP's likelihood and
intensities in fp32 against the PyTorch scan."""

from __future__ import annotations

import pytest
import torch

from m3tr.core.temporal import scan_cpu
from m3tr.core.temporal.batch import make_batch
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.scan import selective_scan_queries, use_backend

from .conftest import edge_sequences

pytestmark = pytest.mark.skipif(not scan_cpu.available(), reason="numba did not import")

NAMES = "u delta A B C D z q_delta init".split()


def _inputs(b: int, d: int, length: int, n: int, n_q: int, seed: int = 0, dtype=torch.float64):
    """Queries in any order, always including slot 0 and the last slot."""
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=dtype).requires_grad_()  # noqa: E731
    pos = lambda *s: (torch.rand(*s, generator=g, dtype=dtype) + 0.05).requires_grad_()  # noqa: E731
    A = (-torch.rand(d, n, generator=g, dtype=dtype) * 2 - 0.1).requires_grad_()
    idx = torch.randint(0, length, (b, n_q), generator=g)
    idx[:, 0], idx[:, -1] = length - 1, 0
    return {
        "u": mk(b, d, length), "delta": pos(b, d, length), "A": A, "B": mk(b, n, length),
        "C": mk(b, n, length), "D": mk(d), "z": mk(b, d, length), "idx": idx,
        "q_delta": pos(b, d, n_q), "init": mk(b, d, n),
    }  # fmt: skip


def _read(t: dict, how: str, with_init: bool) -> torch.Tensor:
    init = t["init"] if with_init else None
    args = [t[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "idx", "q_delta")]
    return selective_scan_queries(*args, init, backend="cpu_kernel", how=how)


@pytest.mark.parametrize("with_init", [False, True])
@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1, 1, 1), (2, 3, 1, 4, 3), (2, 5, 7, 3, 11), (3, 4, 50, 6, 80), (2, 2, 9, 2, 2)],
)
def test_kernel_readout_equals_the_states_readout_fp64(shape, with_init):
    t = _inputs(*shape)
    y_k, y_s = _read(t, "kernel", with_init), _read(t, "states", with_init)
    torch.testing.assert_close(y_k, y_s, rtol=0, atol=1e-9)
    w = torch.randn_like(y_k)
    names = NAMES if with_init else NAMES[:-1]
    leaves = [t[k] for k in names]
    g_k = torch.autograd.grad((y_k * w).sum(), leaves)
    g_s = torch.autograd.grad((y_s * w).sum(), leaves)
    for name, a, b in zip(names, g_k, g_s, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9, msg=name)


def test_gradcheck_through_the_readout_kernel():
    t = _inputs(2, 3, 6, 2, 5, seed=3)

    def fn(u, delta, A, B, C, q_delta, init):  # noqa: ANN001, ANN202
        return scan_cpu.scan_queries(u, delta, A, B, C, t["idx"], q_delta, init)

    args = tuple(t[k] for k in ("u", "delta", "A", "B", "C", "q_delta", "init"))
    assert torch.autograd.gradcheck(fn, args)


def test_the_kernel_is_the_default_readout_for_cpu_tensors_only(monkeypatch):
    calls = []
    real = scan_cpu.scan_queries
    monkeypatch.setattr(scan_cpu, "scan_queries", lambda *a: calls.append(1) or real(*a))
    t = _inputs(2, 3, 5, 2, 4, dtype=torch.float32)
    args = [t[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "idx", "q_delta")]
    y = selective_scan_queries(*args, backend="cpu_kernel")
    assert calls and y.shape == (2, 3, 4)
    meta = [a.detach().to("meta") for a in args]
    with pytest.raises(ValueError, match="kernel"):
        selective_scan_queries(*meta, backend="cpu_kernel", how="kernel")
    assert selective_scan_queries(*meta, backend="cpu_kernel").device.type == "meta"
    assert len(calls) == 1


def test_slots_out_of_range_are_refused():
    t = _inputs(1, 2, 4, 2, 3)
    with pytest.raises(IndexError):
        scan_cpu.scan_queries(
            t["u"], t["delta"], t["A"], t["B"], t["C"], t["idx"] + 4, t["q_delta"]
        )


def _model(n_layers: int) -> MHP:
    torch.manual_seed(n_layers)
    model = MHP(MHPConfig(n_types=2, d_model=16, d_state=4, n_layers=n_layers, dt_rank=4))
    with torch.no_grad():
        model.f_head.weight.normal_(0, 0.5)
        model.hawkes.alpha_raw.copy_(torch.tensor([[0.8, -0.6], [0.4, 0.5]]))
    return model


@pytest.mark.parametrize("n_layers", [1, 2])
def test_mhp_loglik_and_intensities_equal_the_pytorch_readout(n_layers):
    model = _model(n_layers)
    batch = make_batch(edge_sequences(), 2, 3600.0)
    q = torch.rand(batch.batch_size, 30, generator=torch.Generator().manual_seed(5))
    q = q * batch.t_end[:, None] * 1.1
    out = {}
    for name in ("torch", "cpu_kernel"):
        with use_backend(name):
            model.zero_grad()
            ll = model.loglik(batch, n_mc=3, generator=torch.Generator().manual_seed(11))
            ll.loglik.sum().backward()
            grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
            with torch.no_grad():
                lam = model.intensity(model.encode(batch), q).total
            out[name] = (ll.loglik.detach(), lam, grads)
    (ll_t, lam_t, g_t), (ll_k, lam_k, g_k) = out["torch"], out["cpu_kernel"]
    torch.testing.assert_close(ll_k, ll_t, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lam_k, lam_t, rtol=0, atol=1e-5)
    assert len(g_k) == len(g_t)
    for a, b in zip(g_k, g_t, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
