"""``m3tr serve`` on a big bank: Lookalikes in headless Chromium, Predict through the HTTP API,
the server's memory. Issue 11's "a 1M-video bank in ``m3tr serve``".

The workspace is made beforehand (see benchmarks/results/retrieval.md for the commands):

    m3tr demo --home HOME --build-only                                   # 240 real videos
    M3TR_HOME=HOME m3tr bank build --live --synthetic 1000000            # + 1M synthetic

then::

    python benchmarks/serve_at_scale.py --home HOME --video V.mp4 --json OUT.json

It starts ``m3tr serve`` (web app and embedded worker, one process) on a free port, and
measures: the start until /healthz answers; Lookalikes for several videos (real and synthetic:
search by id, then the three lists rendered: 3 Eq. 3 retrievals, SQL, the plot) from the click
to the rendered header of that video; Predict: an upload with an event log through
``POST /videos`` until its job is done, and the job's retrieval-and-forecast time; the
server's resident memory (VmRSS) after start and at the end, and its peak (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
EVENTS = "t,type\n4,like\n20,like\n45,comment\n90,like\n160,share\n300,like\n" + "".join(
    f"{600 + 40 * i},like\n" for i in range(30)
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of ``pid`` in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(rest.split()[0]) / 1024, 1)
    return out


def lookalikes(url: str, queries: list[str]) -> list[dict[str, Any]]:
    """Click-to-rendered time of the Lookalikes tab for each video id in ``queries``."""
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url, wait_until="load", timeout=300_000)
        page.get_by_role("tab", name="Lookalikes").click()
        header = page.locator("#lookalike-header")
        for q in queries:
            page.locator("#lookalike-query").locator("textarea, input").first.fill(q)
            t0 = time.perf_counter()
            page.locator("#lookalike-search").click()
            header.get_by_text(f"(video {q})").wait_for(timeout=120_000)
            seconds = time.perf_counter() - t0
            combined = page.locator("#lookalike-combined").inner_text()
            rows.append({"video_id": int(q), "seconds": round(seconds, 3), "chars": len(combined)})
            print(f"lookalikes {q}: {seconds:.2f} s", flush=True)
        browser.close()
    return rows


def upload(url: str, video: Path, n: int, tmp: Path) -> list[dict[str, Any]]:
    """``POST /videos`` with the video and an event log, then poll its job until it ends."""
    import httpx

    events = tmp / "events.csv"
    events.write_text(EVENTS)
    rows = []
    for i in range(n):
        t0 = time.perf_counter()
        with video.open("rb") as fv, events.open("rb") as fe:
            r = httpx.post(
                f"{url}/api/videos",
                files={"media": (video.name, fv, "video/mp4"), "events": ("events.csv", fe)},
                data={"title": f"scale upload {i}"},
                timeout=120,
            )
        r.raise_for_status()
        body = r.json()
        while True:
            job = httpx.get(body["job_url"], timeout=30).json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
        pred = httpx.get(body["prediction_url"], timeout=30)
        neighbours = len(pred.json().get("neighbours") or []) if pred.is_success else 0
        rows.append(
            {
                "video_id": body["video_id"],
                "state": job["state"],
                "seconds_to_forecast": round(seconds, 2),
                "neighbours": neighbours,
                "job": {k: job.get(k) for k in ("step", "error")},
            }
        )
        print(f"upload {i}: {job['state']} in {seconds:.1f} s, {neighbours} neighbours", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--video", type=Path, required=True, help="A video file to upload.")
    ap.add_argument("--uploads", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    home = args.home.resolve()
    with sqlite3.connect(home / "m3tr.db") as db:
        real = [
            r[0] for r in db.execute("select id from videos where source != 'synthetic' limit 3")
        ]
        fake = [
            r[0] for r in db.execute("select id from videos where source = 'synthetic' limit 3")
        ]
        n_videos = db.execute("select count(*) from videos").fetchone()[0]
        bank = db.execute("select collection, n_videos from bank_versions where is_live").fetchone()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "M3TR_HOME": str(home)}
    for var in ("M3TR_DATABASE_URL", "M3TR_BROKER_URL", "M3TR_QDRANT_URL"):
        env.pop(var, None)
    log = (home / "serve-at-scale.log").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "m3tr.app.cli.main", "serve", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while not healthy(url):
            if proc.poll() is not None or time.perf_counter() - t0 > 900:
                raise SystemExit(f"m3tr serve did not come up; see {log.name}")
            time.sleep(0.5)
        start_s = time.perf_counter() - t0
        mem_start = memory_mb(proc.pid)
        print(f"serving after {start_s:.1f} s, memory {mem_start}", flush=True)
        looks = lookalikes(url, [str(v) for v in [*real, *fake]])
        mem_looks = memory_mb(proc.pid)
        ups = upload(url, args.video, args.uploads, home)
        mem_end = memory_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    report = {
        "bank": {"collection": bank[0], "n_videos": bank[1]},
        "videos_in_sql": n_videos,
        "start_s": round(start_s, 1),
        "memory_mb": {"after_start": mem_start, "after_lookalikes": mem_looks, "end": mem_end},
        "lookalikes": looks,
        "uploads": ups,
        "load_1min": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
