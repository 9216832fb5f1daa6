"""Dataset import on SQLite (and PostgreSQL in integration): counts, labels, idempotence."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from m3tr.app.migrate import upgrade
from m3tr.core.datasets import DatasetError, import_ced_weibo, import_microlens
from m3tr.core.db.models import Label, Video
from m3tr.core.db.repository import load_events, table_counts
from m3tr.core.db.session import make_engine, make_session_factory, transaction


def _factory(url: str):
    upgrade(url)
    return make_session_factory(make_engine(url))


def _check_ced(url: str, data_dir: Path) -> None:
    factory = _factory(url)
    with transaction(factory) as s:
        report = import_ced_weibo(s, data_dir / "ced-weibo")
    posts = pd.read_csv(data_dir / "ced-weibo" / "posts.csv", dtype={"post_id": str})
    with gzip.open(data_dir / "ced-weibo" / "events.csv.gz", "rt") as fh:
        n_events = sum(1 for _ in fh) - 1
    assert report.videos_added == len(posts) == 2032
    assert report.events_added == n_events == 771_121
    with factory() as s:
        counts = table_counts(s)
        assert counts["videos"] == 2032 and counts["events"] == n_events
        first = posts.iloc[0]
        v = s.scalars(select(Video).where(Video.external_id == first["post_id"])).one()
        assert v.source == "ced-weibo" and v.matured
        assert int(v.published_at.timestamp()) == int(first["published_at"])
        ev = load_events(s, [v.id])[v.id]
        assert len(ev[0]) == int(first["n_events"])
        assert (ev[0][1:] >= ev[0][:-1]).all()
        lab = {x.type: x.count for x in s.scalars(select(Label).where(Label.video_id == v.id))}
        assert lab["repost"] == int(first["final_reposts"])
    with transaction(factory) as s:
        again = import_ced_weibo(s, data_dir / "ced-weibo")
    assert again.videos_added == 0 and again.events_added == 0 and again.labels_added == 0
    with factory() as s:
        assert table_counts(s) == counts


def test_ced_weibo_sqlite(sqlite_url: str, data_dir: Path) -> None:
    _check_ced(sqlite_url, data_dir)


@pytest.mark.integration
def test_ced_weibo_postgres(pg_url: str, data_dir: Path) -> None:
    _check_ced(pg_url, data_dir)


def test_microlens(sqlite_url: str, data_dir: Path) -> None:
    factory = _factory(sqlite_url)
    with transaction(factory) as s:
        report = import_microlens(s, data_dir / "microlens")
    assert report.videos_added == 19_738 and report.labels_added == 19_738
    with factory() as s:
        v = s.scalars(select(Video).where(Video.external_id == "1002")).one()
        assert v.media_path and Path(v.media_path).name == "1002.mp4"
        lab = s.scalars(select(Label).where(Label.video_id == v.id)).one()
        assert (lab.type, lab.count) == ("comment", 61)
    with transaction(factory) as s:
        assert import_microlens(s, data_dir / "microlens").videos_added == 0


def test_wrong_folder_is_clear(sqlite_url: str, tmp_path: Path) -> None:
    factory = _factory(sqlite_url)
    with pytest.raises(DatasetError, match="expected posts.csv"), transaction(factory) as s:
        import_ced_weibo(s, tmp_path)
