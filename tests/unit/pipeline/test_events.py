from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from m3tr.core.db.models import Label, Video
from m3tr.core.db.repository import load_events
from m3tr.core.db.session import transaction
from m3tr.core.events.log import EventLogError
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.events import store_events


def _video(ctx: PipelineContext) -> int:
    with transaction(ctx.session_factory) as s:
        v = Video(source="t", external_id="v")
        s.add(v)
        s.flush()
        return v.id


def test_valid_log_replaces_events_and_matures_past_horizon(
    ctx: PipelineContext, tmp_path: Path
) -> None:
    vid = _video(ctx)
    log = tmp_path / "a.csv"
    log.write_text("t,type\n5,like\n10,comment\n7000,like\n9000,like\n")
    store_events(ctx, vid, log)
    store_events(ctx, vid, log)  # idempotent: still one copy
    with ctx.session_factory() as s:
        t, types = load_events(s, [vid])[vid]
        assert t.tolist() == [5.0, 10.0, 7000.0, 9000.0]
        video = s.get(Video, vid)
        assert video.matured is True  # the log runs past the 7200 s horizon
        labels = {(lb.type, lb.horizon_s): lb.count for lb in s.scalars(select(Label))}
    assert labels == {
        ("like", 7200.0): 2,
        ("like", None): 3,
        ("comment", 7200.0): 1,
        ("comment", None): 1,
    }


def test_invalid_log_changes_nothing(ctx: PipelineContext, tmp_path: Path) -> None:
    vid = _video(ctx)
    good = tmp_path / "good.csv"
    good.write_text("t,type\n1,like\n2,share\n")
    store_events(ctx, vid, good)
    bad = tmp_path / "bad.csv"
    bad.write_text("t,type\n1,like\n2,dance\n")
    with pytest.raises(EventLogError, match="line 3.*dance"):
        store_events(ctx, vid, bad)
    with ctx.session_factory() as s:
        t, types = load_events(s, [vid])[vid]
        assert types.tolist() == ["like", "share"]
        assert s.get(Video, vid).matured is False
