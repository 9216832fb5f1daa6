"""The thread policy: cores from affinity and cgroup quota, the plan per role, and that the
``m3tr`` entry point sets it before torch loads (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from m3tr.app.threads import available_cores, cgroup_cpu_limit, plan

REPO = Path(__file__).resolve().parents[3]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    env.pop("M3TR_THREADS", None)
    return {**env, **extra}


def test_cgroup_v2_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    assert available_cores(tmp_path) == 1  # 1.5 CPUs of quota: one whole core
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    assert available_cores(tmp_path) == len(os.sched_getaffinity(0))


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) == 4.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path) is None
    assert cgroup_cpu_limit(tmp_path / "missing") is None


def test_plan_halves_the_cores_and_divides_among_processes() -> None:
    assert plan("serve", cores=2).intra_op == 1
    assert plan("train", cores=1).intra_op == 1
    assert plan("demo", cores=6).intra_op == 3
    assert plan("evaluate", cores=64).intra_op == 8  # capped: small models stop scaling
    assert plan("worker", cores=16, processes=4).intra_op == 2
    assert plan("worker", cores=4, processes=4).intra_op == 1
    fixed = plan("train", threads=3, cores=2)
    assert (fixed.intra_op, fixed.source) == (3, "M3TR_THREADS")
    assert plan("bench", cores=2).inter_op == 1


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"role": "web"}, "unknown process role"), ({"role": "serve", "threads": -1}, ">= 0"),
     ({"role": "worker", "processes": 0}, "processes")],
)  # fmt: skip
def test_plan_rejects_bad_values(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        plan(**kwargs)


def test_entry_point_sets_the_policy_before_torch_loads() -> None:
    code = (
        "import os, m3tr.app.cli.main, torch\n"
        "print(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(), cwd=REPO, capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    policy, count = out.stdout.split()
    assert policy == "PASSIVE"
    assert int(count) == plan("cli").intra_op  # torch read OMP_NUM_THREADS set by m3tr


def test_a_variable_the_user_set_wins() -> None:
    code = "import os, m3tr.app.cli.main, torch\nprint(os.environ['OMP_WAIT_POLICY'], torch.get_num_threads())\n"
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="2"),
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["ACTIVE", "2"]


def test_m3tr_threads_reaches_the_command(tmp_path: Path) -> None:
    """``M3TR_THREADS`` sizes a real command's pools (``m3tr train`` logs its plan first)."""
    out = subprocess.run(
        [sys.executable, "-m", "m3tr.app.cli.main", "train", "--max-epochs", "1"],
        env=_clean_env(M3TR_HOME=str(tmp_path / "home"), M3TR_THREADS="3"),
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "train: 3 compute thread(s)" in out.stderr and "(M3TR_THREADS)" in out.stderr, out.stderr
    assert out.returncode != 0  # an empty workspace has nothing to train on: a clear failure
    assert "Traceback" not in out.stderr
