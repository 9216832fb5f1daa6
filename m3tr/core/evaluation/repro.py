"""Bit-reproducible evaluation runs: fixed thread counts and deterministic torch.

Two processes running the same evaluation with the same seeds must give identical numbers. What
can differ between processes, and what is fixed here:

- thread counts: a floating-point reduction split over a different number of threads sums in a
  different order; torch intra-op threads, BLAS and OpenMP (scikit-learn's boosting) are capped
  to ``threads`` for the whole run (``threadpoolctl`` for BLAS/OpenMP);
- non-deterministic kernels: ``torch.use_deterministic_algorithms(True, warn_only=True)``;
- random state: every method seeds torch, numpy and ``random`` itself before each random step
  (``training.shared_mhp.seed_everything``), so no method depends on what ran before it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from threadpoolctl import threadpool_info, threadpool_limits


@contextlib.contextmanager
def reproducible(threads: int = 1) -> Iterator[None]:
    """Within the block: ``threads`` torch/BLAS/OpenMP threads and deterministic torch."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)


def reproducibility_info() -> dict[str, Any]:
    """What the report records about the run's threads and determinism."""
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_deterministic": torch.are_deterministic_algorithms_enabled(),
        "thread_pools": sorted(
            f"{p.get('internal_api')}:{p.get('num_threads')}" for p in threadpool_info()
        ),
        "torch": torch.__version__,
        "pythonhashseed": os.environ.get("PYTHONHASHSEED", "random"),
    }
