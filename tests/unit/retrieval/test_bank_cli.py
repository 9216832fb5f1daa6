"""``m3tr bank build | query | stats | live | delete`` on a small workspace (SQLite + NumPy store)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from m3tr.app.cli.bank import app
from m3tr.app.cli.common import session_factory
from m3tr.core.content.features import ContentFeatures
from m3tr.core.content.store import FeatureStore
from m3tr.core.db.models import Event, Label, Video
from m3tr.core.db.session import transaction

runner = CliRunner()


def _text(out: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", out))


def _features(r: np.ndarray) -> ContentFeatures:
    return ContentFeatures(
        E_v=np.zeros((2, 3), np.float32),
        E_a=np.zeros((2, 3), np.float32),
        E_t=np.zeros((1, 8), np.float32),
        R=(r / np.linalg.norm(r)).astype(np.float32),
        frame_times=np.zeros(2),
        captions="",
        text="t",
        has_video=False,
        has_audio=False,
        profile="lite",
        profile_version="lite-v1",
    )


@pytest.fixture
def small_workspace(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """12 videos: R in the feature store, early events (all but the last), final labels."""
    monkeypatch.setenv("M3TR_VECTOR_BACKEND", "numpy")
    # vectors written below under lite-v1: the lite profile with MiniLM text (lite proper
    # carries its text fit in its version)
    monkeypatch.setenv("M3TR_ENCODER_PROFILE", "lite-minilm")
    from m3tr.app.settings import get_settings

    get_settings.cache_clear()
    rng = np.random.default_rng(0)
    with transaction(session_factory()) as s:
        for i in range(12):
            v = Video(
                source="t",
                external_id=f"v{i}",
                title=f"video {i}",
                matured=i != 3,  # video 3 is not matured: never a service neighbour
                split="train",
                published_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            )
            s.add(v)
            s.flush()
            if i != 11:  # video 11 has no events: cold start, content-only
                times = np.sort(rng.uniform(0, 3000, 20 + 5 * i))
                s.add_all(Event(video_id=v.id, t=float(t), type="like") for t in times)
            s.add(Label(video_id=v.id, type="like", horizon_s=None, count=100 + i))
    with session_factory()() as s:
        ids = {v.external_id: v.id for v in s.query(Video)}
    store = FeatureStore(workspace / "features")
    for i in range(12):
        store.put(str(ids[f"v{i}"]), "lite-v1", _features(rng.standard_normal(8)))
    return ids


def test_build_query_stats_live_delete(small_workspace: dict[str, int]) -> None:
    ids = small_workspace
    res = runner.invoke(app, ["build", "--live"])
    assert res.exit_code == 0, res.output
    out = _text(res.output)
    assert "12 videos, 11 with a trajectory vector; live" in out
    assert "eventbins" in out

    q = runner.invoke(app, ["query", "v0", "--json", "--top", "20"])
    assert q.exit_code == 0, q.output
    body = json.loads(q.stdout)
    assert body["mode"] == "temporal_aware"
    got = [n["video_id"] for n in body["neighbours"]]
    assert ids["v0"] not in got and ids["v3"] not in got  # self and unmatured excluded
    assert len(got) == 10
    assert body["neighbours"][0]["payload"]["labels"]["like"] >= 100

    cold = runner.invoke(app, ["query", str(ids["v11"]), "--json"])
    assert json.loads(cold.stdout)["mode"] == "content_only"

    second = runner.invoke(app, ["build"])
    assert second.exit_code == 0 and "not live" in _text(second.output)
    st = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert [b["is_live"] for b in st] == [True, False]
    assert all(b["points_in_store"] == 12 for b in st)

    refused = runner.invoke(app, ["delete", str(st[0]["id"])])
    assert refused.exit_code == 1 and "is live" in _text(refused.output)
    assert runner.invoke(app, ["live", str(st[1]["id"])]).exit_code == 0
    assert runner.invoke(app, ["delete", str(st[0]["id"])]).exit_code == 0
    st2 = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert [(b["id"], b["is_live"]) for b in st2] == [(st[1]["id"], True)]


def test_query_without_bank_and_unknown_video_fail_clearly(small_workspace: dict[str, int]) -> None:
    res = runner.invoke(app, ["query", "v0"])
    assert res.exit_code == 1 and "no live bank" in _text(res.output)
    runner.invoke(app, ["build", "--live"])
    res = runner.invoke(app, ["query", "nope"])
    assert res.exit_code == 1 and "nope" in _text(res.output)


def test_build_with_synthetic_videos_at_scale(small_workspace: dict[str, int]) -> None:
    """``--synthetic N``: N rows in SQL and N clustered videos in the bank, in the real videos'
    dimensions; a synthetic video's neighbours are the other videos of its content topic."""
    from sqlalchemy import func, select

    from m3tr.core.retrieval.synthetic_videos import SOURCE, remove_synthetic_videos

    res = runner.invoke(app, ["build", "--live", "--synthetic", "3000", "--synthetic-seed", "4"])
    assert res.exit_code == 0, res.output
    out = _text(res.output)
    assert "3012 videos, 3011 with a trajectory vector; live" in out
    assert "3000 synthetic videos" in out
    factory = session_factory()
    with factory() as s:
        fakes = s.execute(select(Video.id, Video.title).where(Video.source == SOURCE)).all()
    assert len(fakes) == 3000
    topic = {vid: title.split("topic ")[1].split(",")[0] for vid, title in fakes}
    target = next(vid for vid in topic if sum(t == topic[vid] for t in topic.values()) >= 3)
    same = {v for v, t in topic.items() if t == topic[target] and v != target}
    q = runner.invoke(app, ["query", str(target), "--json", "--weight", "1"])
    assert q.exit_code == 0, q.output
    got = [n["video_id"] for n in json.loads(q.stdout)["neighbours"]]
    assert same <= set(got)  # by content, its topic's videos come first
    assert got[: len(same)] and set(got[: len(same)]) == same
    # real videos are still in the bank and still find neighbours
    real = runner.invoke(app, ["query", "v0", "--json"])
    assert real.exit_code == 0 and len(json.loads(real.stdout)["neighbours"]) == 10

    remove_synthetic_videos(factory, np.array(list(topic)))
    with factory() as s:
        assert s.scalar(select(func.count()).where(Video.source == SOURCE)) == 0
