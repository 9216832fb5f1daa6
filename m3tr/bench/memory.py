"""``m3tr bench memory``: peak memory of a forecast against the size of the event log.

A real ``m3tr serve`` (embedded, default settings) on a fresh workspace; one warm-up upload
loads the encoders; then, smallest first, one upload per size: a generated clip with a log of
N events, all inside the observation window (the worst case: every event is history the
temporal steps read). The server process's RSS is sampled every 10 ms from ``/proc``; reported
per size: its peak above the level just before the upload, the job's wall time and state.
Then the largest log the settings accept: ``M3TR_MAX_EVENTS_PER_LOG`` events in, one more out.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import typer

REPO = Path(__file__).resolve().parents[2]
M3TR = [sys.executable, "-m", "m3tr.app.cli.main"]
VOCAB = ("like", "comment", "share", "view", "repost")  # the default vocabulary


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def write_log(path: Path, n: int, window_s: float, seed: int = 0) -> Path:
    """n distinct events spread over [0, window_s] (one at a random point of each of n equal
    slices), types drawn from the default vocabulary."""
    rng = np.random.default_rng(seed)
    t = (np.arange(n) + 0.9 * rng.uniform(size=n)) * (window_s / n)
    kinds = rng.choice(VOCAB, size=n)
    with path.open("w") as fh:
        fh.write("t,type\n")
        fh.writelines(f"{a:.6f},{k}\n" for a, k in zip(t, kinds, strict=True))
    return path


class Peak:
    """Highest RSS (KB) of ``pid`` while the ``with`` block runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.kb, self._stop = pid, 0, threading.Event()

    def __enter__(self) -> Peak:
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.kb = max(self.kb, rss_kb(self.pid))
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def _serve(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (home.parent / "serve.log").open("w")
    proc = subprocess.Popen(
        [*M3TR, "serve", "--port", str(port)], env=env, cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code in (200, 503):
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start; see serve.log")
        time.sleep(0.5)


def _upload(base: str, clip: Path, log: Path) -> httpx.Response:
    with clip.open("rb") as media, log.open("rb") as events:
        return httpx.post(
            f"{base}/api/videos",
            files={"media": (clip.name, media, "video/mp4"),
                   "events": (log.name, events, "text/csv")},
            data={"title": f"memory benchmark {log.stem}"},
            timeout=600,
        )  # fmt: skip


def _follow(base: str, job_url: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while (job := httpx.get(job_url, timeout=60).json())["state"] not in ("done", "failed"):
        if time.monotonic() > deadline:
            return job
        time.sleep(0.25)
    return job


def run(
    sizes: list[int], work: Path, workspace: Path | None = None, timeout_s: float = 3600
) -> dict:
    """Serve a copy of ``workspace`` (a fresh one when None) and upload each size."""
    import shutil

    from m3tr.core.synthetic.videos import ClipSpec, write_clip

    home = work / "home"
    if workspace is not None:
        shutil.copytree(workspace, home)
    else:
        home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3TR_")}
    env.update(M3TR_HOME=str(home), PYTHONUNBUFFERED="1")
    from m3tr.app.settings import Settings

    defaults = Settings(home=home)
    window, cap = defaults.obs_window_s, defaults.max_events_per_log
    proc, base = _serve(home, env)
    out: dict = {"obs_window_s": window, "max_events_per_log": cap, "sizes": []}
    try:
        clip = write_clip(ClipSpec(name="bench"), work / "bench.mp4")
        warm = _upload(base, clip, write_log(work / "warm.csv", 50, window))
        _follow(base, warm.json()["job_url"], timeout_s)
        out["idle_rss_mb"] = rss_kb(proc.pid) / 1024
        for n in sizes:
            log = write_log(work / f"n{n}.csv", n, window, seed=n)
            before = rss_kb(proc.pid)
            start = time.perf_counter()
            with Peak(proc.pid) as peak:
                r = _upload(base, clip, log)
                job = _follow(base, r.json()["job_url"], timeout_s) if r.status_code == 201 else {}
            row = {
                "events": n,
                "status": r.status_code,
                "state": job.get("state"),
                "error": job.get("error"),
                "seconds": round(time.perf_counter() - start, 1),
                "rss_before_mb": round(before / 1024, 1),
                "peak_above_before_mb": round((peak.kb - before) / 1024, 1),
            }
            out["sizes"].append(row)
            typer.echo(json.dumps(row))
        over = _upload(base, clip, write_log(work / "over.csv", cap + 1, window))
        out["cap_plus_one"] = {"status": over.status_code, "detail": over.json().get("detail")}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    out["load_1min_after"] = os.getloadavg()[0]
    return out


def register(app: typer.Typer) -> None:
    @app.command("memory")
    def memory(
        sizes: str = typer.Option("1000,10000,50000,200000", help="event-log sizes, ascending"),
        json_out: Path | None = typer.Option(None, "--json", help="write the results here"),
        workspace: Path | None = typer.Option(
            None, "--workspace", help="serve a copy of this workspace (e.g. a built m3tr demo)"
        ),
    ) -> None:
        """Peak server memory of a forecast per event-log size (real m3tr serve)."""
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="m3tr-bench-memory-") as tmp:
            result = run([int(s) for s in sizes.split(",")], Path(tmp), workspace)
        result["workspace"] = str(workspace) if workspace else "fresh (no trained model)"
        result["load_1min_before"] = load
        typer.echo(json.dumps(result, indent=2))
        if json_out is not None:
            json_out.write_text(json.dumps(result, indent=2))
