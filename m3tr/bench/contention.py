"""``m3tr bench contention --json FILE``: the demo build and ``m3tr train``, alone and beside a
CPU-bound process the benchmark starts and stops itself.

What it runs, each as a fresh ``m3tr`` process with the environment of the benchmark:

1. alone: ``m3tr demo --build-only --rebuild --videos N --home H1``, then
   ``m3tr train --no-activate`` on H1's corpus;
2. beside a burner: the same into H2 (and ``m3tr train`` on H1 again) while one other process
   keeps a core busy: ``python`` (a pure-Python busy loop, one thread: the "one other job" of
   the issue) or ``torch`` (a loop of matrix products with torch's default threads, like an
   evaluation run by someone who did not set any).

It reports each wall time, the ratio beside/alone (the bar: at most 2), the build's stage
times from ``demo.json``, the burner's CPU seconds (proof it ran), the load average and the
thread plan the ``m3tr`` processes used. ``--threads`` and ``--wait-policy`` override the
policy (``M3TR_THREADS``, ``OMP_WAIT_POLICY``) to measure the alternatives.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

M3TR = [sys.executable, "-m", "m3tr.app.cli.main"]

BURNERS = {
    "python": "while True:\n    pass\n",
    "torch": ("import torch\na = torch.randn(384, 384)\nwhile True:\n    a = torch.tanh(a @ a) \n"),
}


WARM_UP = (
    "import torch\n"
    "from m3tr.core.temporal.scan import selective_scan\n"
    "for dt in (torch.float32, torch.float64):\n"
    "    x = torch.rand(1, 2, 3, dtype=dt, requires_grad=True)\n"
    "    s = torch.rand(1, 2, 3, dtype=dt)\n"
    "    selective_scan(x, x, -s[0, :, :2], s[:, :2], s[:, :2]).sum().backward()\n"
)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Burner:
    """One CPU-bound process, started and stopped by the benchmark."""

    def __init__(self, kind: str) -> None:
        if kind not in BURNERS:
            raise typer.BadParameter(f"--burner: one of {', '.join(BURNERS)}, got {kind!r}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_"))}
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, "-c", BURNERS[kind]], env=env, stdin=subprocess.DEVNULL
        )
        self.started = time.perf_counter()
        self.cpu_s = 0.0

    def stop(self) -> dict[str, Any]:
        try:
            self.cpu_s = _cpu_seconds(self.proc.pid)
        except OSError:
            self.cpu_s = float("nan")
        self.proc.kill()
        self.proc.wait()
        wall = time.perf_counter() - self.started
        return {"kind": self.kind, "wall_s": round(wall, 1), "cpu_s": round(self.cpu_s, 1)}


def _run(args: list[str], env: dict[str, str], log_file: Path) -> float:
    """Run ``m3tr ARGS`` to completion; its wall seconds. Output goes to ``log_file``."""
    t0 = time.perf_counter()
    with log_file.open("a") as log:
        log.write(f"$ m3tr {' '.join(args)}\n")
        log.flush()
        proc = subprocess.run(
            [*M3TR, *args], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if proc.returncode != 0:
        raise RuntimeError(f"m3tr {' '.join(args)} failed (exit {proc.returncode}); see {log_file}")
    return time.perf_counter() - t0


def _pair(
    work: Path, tag: str, videos: int, epochs: int, env: dict[str, str], train_home: Path | None
) -> dict[str, Any]:
    """Demo build into ``work/tag`` and a training run; their wall seconds and stage times."""
    home = work / tag
    log_file = work / f"{tag}.log"
    build_s = _run(
        ["demo", "--build-only", "--rebuild", "--videos", str(videos), "--home", str(home)],
        env,
        log_file,
    )
    summary = json.loads((home / "demo.json").read_text())
    train_env = {**env, "M3TR_HOME": str((train_home or home).resolve())}
    train_s = _run(
        ["train", "--name", f"bench-{tag}", "--no-activate", "--max-epochs", str(epochs)],
        train_env,
        log_file,
    )
    return {
        "demo_build_s": round(build_s, 1),
        "train_s": round(train_s, 1),
        "stage_seconds": summary.get("stage_seconds", {}),
    }


def run_contention(
    videos: int = 240,
    epochs: int = 40,
    burner: str = "python",
    threads: int | None = None,
    wait_policy: str | None = None,
    work: Path | None = None,
) -> dict[str, Any]:
    """Alone, then beside a burner; see the module docstring."""
    env = dict(os.environ)
    if threads is not None:
        env["M3TR_THREADS"] = str(threads)
    if wait_policy is not None:
        env["OMP_WAIT_POLICY"] = wait_policy.upper()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(var, None)  # the policy decides, as in a user's shell
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="m3tr-contention-")) if work is None else work
    work.mkdir(parents=True, exist_ok=True)
    try:
        # compile (or load) the CPU scan kernel once, so neither run pays Numba's first compile
        subprocess.run(
            [sys.executable, "-c", WARM_UP], env=env, check=True, stdin=subprocess.DEVNULL
        )
        alone = _pair(work, "alone", videos, epochs, env, None)
        load_before = os.getloadavg()
        hot = Burner(burner)
        try:
            time.sleep(2.0)  # the burner is running before the work starts
            beside = _pair(work, "beside", videos, epochs, env, work / "alone")
        finally:
            burned = hot.stop()
        load_during = os.getloadavg()
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    from m3tr.app.threads import available_cores, plan

    auto = plan("demo", int(env.get("M3TR_THREADS", "0") or 0))
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {available_cores()} available",
        "command": " ".join(["m3tr", *sys.argv[1:]]),
        "videos": videos,
        "max_epochs": epochs,
        "threads_per_process": auto.intra_op,
        "threads_source": auto.source,
        "omp_wait_policy": env.get("OMP_WAIT_POLICY", "PASSIVE (m3tr default)"),
        "alone": alone,
        "beside": beside,
        "burner": burned,
        "ratio_demo_build": round(beside["demo_build_s"] / alone["demo_build_s"], 2),
        "ratio_train": round(beside["train_s"] / alone["train_s"], 2),
        "loadavg_before_burner": [round(x, 2) for x in load_before],
        "loadavg_end_beside": [round(x, 2) for x in load_during],
    }


def register(app: typer.Typer) -> None:
    @app.command("contention")
    def contention(
        json_out: Path = typer.Option(..., "--json", help="write the results here"),
        videos: int = typer.Option(240, "--videos", help="demo corpus size (the demo's default)"),
        epochs: int = typer.Option(40, "--max-epochs", help="m3tr train's epoch cap"),
        burner: str = typer.Option("python", "--burner", help="python (1 thread) or torch"),
        threads: int | None = typer.Option(None, "--threads", help="set M3TR_THREADS"),
        wait_policy: str | None = typer.Option(
            None, "--wait-policy", help="set OMP_WAIT_POLICY (active, passive)"
        ),
        work: Path | None = typer.Option(
            None, "--work", help="keep the workspaces and logs here (default: a temp folder)"
        ),
    ) -> None:
        """Demo build and training alone and beside one CPU-bound process (the 2x bar)."""
        result = run_contention(videos, epochs, burner, threads, wait_policy, work)
        typer.echo(
            f"demo build {result['alone']['demo_build_s']:.0f}s alone, "
            f"{result['beside']['demo_build_s']:.0f}s beside ({result['ratio_demo_build']}x); "
            f"train {result['alone']['train_s']:.0f}s alone, "
            f"{result['beside']['train_s']:.0f}s beside ({result['ratio_train']}x)"
        )
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2))
        typer.echo(f"wrote {json_out}")
