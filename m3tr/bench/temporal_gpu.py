"""``m3tr bench temporal --device cuda``: the MHP on a GPU.

1. Inside the MHP (likelihood, forward and backward; B=64, L=2048, d_model=256, d_state=16):
   mamba-ssm's kernel (query times as zero-input slots) vs the PyTorch scan on the same device
   (:func:`m3tr.core.temporal.scan.use_backend`), their time ratio and the largest difference
   of the log-likelihoods.
2. Thinning: simulated events per second. 3. Signatures per second.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.scan import kernel_source, scan_backend, use_backend
from m3tr.core.temporal.signature import temporal_signature
from m3tr.core.temporal.thinning import simulate


def random_sequences(n: int, length: int, n_types: int, seed: int = 0) -> list[EventSequence]:
    rng = np.random.default_rng(seed)
    return [
        EventSequence(np.sort(rng.uniform(0, 86400, length)), rng.integers(0, n_types, length), 86400.0)
        for _ in range(n)
    ]  # fmt: skip


def timed(fn: Any, device: torch.device, repeats: int) -> tuple[float, Any]:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up, and its last value."""
    out = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def bench_mhp_device(
    device: str, batch: int = 64, length: int = 2048, d_model: int = 256, d_state: int = 16,
    n_layers: int = 2, repeats: int = 3,
) -> dict[str, Any]:  # fmt: skip
    dev = torch.device(device)
    torch.manual_seed(0)
    cfg = MHPConfig(n_types=3, d_model=d_model, d_state=d_state, n_layers=n_layers)
    model = MHP(cfg).to(dev)
    data = make_batch(random_sequences(batch, length, 3), 3, 3600.0, device=dev)

    def loglik_step() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        ll = model.loglik(data, n_mc=1, generator=torch.Generator(device=dev).manual_seed(0))
        ll.nll_per_event().backward()
        return ll.loglik.detach()

    result: dict[str, Any] = {
        "device": str(dev), "backend": scan_backend(dev), "kernel_source": kernel_source(),
        "shape": {"B": batch, "L": length, "d_model": d_model, "d_state": d_state, "n_layers": n_layers},
    }  # fmt: skip
    lls = {}
    for name in ("mamba_ssm", "torch") if result["backend"] == "mamba_ssm" else ("torch",):
        with use_backend(name):
            result[f"loglik_fwd_bwd_{name}_s"], lls[name] = timed(loglik_step, dev, repeats)
    if len(lls) == 2:
        result["kernel_speedup"] = (
            result["loglik_fwd_bwd_torch_s"] / result["loglik_fwd_bwd_mamba_ssm_s"]
        )
        result["loglik_max_abs_diff"] = float((lls["mamba_ssm"] - lls["torch"]).abs().max())
        result["loglik_max_rel_diff"] = float(
            ((lls["mamba_ssm"] - lls["torch"]).abs() / lls["torch"].abs().clamp(min=1)).max()
        )
    model.eval()
    short = make_batch(random_sequences(256, 64, 3, seed=1), 3, 3600.0, device=dev)
    gen = torch.Generator(device=dev).manual_seed(1)
    secs, sim = timed(lambda: simulate(model, short, 64, generator=gen), dev, repeats)
    result["thinning_events_per_s"] = float(sim.counts.sum()) / secs
    seqs = random_sequences(256, 32, 3, seed=2)
    secs, _ = timed(lambda: temporal_signature(model, seqs, 64, generator=gen), dev, repeats)
    result["signatures_per_s"] = len(seqs) / secs
    return result
