"""The CLI as a user runs it (subprocesses on a fresh workspace, no worker running): listings
print JSON on stdout and logs on stderr, choice options refuse other values, and ingest exits 3
when its jobs are still unfinished at --timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from m3tr.core.synthetic.videos import ClipSpec, write_clip

REPO = Path(__file__).resolve().parents[3]


def _m3tr(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3TR_")}
    env["M3TR_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "m3tr.app.cli.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_ingest_unfinished_at_timeout_exits_3_and_listings_are_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    inbox = tmp_path / "inbox"
    write_clip(ClipSpec(name="a", seconds=1.0, size=48), inbox / "a.mp4")
    (inbox / "a.csv").write_text("t,type\n1,like\n2,comment\n")
    out = _m3tr(home, "ingest", str(inbox), "--timeout", "1")
    assert out.returncode == 3, out.stderr[-2000:]  # no worker runs: the job cannot finish
    assert "unfinished 1" in out.stderr and out.stdout == ""

    jobs = _m3tr(home, "jobs", "--json")
    assert jobs.returncode == 0, jobs.stderr
    listed = json.loads(jobs.stdout)
    assert [(j["kind"], j["state"]) for j in listed] == [("ingest", "queued")]
    videos = json.loads(_m3tr(home, "videos", "--json", "--search", "a").stdout)
    assert [v["external_id"] for v in videos] == ["a"]
    assert json.loads(_m3tr(home, "model", "list", "--json").stdout) == []
    table = _m3tr(home, "jobs")
    assert "ingest" in table.stdout and "queued" in table.stdout

    bad = _m3tr(home, "jobs", "--state", "finished")
    assert bad.returncode == 2 and "'finished' is not one of" in bad.stderr
    rollback = _m3tr(home, "model", "rollback", "--kind", "m3tr")
    assert rollback.returncode == 1 and "nothing to roll back to" in rollback.stderr
