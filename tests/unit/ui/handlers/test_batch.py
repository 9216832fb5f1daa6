"""Batch upload: pairing by stem, each file on its own."""

from __future__ import annotations

from pathlib import Path

from m3tr.app.ui.handlers.batch import ingest_batch, pair_files
from tests.unit.ui.factories import make_services, synthetic_clip


def test_pair_files_by_stem():
    pairs, unused = pair_files(["a.mp4", "a.csv", "b.webm", "c.jsonl", "notes.txt"])
    assert pairs == [(Path("a.mp4"), Path("a.csv")), (Path("b.webm"), None)]
    assert unused == [Path("notes.txt"), Path("c.jsonl")]


def test_ingest_batch_reports_each_file(tmp_path):
    services, recorder = make_services(tmp_path / "home")
    good = synthetic_clip(tmp_path, "good")
    (tmp_path / "good.csv").write_text("t,type\n1,like\n")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage")
    (tmp_path / "stray.csv").write_text("t,type\n1,like\n")
    report = ingest_batch(services, [good, tmp_path / "good.csv", bad, tmp_path / "stray.csv"])
    rows = {r["file"]: r for r in report.to_dict("records")}
    assert rows["good.mp4"]["result"] == "queued" and rows["good.mp4"]["event log"] == "good.csv"
    assert rows["bad.mp4"]["result"].startswith("refused: bad.mp4 is not a readable video")
    assert "without a video" in rows["stray.csv"]["result"]
    assert len(recorder.sent) == 1
