"""Two processes, same command and seeds: identical report numbers (real CED data, real MHP)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from m3tr.core.evaluation.resplit import split_spread
from tests.unit.training.conftest import synthetic_task

CED = Path(__file__).resolve().parents[4] / "shared" / "data" / "ced-weibo"


def _numbers(report: dict) -> dict:
    return {
        name: [e["nmse"], e["src"], e["plcc"], e["mae"], e["coverage"]]
        for name, e in report["methods"].items()
    }


@pytest.mark.slow
@pytest.mark.skipif(not CED.is_dir(), reason="needs ../shared/data/ced-weibo")
def test_two_processes_give_identical_numbers(tmp_path):
    reports = []
    for run in ("a", "b"):
        out = tmp_path / run
        env = {**os.environ, "PYTHONHASHSEED": "random"}
        proc = subprocess.run(
            [sys.executable, "-m", "m3tr.app.cli.main", "evaluate", "ced-weibo", "--train", str(CED),
             "--limit", "120", "--max-epochs", "2", "--seeds", "0", "--mhp-sizes", "8-4-1",
             "--no-split-spread",
             "--methods", "no_retrieval,trajectory_only_retrieval,strong_features",
             "--out", str(out), "--cache", str(tmp_path / "cache")],
            env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        reports.append(json.loads((out / "report.json").read_text()))
    assert _numbers(reports[0]) == _numbers(reports[1])


def test_split_spread_reports_each_cheap_method_per_split():
    task = synthetic_task(n=200)
    out = split_spread(task, ["szabo_huberman", "mean", "m3tr"], base_seed=5, n_splits=2)
    assert out["split_seeds"] == [6, 7]
    assert set(out["nmse"]) == {"szabo_huberman", "mean"}
    sh = out["nmse"]["szabo_huberman"]
    assert len(sh["per_split"]) == 2 and sh["min"] <= sh["mean"] <= sh["max"]
    assert sh["mean"] < out["nmse"]["mean"]["mean"]
    assert np.isclose(sh["std"], np.std(sh["per_split"]), atol=1e-4)
