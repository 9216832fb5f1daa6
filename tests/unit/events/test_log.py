"""Event-log validation through the real CLI: each bad file gets a clear error naming where,
and the database is left exactly as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from m3tr.app.cli.main import app
from m3tr.core.db.models import Event, Video
from m3tr.core.events.log import EventLogError, EventLogRules, read_event_log

runner = CliRunner()
RULES = EventLogRules(vocabulary=("like", "comment", "share"), max_events=5)


def _events(home: Path) -> list[tuple[float, str, str | None]]:
    from m3tr.app.cli.common import session_factory

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
    from m3tr.app.cli.common import session_factory

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


# --- hostile logs: counted while reading, bounded values ----------------------------------


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_parquet_over_the_cap_is_refused_from_its_footer_without_expanding(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 20_000_000  # a few hundred KB compressed (one value repeated), ~500 MB once read
    table = pa.table({"t": pa.repeat(pa.scalar(1.0), n), "type": pa.repeat(pa.scalar("like"), n)})
    path = tmp_path / "bomb.parquet"
    pq.write_table(table, path, compression="zstd")
    del table
    assert path.stat().st_size < 2 << 20
    before = _rss_kb()
    rules = EventLogRules(vocabulary=("like",), max_events=200_000)
    with pytest.raises(EventLogError, match="20000000 events exceed the cap of 200000"):
        read_event_log(path, rules)
    assert _rss_kb() - before < 50_000  # KB: nothing was expanded


def test_parquet_whose_few_rows_expand_too_far_is_refused(tmp_path: Path):
    path = tmp_path / "wide.parquet"
    pd.DataFrame(
        {"t": [1.0, 2.0], "type": ["like", "like"], "user": ["u" * 50_000] * 2}
    ).to_parquet(path)
    with pytest.raises(EventLogError, match="bytes per event"):
        read_event_log(path, EventLogRules(vocabulary=("like",)))


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_text_logs_stop_reading_at_the_cap(tmp_path: Path, kind: str):
    rows = 3 * 50_000 + 7
    path = tmp_path / f"long.{kind}"
    with path.open("w") as fh:
        if kind == "csv":
            fh.write("t,type\n")
            fh.writelines(f"{i},like\n" for i in range(rows))
        else:
            fh.writelines(f'{{"t": {i}, "type": "like"}}\n' for i in range(rows))
    with pytest.raises(EventLogError, match="more than 100000 events exceed the cap of 100000"):
        read_event_log(path, EventLogRules(vocabulary=("like",), max_events=100_000))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"t": true, "type": "like"}', "line 2, column 't': True is a boolean"),
        ('{"t": 1e308, "type": "like"}', "line 2, column 't': time 1e+308 s is past the latest"),
    ],
)
def test_json_times_that_are_not_seconds_are_refused(tmp_path: Path, line: str, message: str):
    path = _write(tmp_path, "odd.jsonl", '{"t": 1, "type": "like"}\n' + line + "\n")
    with pytest.raises(EventLogError, match=re.escape(message)):
        read_event_log(path, RULES)


def test_a_user_longer_than_its_column_is_refused(tmp_path: Path):
    path = _write(tmp_path, "users.csv", "t,type,user\n1,like,ok\n2,like," + "x" * 200 + "\n")
    with pytest.raises(EventLogError, match="line 3, column 'user': 200 characters"):
        read_event_log(path, RULES)
