"""The thread policy of every m3tr process, in one place.

Why it exists: on a machine shared with other work, thread pools sized to every core spin
against the other processes. On the 2-core machine of ``benchmarks/results/contention.md`` the
demo's temporal model took 144 s beside one CPU-bound process instead of 5 s: torch's OpenMP
team (2 threads) waits at a barrier after every small op for a thread the kernel has
descheduled, and busy-waits while it does. The models here are small (d_model 16-64, batches of
tens of sequences): a second thread buys little when the machine is quiet, and costs a
multiple when it is not.

The policy (measured in ``m3tr bench contention``; figures in benchmarks/RESULTS.md):

- cores: the CPUs this process may run on, the smaller of its affinity mask and its cgroup
  quota (a container limited to 1.5 CPUs gets 1);
- intra-op threads (torch, OpenMP, MKL, OpenBLAS, FAISS): ``M3TR_THREADS`` when set, else
  half the cores, at most 8, at least 1; a worker running ``concurrency`` processes divides
  that among them. On 2 cores this is 1;
- inter-op threads: 1 (nothing here runs torch's inter-op futures);
- OpenMP waits passively (``OMP_WAIT_POLICY=PASSIVE``): a thread that reaches a barrier
  sleeps instead of spinning, so a team that does run never steals the core its own
  descheduled thread (or another process) needs. Variables already in the environment win.

:func:`prepare_environment` must run before torch or NumPy load their OpenMP and BLAS runtimes
(they read the variables once): ``m3tr``'s entry point calls it first. :func:`apply` then sets
the runtime thread counts for the command's role.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

MAX_AUTO_THREADS = 8
ROLES = ("serve", "worker", "demo", "train", "evaluate", "bench", "cli")

# read once by the runtimes when they load; set before torch / numpy import
_THREAD_COUNT_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclasses.dataclass(frozen=True)
class ThreadPlan:
    """What one process uses: ``cores`` it may run on, ``intra_op`` threads per pool."""

    role: str
    cores: int
    intra_op: int
    inter_op: int
    source: str  # "M3TR_THREADS" or "auto"

    def describe(self) -> str:
        return (
            f"{self.role}: {self.intra_op} compute thread(s) on {self.cores} available core(s) "
            f"({self.source}), OpenMP waits {os.environ.get('OMP_WAIT_POLICY', 'actively')}"
        )


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max``, v1 ``cfs_quota_us``), None if unlimited."""
    v2 = root / "cpu.max"
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1q, v1p = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if v1q.is_file() and v1p.is_file():
            quota_us = int(v1q.read_text())
            return None if quota_us <= 0 else quota_us / int(v1p.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: its affinity mask, capped by the cgroup quota (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit)))
    return max(1, cores)


def plan(role: str, threads: int = 0, cores: int | None = None, processes: int = 1) -> ThreadPlan:
    """The thread plan of a process in ``role``.

    Args:
        threads: ``M3TR_THREADS`` (0: automatic).
        cores: the available cores (default :func:`available_cores`).
        processes: processes of this role sharing the cores (a worker's concurrency).
    """
    if role not in ROLES:
        raise ValueError(f"unknown process role {role!r}: one of {', '.join(ROLES)}")
    if threads < 0:
        raise ValueError(f"M3TR_THREADS must be >= 0 (0: automatic), got {threads}")
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    cores = cores or available_cores()
    if threads:
        return ThreadPlan(role, cores, threads, 1, "M3TR_THREADS")
    intra = max(1, min(cores // 2, MAX_AUTO_THREADS) // processes)
    return ThreadPlan(role, cores, intra, 1, "auto")


def prepare_environment(threads: int = 0) -> None:
    """Set the OpenMP/BLAS variables before their runtimes load (values already set win).

    Thread counts start at the automatic plan (``threads`` when given); :func:`apply` sets the
    runtime counts again once the command's role is known.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # a count the user set for one runtime holds for all (torch takes the smallest it sees)
    given = [os.environ[v] for v in _THREAD_COUNT_VARS if os.environ.get(v, "").isdigit()]
    count = given[0] if given else str(plan("cli", threads).intra_op)
    for var in _THREAD_COUNT_VARS:
        os.environ.setdefault(var, count)


def apply(thread_plan: ThreadPlan) -> ThreadPlan:
    """Size torch's, BLAS's and FAISS's thread pools to ``thread_plan`` in this process."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(thread_plan.intra_op)
    try:
        torch.set_num_interop_threads(thread_plan.inter_op)
    except RuntimeError:  # already set, or inter-op work already ran: keep what it is
        pass
    threadpool_limits(limits=thread_plan.intra_op)  # OpenBLAS (NumPy, SciPy), MKL, OpenMP
    try:
        import faiss
    except ImportError:
        pass
    else:
        faiss.omp_set_num_threads(thread_plan.intra_op)
    from m3tr.core.temporal.scan_cpu import set_threads as set_scan_threads

    set_scan_threads(thread_plan.intra_op)  # the compiled CPU scan's loop over sequences
    log.info("threads: %s", thread_plan.describe())
    return thread_plan
