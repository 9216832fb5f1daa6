"""The CUDA-vs-CPU comparison of two evaluation reports: differences per metric, seed noise from
the CPU report's seeds (or the tolerance with one seed), and the verdict."""

from __future__ import annotations

import json
import subprocess
import sys

from m3tr.bench.eval_devices import compare_reports


def _report(device: str, nmse: dict[str, list[float]]) -> dict:
    methods = {}
    for name, per_seed in nmse.items():
        mean = sum(per_seed) / len(per_seed)
        std = (sum((v - mean) ** 2 for v in per_seed) / len(per_seed)) ** 0.5
        methods[name] = {
            "nmse": mean, "src": 0.5, "plcc": 0.6, "mae": 1.0,
            "std": {"nmse": std, "src": 0.0, "plcc": 0.0, "mae": 0.0},
            "per_seed": {"nmse": per_seed, "mae": [1.0] * len(per_seed)},
        }  # fmt: skip
    return {"device": device, "seeds": list(range(len(next(iter(nmse.values()))))),
            "methods": methods}  # fmt: skip


def test_noise_comes_from_the_cpu_seeds_or_the_tolerance():
    cpu = _report("cpu", {"m3tr": [0.70, 0.71, 0.72], "mean": [1.0, 1.0, 1.0]})
    cuda = _report("cuda", {"m3tr": [0.715], "mean": [1.0], "no_mhp": [0.8]})
    out = compare_reports(cuda, cpu, tolerance=0.01)
    m = out["methods"]["m3tr"]
    assert abs(m["nmse"]["diff"] - 0.005) < 1e-12 and m["within_noise"]
    assert m["noise"]["from"] == "cpu std over seeds" and abs(m["noise"]["nmse"] - 0.00816) < 1e-4
    assert out["only_in_one"] == ["no_mhp"] and out["all_within_noise"]

    one_seed = compare_reports(cuda, _report("cpu", {"m3tr": [0.70]}), tolerance=0.01)
    assert one_seed["methods"]["m3tr"]["noise"] == {"nmse": 0.01, "from": "tolerance"}
    assert not one_seed["methods"]["m3tr"]["within_noise"]  # 0.015 apart, one seed: 0.01
    assert not one_seed["all_within_noise"]


def test_a_difference_beyond_noise_is_reported_and_the_command_writes_json(tmp_path):
    cpu = _report("cpu", {"m3tr": [0.70]})
    cuda = _report("cuda", {"m3tr": [0.75]})
    (tmp_path / "cuda.json").write_text(json.dumps(cuda))
    (tmp_path / "cpu.json").write_text(json.dumps(cpu))
    cmd = [sys.executable, "-m", "m3tr.bench.eval_devices", str(tmp_path / "cuda.json"),
           str(tmp_path / "cpu.json"), str(tmp_path / "cmp.json"), "--tolerance", "0.02"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads((tmp_path / "cmp.json").read_text())
    assert out["cuda_device"] == "cuda" and not out["all_within_noise"]
    assert abs(out["methods"]["m3tr"]["nmse"]["diff"] - 0.05) < 1e-12
    assert "NOT within" in run.stdout
