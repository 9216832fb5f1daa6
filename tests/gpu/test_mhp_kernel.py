"""On CUDA: the MHP with mamba-ssm's kernel on every layer (query times as zero-input slots)
equals the PyTorch scan on the same GPU (1e-3): intensities, log-likelihood and its gradients.
Skips without CUDA or the kernel."""

from __future__ import annotations

import pytest
import torch

from m3tr.bench.temporal_gpu import random_sequences
from m3tr.core.retrieval.faiss_store import FaissConfig, FaissStore
from m3tr.core.temporal.batch import make_batch
from m3tr.core.temporal.config import MHPConfig
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.scan import mamba_ssm_available, scan_backend, use_backend

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
needs_kernel = pytest.mark.skipif(not mamba_ssm_available(), reason="needs mamba-ssm's kernel")


@needs_kernel
@pytest.mark.parametrize("n_layers", [1, 3])
def test_kernel_inside_the_mhp_equals_the_torch_scan(n_layers):
    assert scan_backend("cuda") == "mamba_ssm"
    torch.manual_seed(0)
    model = MHP(MHPConfig(n_types=3, d_model=32, d_state=16, n_layers=n_layers)).cuda()
    batch = make_batch(random_sequences(8, 300, 3), 3, 3600.0, device="cuda")
    query = torch.rand(8, 50, device="cuda") * batch.t_end[:, None]
    out = {}
    for name in ("mamba_ssm", "torch"):
        with use_backend(name):
            model.zero_grad()
            ll = model.loglik(batch, n_mc=2, generator=torch.Generator("cuda").manual_seed(0))
            ll.nll_per_event().backward()
            grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
            with torch.no_grad():
                lam = model.intensity_parts(batch, query, chunk=128).total
            out[name] = (ll.loglik.detach(), grads, lam)
    for a, b in zip(out["mamba_ssm"], out["torch"], strict=True):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-3)


def test_faiss_store_on_the_gpu_answers_as_on_the_cpu():
    import faiss

    if not hasattr(faiss, "StandardGpuResources"):
        pytest.skip("FAISS is its CPU build")
    vecs = torch.nn.functional.normalize(torch.randn(500, 16), dim=1).numpy()
    hits = []
    for device in ("cpu", "cuda"):
        store = FaissStore(config=FaissConfig(device=device))
        assert store.device == device
        store.create_collection("c", {"v": 16})
        store.upsert("c", list(range(500)), {"v": vecs}, [{} for _ in range(500)])
        hits.append([h.video_id for h in store.search("c", "v", vecs[:4], 5)[0]])
    assert hits[0] == hits[1]
