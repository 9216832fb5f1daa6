"""``m3tr evaluate --device``: a device this machine cannot use is refused before any work, with
a message that says why (this machine has no CUDA device)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[3]


def _evaluate(home: Path, data: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3TR_")}
    env.update(M3TR_HOME=str(home), **env_extra)
    cmd = [sys.executable, "-m", "m3tr.app.cli.main", "evaluate", "ced-weibo", "--train", str(data)]
    return subprocess.run([*cmd, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only machine")
def test_the_settings_device_is_the_default_and_cuda_is_refused_without_a_gpu(
    tmp_path: Path,
) -> None:
    out = _evaluate(tmp_path / "home", tmp_path, M3TR_DEVICE="cuda")
    assert out.returncode == 1
    assert "device 'cuda': torch sees no CUDA device" in " ".join(out.stderr.split())
