"""Event-log validation through the real CLI: each bad file gets a clear error naming where,
and the database is left exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli.main import app
from m3tr_core.db.models import Event, Video
from m3tr_core.events.log import EventLogError, EventLogRules, read_event_log

runner = CliRunner()
RULES = EventLogRules(vocabulary=("like", "comment", "share"), max_events=5)


def _events(home: Path) -> list[tuple[float, str, str | None]]:
    from app.cli.common import session_factory

    with session_factory()() as s:
        return [(e.t, e.type, e.user) for e in s.scalars(select(Event).order_by(Event.id))]


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = "t,type,user\n0,like,a\n5,comment,b\n9,share,c\n"

BAD_FILES = [
    ("missing_col.csv", "time,type\n1,like\n", "missing column 't'"),
    ("non_numeric.csv", "t,type\n1,like\nsoon,like\n", "line 3, column 't'"),
    ("negative.csv", "t,type\n1,like\n-4,comment\n", "line 3, column 't': negative time -4"),
    (
        "unknown.csv",
        "t,type\n1,like\n2,retweet\n",
        "line 3, column 'type': unknown event type 'retweet'",
    ),
    ("empty.csv", "", "the file is empty"),
    ("header_only.csv", "t,type\n", "has no events"),
    (
        "too_many.csv",
        "t,type\n" + "".join(f"{i},like\n" for i in range(7)),
        "7 events exceed the cap of 5",
    ),
    (
        "bad.jsonl",
        '{"t": 1, "type": "like"}\n{"t": 2, "type": \n',
        "bad.jsonl, line 2: not valid JSON",
    ),
    ("notes.txt", "t,type\n1,like\n", "unsupported file type"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_clear_error_and_database_unchanged(
    workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    text: str,
    message: str,
) -> None:
    monkeypatch.setenv("M3TR_EVENT_TYPES", "like,comment,share")
    monkeypatch.setenv("M3TR_MAX_EVENTS_PER_LOG", "5")
    good = _write(tmp_path, "good.csv", GOOD)
    ok = runner.invoke(app, ["events", "import", str(good), "--video", "v1", "--create"])
    assert ok.exit_code == 0, ok.output
    before = _events(workspace)
    assert len(before) == 3

    bad = _write(tmp_path, name, text)
    res = runner.invoke(app, ["events", "import", str(bad), "--video", "v1"])
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())
    assert _events(workspace) == before


def test_bad_file_for_new_video_creates_nothing(workspace: Path, tmp_path: Path) -> None:
    bad = _write(tmp_path, "neg.csv", "t,type\n-1,like\n")
    res = runner.invoke(app, ["events", "import", str(bad), "--video", "fresh", "--create"])
    assert res.exit_code == 1
    from app.cli.common import session_factory

    with session_factory()() as s:
        assert s.scalars(select(Video)).all() == []


def test_unknown_video_needs_create(workspace: Path, tmp_path: Path) -> None:
    good = _write(tmp_path, "good.csv", GOOD)
    res = runner.invoke(app, ["events", "import", str(good), "--video", "nope"])
    assert res.exit_code == 1
    assert "no video with id or external id 'nope'" in res.output


def test_unsorted_sorted_and_duplicates_dropped(tmp_path: Path) -> None:
    p = _write(tmp_path, "x.csv", "t,type,user\n9,like,a\n1,comment,b\n9,like,a\n4,share,\n")
    log = read_event_log(p, RULES)
    assert log.t.tolist() == [1.0, 4.0, 9.0]
    assert log.type.tolist() == ["comment", "share", "like"]
    assert log.duplicates_dropped == 1 and log.duplicate_lines == [4]
    assert not log.was_sorted
    assert log.user.tolist() == ["b", None, "a"]


def test_iso_timestamps_need_published_at(tmp_path: Path) -> None:
    p = _write(
        tmp_path, "iso.csv", "t,type\n2024-01-01T00:00:30Z,like\n2024-01-01T01:00:00Z,share\n"
    )
    with pytest.raises(EventLogError, match="give the video's published_at"):
        read_event_log(p, RULES)
    import datetime as dt

    log = read_event_log(p, RULES, published_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    assert log.t.tolist() == [30.0, 3600.0]
    q = _write(
        tmp_path,
        "iso2.csv",
        "t,type,published_at\n2024-01-01T00:00:30Z,like,2024-01-01T00:00:00Z\n",
    )
    assert read_event_log(q, RULES).t.tolist() == [30.0]


def test_jsonl_and_parquet_read_the_same(tmp_path: Path) -> None:
    rows = [{"t": 3, "type": "like", "user": "u"}, {"t": 1.5, "type": "share", "user": "v"}]
    j = tmp_path / "x.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pq = tmp_path / "x.parquet"
    pd.DataFrame(rows).to_parquet(pq)
    a, b = read_event_log(j, RULES), read_event_log(pq, RULES)
    assert a.t.tolist() == b.t.tolist() == [1.5, 3.0]
    assert a.type.tolist() == b.type.tolist() == ["share", "like"]


def test_reimport_replaces_log(workspace: Path, tmp_path: Path) -> None:
    good = _write(tmp_path, "good.csv", GOOD)
    for _ in range(2):
        res = runner.invoke(app, ["events", "import", str(good), "--video", "v1", "--create"])
        assert res.exit_code == 0, res.output
    assert len(_events(workspace)) == 3
