"""The CED evaluation on CUDA against a CPU run of the same command: per method, nMSE, SRC,
PLCC and MAE on both devices, their difference, and whether the nMSE difference is within seed
noise (the CPU report's std over seeds when it has two or more, else ``--tolerance``).
What ``benchmarks/gpu/run.sh`` writes to ``$OUT/eval_cuda_vs_cpu.json`` when given
``CPU_REPORT``.

    python -m m3tr.bench.eval_devices CUDA_REPORT.json CPU_REPORT.json OUT.json [--tolerance 0.01]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

METRICS = ("nmse", "src", "plcc", "mae")


def compare_reports(
    cuda: dict[str, Any], cpu: dict[str, Any], tolerance: float = 0.01
) -> dict[str, Any]:
    """Per method in both reports: each metric on both devices and their difference (CUDA -
    CPU); ``noise``: the nMSE seed noise used; ``within_noise``: |nMSE difference| <= noise.
    ``all_within_noise``: every common method within noise."""
    methods: dict[str, Any] = {}
    for name in sorted(set(cuda["methods"]) & set(cpu["methods"])):
        a, b = cuda["methods"][name], cpu["methods"][name]
        row: dict[str, Any] = {}
        for key in METRICS:
            row[key] = {"cuda": a[key], "cpu": b[key], "diff": _diff(a[key], b[key])}
        cpu_seeds = b.get("per_seed", {}).get("nmse", [])
        std = b.get("std", {}).get("nmse")
        seed_noise = len(cpu_seeds) >= 2 and std is not None and math.isfinite(std)
        noise = float(std) if seed_noise else tolerance
        row["noise"] = {"nmse": noise, "from": "cpu std over seeds" if seed_noise else "tolerance"}
        row["within_noise"] = abs(row["nmse"]["diff"]) <= noise
        methods[name] = row
    return {
        "cuda_device": cuda.get("device"),
        "cpu_device": cpu.get("device"),
        "seeds": {"cuda": cuda.get("seeds"), "cpu": cpu.get("seeds")},
        "only_in_one": sorted(set(cuda["methods"]) ^ set(cpu["methods"])),
        "methods": methods,
        "all_within_noise": bool(methods) and all(m["within_noise"] for m in methods.values()),
    }


def _diff(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float(a) - float(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cuda_report", type=Path)
    parser.add_argument("cpu_report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.01, help="nMSE noise for 1 seed")
    args = parser.parse_args()
    result = compare_reports(
        json.loads(args.cuda_report.read_text()),
        json.loads(args.cpu_report.read_text()),
        args.tolerance,
    )
    result["reports"] = {"cuda": str(args.cuda_report), "cpu": str(args.cpu_report)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    verdict = "within" if result["all_within_noise"] else "NOT within"
    print(f"CUDA vs CPU: {verdict} seed noise ({len(result['methods'])} methods); {args.out}")


if __name__ == "__main__":
    main()
