"""Issue 16 through a real ``m3tr serve`` and the real CLI: events appended in three batches give
three forecasts in the history, the last equal to a fresh forecast from the whole log; a bad
batch changes nothing; a manifest ingests its good rows and names its bad line; the CSV and
Parquet exports round-trip into pandas with the documented columns; cursor pages visit every
job exactly once while jobs are being added; listings print JSON on stdout."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from m3tr.app.records import export_columns
from m3tr.core.synthetic.events import default_params, simulate_hawkes
from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.web.conftest import Server
from tests.integration.workers.conftest import M3TR, OBS_S, REPO, VOCAB, write_log

pytestmark = pytest.mark.integration


def _cli(server: Server, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*M3TR, *args], env=server.env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def _wait_job(server: Server, job_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while (job := httpx.get(f"{server.base}/api/jobs/{job_id}", timeout=10).json())["state"] not in (
        "done", "failed"
    ):  # fmt: skip
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert job["state"] == "done", job
    return job


def _history(server: Server, video_id: int) -> list[dict]:
    r = httpx.get(f"{server.base}/api/videos/{video_id}/predictions", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _batches(tmp_path: Path) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    t, types = simulate_hawkes(default_params(0.3, VOCAB), OBS_S, np.random.default_rng(7))
    whole = pd.DataFrame({"t": np.round(t, 3), "type": types})
    cuts = [0.0, OBS_S / 3, 2 * OBS_S / 3, OBS_S + 1]
    parts = [whole[(whole.t >= a) & (whole.t < b)] for a, b in zip(cuts, cuts[1:], strict=False)]
    assert all(len(p) for p in parts), [len(p) for p in parts]
    return parts, whole


def test_three_batches_three_forecasts_last_equals_fresh(make_server, tmp_path: Path) -> None:
    server: Server = make_server()
    server.start()
    inbox = tmp_path / "inbox"
    for i in range(3):  # matured neighbours, ingested from a manifest (one bad row)
        write_clip(ClipSpec(name=f"old{i}", style=i), inbox / f"old{i}.mp4")
        write_log(inbox / f"old{i}.csv", seed=i, matured=True)
    (inbox / "bad.csv").write_text("t,type\n1,like\n2,retweet\n")
    manifest = inbox / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in [
        *({"media": f"old{i}.mp4", "title": f"Old clip {i}", "author": "studio",
           "published_at": "2026-11-01T08:00:00Z", "events": f"old{i}.csv"} for i in range(3)),
        {"media": "old0.mp4", "title": "bad log", "external_id": "x", "events": "bad.csv"},
    ]))  # fmt: skip
    out = _cli(server, "ingest", "--manifest", str(manifest), "--timeout", "240")
    assert out.returncode == 1, out.stderr[-3000:]  # one row refused
    assert "manifest.jsonl, line 4" in out.stderr and "retweet" in out.stderr
    assert "done 3, failed 0" in out.stderr, out.stderr[-3000:]
    videos = json.loads(_cli(server, "videos", "--json", "--search", "old clip").stdout)
    assert sorted(v["title"] for v in videos) == ["Old clip 0", "Old clip 1", "Old clip 2"]
    assert {v["author"] for v in videos} == {"studio"}

    parts, whole = _batches(tmp_path)
    clip = write_clip(ClipSpec(name="new", style=1), tmp_path / "new.mp4")
    first = tmp_path / "batch1.csv"
    parts[0].to_csv(first, index=False)
    with clip.open("rb") as media, first.open("rb") as events:
        created = httpx.post(f"{server.base}/api/videos", timeout=60,
                             files={"media": ("new.mp4", media, "video/mp4"),
                                    "events": ("batch1.csv", events, "text/csv")})  # fmt: skip
    assert created.status_code == 201, created.text
    vid = created.json()["video_id"]
    assert created.headers["location"].endswith(f"/api/videos/{vid}")
    _wait_job(server, created.json()["job_id"])

    before = (
        len(_history(server, vid)),
        server.sql(f"select count(*) from events where video_id={vid}"),
    )
    bad = httpx.post(f"{server.base}/api/videos/{vid}/events", timeout=30, json={
        "events": [*parts[1].to_dict("records"), {"t": 5.0, "type": "retweet"}]})  # fmt: skip
    assert bad.status_code == 422 and f"line {len(parts[1]) + 1}" in bad.json()["detail"]
    assert bad.json()["errors"] == []
    bad_file = tmp_path / "bad-batch.csv"
    bad_file.write_text("t,type\n900,like\nsoon,like\n")
    cli_bad = _cli(server, "events", "append", str(bad_file), "--video", str(vid))
    assert cli_bad.returncode == 1 and "line 3" in cli_bad.stderr, cli_bad.stderr
    after = (
        len(_history(server, vid)),
        server.sql(f"select count(*) from events where video_id={vid}"),
    )
    assert after == before  # nothing appended, no forecast made

    second = httpx.post(f"{server.base}/api/videos/{vid}/events", timeout=30,
                        json={"events": parts[1].to_dict("records"),
                              "observed_until_s": OBS_S * 2 / 3})  # fmt: skip
    assert second.status_code == 202, second.text
    assert second.headers["location"].endswith(f"/api/jobs/{second.json()['job_id']}")
    _wait_job(server, second.json()["job_id"])
    third_file = tmp_path / "batch3.csv"
    parts[2].to_csv(third_file, index=False)
    third = _cli(server, "events", "append", str(third_file), "--video", str(vid), "--json")
    assert third.returncode == 0, third.stderr[-3000:]
    appended = json.loads(third.stdout)
    assert appended["appended"] == len(parts[2]) and appended["n_events"] == len(whole)
    _wait_job(server, appended["job_id"])

    history = _history(server, vid)
    assert len(history) == 3
    assert [h["n_events"] for h in history] == list(np.cumsum([len(p) for p in parts]))
    until = [h["observed_until_s"] for h in history]
    assert until == sorted(until) and until[1] == pytest.approx(OBS_S * 2 / 3)
    cli_history = json.loads(_cli(server, "predictions", "history", str(vid), "--json").stdout)
    assert [h["prediction_id"] for h in cli_history] == [h["prediction_id"] for h in history]

    whole_file = tmp_path / "whole.csv"
    whole.to_csv(whole_file, index=False)
    with clip.open("rb") as media, whole_file.open("rb") as events:
        fresh = httpx.post(f"{server.base}/api/videos", timeout=60,
                           files={"media": ("new-again.mp4", media, "video/mp4"),
                                  "events": ("whole.csv", events, "text/csv")}).json()  # fmt: skip
    _wait_job(server, fresh["job_id"])
    fresh_forecast = _history(server, fresh["video_id"])[-1]
    last = history[-1]
    assert last["n_events"] == fresh_forecast["n_events"] == len(whole)
    assert last["method"] == fresh_forecast["method"]
    for k in VOCAB:
        for q in ("median", "lo", "hi"):
            assert last["forecast"].get(k, {}).get(q) == pytest.approx(
                fresh_forecast["forecast"].get(k, {}).get(q), rel=1e-6
            ), (k, q, last, fresh_forecast)
    assert last["total"] == pytest.approx(fresh_forecast["total"], rel=1e-6)

    # exports: every forecast, the documented columns, into pandas
    n_pred = server.sql("select count(*) from predictions")[0][0]
    csv = httpx.get(f"{server.base}/api/predictions.csv", timeout=60)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    df = pd.read_csv(io.StringIO(csv.text))
    assert list(df.columns) == export_columns(list(VOCAB)) and len(df) == n_pred
    mine = df[df.video_id == vid].sort_values("prediction_id")
    assert mine["n_events"].tolist() == [h["n_events"] for h in history]
    assert mine["total_median"].tolist() == pytest.approx([h["total"]["median"] for h in history])
    pq_path = tmp_path / "all.parquet"
    exported = _cli(server, "predictions", "export", str(pq_path))
    assert exported.returncode == 0, exported.stderr
    pq = pd.read_parquet(pq_path)
    assert list(pq.columns) == list(df.columns) and len(pq) == n_pred
    latest = pd.read_csv(io.StringIO(
        httpx.get(f"{server.base}/api/predictions.csv", params={"latest": "true"}, timeout=60).text
    ))  # fmt: skip
    assert latest.video_id.is_unique and len(latest) == latest.video_id.nunique()

    # cursor pages over the jobs visit each job once while appends add jobs
    existing = {r[0] for r in server.sql("select id from jobs")}
    seen: list[int] = []
    cursor = None
    extra_t = OBS_S + 10.0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{server.base}/api/jobs", params=params, timeout=10).json()
        seen += [j["id"] for j in page["items"]]
        extra_t += 1.0
        r = httpx.post(f"{server.base}/api/videos/{vid}/events", timeout=30,
                       json={"events": [{"t": extra_t, "type": "like"}]})  # fmt: skip
        assert r.status_code == 202, r.text
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and existing <= set(seen)
    jobs_json = json.loads(_cli(server, "jobs", "--json", "--kind", "reforecast").stdout)
    assert {j["kind"] for j in jobs_json} == {"reforecast"} and len(jobs_json) >= 2
