"""End to end in headless Chromium: ``m3tr demo`` on a free port, upload, forecast, lookalikes.

Needs /usr/bin/chromium (``scripts/install-system-deps``) and the ``playwright`` package; never
runs ``playwright install``. Screenshots go to ``test-artifacts/ui/``; with
``M3TR_UPDATE_SCREENSHOT=1`` the Predict screenshot also refreshes ``docs/screenshot-predict.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
SHARED_VIDEO = REPO_ROOT.parent / "shared" / "data" / "microlens" / "videos" / "1002.mp4"
N_VIDEOS = 32
START_TIMEOUT_S = int(os.environ.get("M3TR_UI_START_TIMEOUT_S", "420"))  # a loaded machine: more
JOB_TIMEOUT_MS = 240_000

EVENTS_CSV = "t,type\n4,like\n20,like\n45,comment\n90,like\n160,share\n300,like\n420,like\n" + (
    "".join(f"{600 + 40 * i},like\n" for i in range(30))
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``m3tr demo`` on a fresh workspace and a free port; yields (base url, home)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("no /usr/bin/chromium in CI (scripts/install-system-deps installs it)")
        pytest.skip("no /usr/bin/chromium (run scripts/install-system-deps)")
    pytest.importorskip("playwright.sync_api")
    # M3TR_UI_DEMO_HOME: serve a demo workspace built before (``m3tr demo --build-only``)
    reuse = os.environ.get("M3TR_UI_DEMO_HOME")
    home = Path(reuse) if reuse else tmp_path_factory.mktemp("demo") / "home"
    port = _free_port()
    env = {**os.environ, "M3TR_MAX_UPLOAD_MB": "8", "M3TR_TOP_S": "6"}
    for var in ("M3TR_DATABASE_URL", "M3TR_BROKER_URL", "M3TR_QDRANT_URL", "M3TR_HOME"):
        env.pop(var, None)
    log_path = tmp_path_factory.mktemp("demo-log") / "server.log"
    m3tr = [sys.executable, "-m", "m3tr.app.cli.main"]
    cmd = [*m3tr, "demo", "--home", str(home), "--videos", str(N_VIDEOS), "--port", str(port)]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text()[-3000:]
                pytest.fail(f"m3tr demo did not come up (exit {proc.poll()}):\n{tail}")
            time.sleep(1.0)
        yield url, home
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "server.log")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    # not "networkidle": the Ingestion tab's 3 s timer and the tables filled on load keep
    # requests in flight, and on a busy machine the page was never idle for 500 ms in 30 s
    pg.goto(server[0], wait_until="load", timeout=120_000)
    pg.locator("#predict-video").wait_for(state="visible", timeout=120_000)
    yield pg
    context.close()


def _count(home: Path, table: str) -> int:
    with sqlite3.connect(home / "m3tr.db") as db:
        return int(db.execute(f"select count(*) from {table}").fetchone()[0])


def _upload(page, tmp_path: Path, video: Path, events_text: str | None, events_name: str) -> None:
    page.locator("#predict-video input[type=file]").set_input_files(str(video))
    if events_text is not None:
        ev = tmp_path / events_name
        ev.write_text(events_text)
        page.locator("#predict-events input[type=file]").set_input_files(str(ev))
    page.wait_for_timeout(500)
    page.locator("#predict-submit").click()


def _wait_for_rows(table, n: int, timeout_s: float = 30.0) -> int:
    """Demo titles end in ``#<n>``; wait until the table lists at least ``n`` of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = len(re.findall(r"#\d+", table.inner_text()))
        if found >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _wait_text(locator, text: str, timeout_s: float = 30.0) -> bool:
    """Wait until ``text`` is in the element's visible text (Gradio tables keep hidden copies
    of their cells, so ``get_by_text`` would find those first)."""
    deadline = time.monotonic() + timeout_s
    while text not in locator.inner_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _video(tmp_path: Path) -> Path:
    if SHARED_VIDEO.is_file():
        return SHARED_VIDEO
    from m3tr.core.synthetic.videos import ClipSpec, write_clip

    return write_clip(ClipSpec(name="upload", seconds=1.5, size=64), tmp_path / "upload.mp4")


def test_predict_upload_shows_forecast_neighbours_and_plots(page, server, tmp_path):
    url, home = server
    page.locator("#predict-title").locator("textarea, input").first.fill("My uploaded clip")
    _upload(page, tmp_path, _video(tmp_path), EVENTS_CSV, "events.csv")
    status = page.locator("#predict-status")
    status.get_by_text("Forecast ready").wait_for(timeout=JOB_TIMEOUT_MS)
    forecast = page.locator("#predict-forecast")
    assert "like" in forecast.inner_text()
    assert page.locator("#predict-forecast-plot img").count() == 1
    assert page.locator("#predict-intensity-plot img").count() == 1
    assert page.locator("#predict-neighbour-plot img").count() == 1
    assert page.locator("#predict-gallery img").count() >= 3
    neighbours = page.locator("#predict-neighbours").inner_text()
    assert "combined" in neighbours and "like" in neighbours
    assert "Retrieval:" in page.locator("#predict-provenance").inner_text()
    page.wait_for_timeout(800)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "predict.png"), full_page=True)
    if os.environ.get("M3TR_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(REPO_ROOT / "docs" / "screenshot-predict.png"), full_page=True)


def test_lookalikes_three_lists_with_trajectories(page, server):
    page.get_by_role("tab", name="Lookalikes").click()
    page.locator("#lookalike-query").locator("textarea, input").first.fill("#1")
    page.locator("#lookalike-search").click()
    header = page.locator("#lookalike-header")
    header.get_by_text("Bank").wait_for(timeout=60_000)
    for name in ("content", "trajectory", "combined"):
        # demo titles end in "#<n>": at least three neighbours listed
        rows = _wait_for_rows(page.locator(f"#lookalike-{name}"), 3)
        assert rows >= 3
    assert page.locator("#lookalike-plot img").count() == 1
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "lookalikes.png"), full_page=True)


def test_ingestion_and_model_tabs(page, server):
    page.get_by_role("tab", name="Ingestion").click()
    assert _wait_text(page.locator("#bank-stats"), "bank trajectory vectors")
    jobs = page.locator("#jobs-table")
    assert _wait_text(jobs, "done")  # the table refreshes every 3 s
    assert "ingest" in jobs.inner_text()
    page.screenshot(path=str(ARTIFACTS / "ingestion.png"), full_page=True)
    page.get_by_role("tab", name="Model").click()
    page.locator("#model-alpha img").wait_for(timeout=30_000)
    assert "demo-mhp" in page.locator("#model-header").inner_text()
    assert "bank_v" in page.locator("#bank-versions").inner_text()
    page.screenshot(path=str(ARTIFACTS / "model.png"), full_page=True)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("not-a-video", "is not a readable video"),
        ("bad-events", "unknown event type 'retweet'"),
        ("too-large", "too large"),
    ],
)
def test_bad_uploads_show_a_clear_message_and_write_nothing(page, server, tmp_path, kind, expected):
    url, home = server
    before = (_count(home, "videos"), _count(home, "jobs"))
    video, events = _video(tmp_path), None
    if kind == "not-a-video":
        video = tmp_path / "holiday.mp4"
        video.write_text("this is a text file pretending to be a video\n" * 50)
    elif kind == "bad-events":
        events = "t,type\n1,like\n2,retweet\n"
    else:
        video = tmp_path / "huge.mp4"
        video.write_bytes(os.urandom(9 << 20))
    _upload(page, tmp_path, video, events, "events.csv")
    if kind == "too-large":
        # Gradio refuses the file at upload (max_file_size = M3TR_MAX_UPLOAD_MB) and says so;
        # nothing reaches the database.
        page.get_by_text("exceed the maximum allowed size", exact=False).first.wait_for(
            timeout=30_000
        )
    else:
        page.locator("#predict-status .m3tr-error").get_by_text(expected).wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / f"bad-upload-{kind}.png"), full_page=True)
    assert (_count(home, "videos"), _count(home, "jobs")) == before


def _api_upload(url: str, tmp_path: Path) -> int:
    """A video with events through the REST API, its job followed to the end; its id."""
    import httpx

    ev = tmp_path / "events-api.csv"
    ev.write_text(EVENTS_CSV)
    with _video(tmp_path).open("rb") as media, ev.open("rb") as events:
        r = httpx.post(f"{url}/api/videos", timeout=120,
                       files={"media": ("watch.mp4", media, "video/mp4"),
                              "events": ("events.csv", events, "text/csv")})  # fmt: skip
    assert r.status_code == 201, r.text
    _api_job(url, r.json()["job_id"])
    return int(r.json()["video_id"])


def _api_job(url: str, job_id: int) -> None:
    import httpx

    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while (job := httpx.get(f"{url}/api/jobs/{job_id}", timeout=10).json())["state"] not in (
        "done", "failed"
    ):  # fmt: skip
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job["state"] == "done", job


def _show(page, video_id: int) -> None:
    page.get_by_role("tab", name="Predict").click()
    if not page.locator("#predict-video-id input").is_visible():  # open the accordion once
        page.get_by_text("Or show an existing video's forecast").click()
    page.locator("#predict-video-id input").fill(str(video_id))
    page.locator("#predict-show").click()
    page.locator("#predict-status").get_by_text(f"Forecast of video {video_id}").wait_for(
        timeout=60_000
    )


def test_watch_a_neighbour_roll_a_model_back_and_download_forecasts(page, server, tmp_path):
    """Issue 16 in the browser: play a neighbour's video; activate the previous model version
    in the Model tab and see the next forecast use it; download every forecast as CSV."""
    import httpx
    import pandas as pd

    url, home = server
    vid = _api_upload(url, tmp_path)
    _show(page, vid)
    assert page.locator("#predict-target-video video").count() == 1
    page.locator("#predict-neighbour-pick input").click()
    page.locator("[data-testid=dropdown-option]").first.click(timeout=30_000)
    video = page.locator("#predict-neighbour-video video")
    video.wait_for(timeout=30_000)
    src = video.get_attribute("src") or ""
    assert "demo-clips" in src or "/media/" in src or "gradio_api/file" in src, src
    played = page.evaluate(
        """async () => {
            const v = document.querySelector('#predict-neighbour-video video');
            v.muted = true;
            await v.play();
            await new Promise(r => setTimeout(r, 1500));
            return v.currentTime;
        }"""
    )
    assert played > 0, "the neighbour's video did not play"
    assert page.locator("#predict-history-plot img").count() == 1
    assert page.locator("#predict-neighbour-lines").count() == 1  # the hover-named line plot
    page.screenshot(path=str(ARTIFACTS / "watch-neighbour.png"), full_page=True)

    # a second fused version becomes active; the demo's own one is then "the previous version"
    models = httpx.get(f"{url}/api/models", params={"kind": "m3tr"}, timeout=10).json()["items"]
    demo = next(m for m in models if m["name"] == "demo-m3tr")
    assert demo["is_active"], "the demo's fused model is not served"
    env = {**os.environ, "M3TR_HOME": str(home)}
    copy = f"demo-m3tr-copy-{int(time.time())}"
    reg = subprocess.run(
        [sys.executable, "-m", "m3tr.app.cli.main", "model", "register", str(home / "models" / "demo-m3tr"),
         "--name", copy, "--kind", "m3tr", "--activate", "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert reg.returncode == 0, reg.stderr
    r = httpx.post(f"{url}/api/videos/{vid}/events", json={"events": [{"t": 1700, "type": "like"}]},
                   timeout=30)  # fmt: skip
    assert r.status_code == 202, r.text
    _api_job(url, r.json()["job_id"])
    history = httpx.get(f"{url}/api/videos/{vid}/predictions", timeout=10).json()["items"]
    assert history[-1]["model_version"] == copy

    page.get_by_role("tab", name="Model").click()
    page.locator("#model-refresh").click()
    assert _wait_text(page.locator("#model-versions"), copy)
    page.locator("#model-pick input").click()
    page.locator("[data-testid=dropdown-option][aria-label='demo-m3tr (m3tr)']").click()
    page.locator("#model-activate").click()
    assert _wait_text(page.locator("#model-switch-status"), "is now the active m3tr model")
    page.screenshot(path=str(ARTIFACTS / "model-activate.png"), full_page=True)
    r = httpx.post(f"{url}/api/videos/{vid}/events", json={"events": [{"t": 1750, "type": "like"}]},
                   timeout=30)  # fmt: skip
    _api_job(url, r.json()["job_id"])
    history = httpx.get(f"{url}/api/videos/{vid}/predictions", timeout=10).json()["items"]
    assert [h["model_version"] for h in history[-2:]] == [copy, "demo-m3tr"]
    _show(page, vid)
    assert _wait_text(page.locator("#predict-history"), "demo-m3tr")

    page.get_by_role("tab", name="Ingestion").click()
    page.locator("#export-csv").click()
    button = page.locator("#export-download")
    button.wait_for(state="visible", timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        button.click()
    df = pd.read_csv(info.value.path())
    header = httpx.get(f"{url}/api/predictions.csv", timeout=60).text.splitlines()[0]
    assert list(df.columns) == header.split(",")
    mine = df[df.video_id == vid]
    assert len(mine) == len(history) and mine["model_version"].tolist()[-1] == "demo-m3tr"
