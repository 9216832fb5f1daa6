from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from m3tr.core.events.log import EventLogError
from m3tr.core.pipeline.submit import events_for, find_inputs, split_event_file


def test_combined_log_is_split_per_video_stem(tmp_path: Path) -> None:
    combined = tmp_path / "all.csv"
    combined.write_text("video,t,type\na,1,like\nb,2,share\na,3,comment\n")
    out = split_event_file(combined, tmp_path / "split")
    a = pd.read_csv(out / "a.csv")
    assert a.columns.tolist() == ["t", "type"] and a["type"].tolist() == ["like", "comment"]
    assert pd.read_csv(out / "b.csv")["t"].tolist() == [2]
    (tmp_path / "vids").mkdir()
    for stem in ("a", "b", "c"):
        (tmp_path / "vids" / f"{stem}.mp4").write_bytes(b"x")
    (tmp_path / "vids" / "notes.txt").write_text("ignored")
    videos = find_inputs(tmp_path / "vids")
    assert [v.name for v in videos] == ["a.mp4", "b.mp4", "c.mp4"]
    assert [events_for(v, out) for v in videos] == [out / "a.csv", out / "b.csv", None]


def test_combined_log_without_video_column_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "all.csv"
    bad.write_text("t,type\n1,like\n")
    with pytest.raises(EventLogError, match="'video' column"):
        split_event_file(bad, tmp_path / "split")


def test_logs_beside_videos_are_found_by_stem(tmp_path: Path) -> None:
    (tmp_path / "v.mp4").write_bytes(b"x")
    (tmp_path / "v.jsonl").write_text('{"t": 1, "type": "like"}\n')
    assert events_for(tmp_path / "v.mp4", None) == tmp_path / "v.jsonl"
    with pytest.raises(FileNotFoundError, match="folder"):
        events_for(tmp_path / "v.mp4", tmp_path / "v.jsonl")
