"""FAISS's device choice: the GPU only when asked for, FAISS is its GPU build and sees a GPU;
on this CPU machine a store asked for cuda runs on the CPU and answers as before."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from m3tr.core.retrieval.faiss_store import FaissConfig, FaissStore, faiss_device


def test_device_choice():
    gpu_build = SimpleNamespace(StandardGpuResources=object, get_num_gpus=lambda: 1)
    no_gpu = SimpleNamespace(StandardGpuResources=object, get_num_gpus=lambda: 0)
    cpu_build = SimpleNamespace(get_num_gpus=lambda: 1)
    assert faiss_device("cuda", gpu_build) == "cuda"
    assert faiss_device("cuda:1", gpu_build) == "cuda"
    assert faiss_device("cpu", gpu_build) == "cpu"
    assert faiss_device("cuda", no_gpu) == "cpu"
    assert faiss_device("cuda", cpu_build) == "cpu"


def test_this_machine_picks_the_cpu_and_searches_alike():
    assert faiss_device("cuda") == "cpu"  # faiss-cpu here, or no GPU
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    hits = []
    for device in ("cpu", "cuda"):
        store = FaissStore(config=FaissConfig(device=device))
        assert store.device == "cpu"
        store.create_collection("c", {"v": 8})
        store.upsert("c", list(range(50)), {"v": vecs}, [{} for _ in range(50)])
        hits.append([h.video_id for h in store.search("c", "v", vecs[3], 5)])
    assert hits[0] == hits[1] and hits[0][0] == 3
