"""``m3tr content probe`` and ``m3tr content embed`` (resumable, bad files reported, nothing
half-written) on a fresh SQLite workspace."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from m3tr.app.cli.common import session_factory
from m3tr.app.cli.content import app
from m3tr.core.content.store import FeatureStore
from m3tr.core.db.models import Video
from m3tr.core.db.session import transaction
from tests.unit.content.media_factory import write_video

runner = CliRunner()


def _text(output: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(output.split())


def test_probe_json(tmp_path: Path, workspace: Path) -> None:
    path = write_video(tmp_path / "v.mp4", n_frames=20, fps=10, audio_s=2.0)
    res = runner.invoke(app, ["probe", str(path), "--json", "-k", "4"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["frames_sampled"] == 4 and out["has_audio"] and out["has_video"]
    assert out["frame_times"] == [0.25, 0.75, 1.25, 1.75]
    assert out["sample_rate"] == 16_000 and abs(out["audio_seconds"] - 2.0) < 0.1


def test_probe_bad_file_exits_non_zero(tmp_path: Path, workspace: Path) -> None:
    path = tmp_path / "x.mp4"
    path.write_text("hello")
    res = runner.invoke(app, ["probe", str(path), "--json"])
    assert res.exit_code == 1
    assert "not a readable media file" in _text(res.output)


def test_embed_is_resumable_and_reports_failures(tmp_path: Path, workspace: Path) -> None:
    good = write_video(tmp_path / "good.mp4", n_frames=20, fps=10, audio_s=2.0)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    with transaction(session_factory()) as s:
        s.add_all(
            [
                Video(source="t", external_id="good", title="Good", media_path=str(good)),
                Video(source="t", external_id="bad", title="Bad", media_path=str(bad)),
                Video(source="t", external_id="post", title="Text only", description="post"),
            ]
        )
    with session_factory()() as s:
        ids = {v.external_id: str(v.id) for v in s.query(Video)}
    res = runner.invoke(app, ["embed", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "2 embedded (1 text only), 0 already stored, 1 failed" in _text(res.output)
    assert "empty file (0 bytes)" in _text(res.output)
    assert "text encoder fitted on the database's texts: lite-v2." in _text(res.output)
    store = FeatureStore(workspace / "features")
    pv = store.current_version("lite-v2")
    assert pv is not None and pv.startswith("lite-v2.")
    assert store.keys(pv) == sorted([ids["good"], ids["post"]])
    assert not store.has(ids["bad"], pv)
    assert store.get(ids["good"], pv).has_audio
    again = runner.invoke(app, ["embed", "--workers", "1"])
    assert "0 embedded (0 text only), 2 already stored, 1 failed" in _text(again.output)
    shown = runner.invoke(app, ["show", ids["good"], "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["E_v"] == [10, 46]
    missing = runner.invoke(app, ["show", ids["bad"]])
    assert missing.exit_code == 1 and "no content features" in _text(missing.output)


def test_fit_text_makes_a_new_version(workspace: Path) -> None:
    res = runner.invoke(app, ["fit-text"])
    assert res.exit_code == 1 and "has a title or description" in _text(res.output)
    with transaction(session_factory()) as s:
        s.add_all(
            [
                Video(source="t", external_id="a", title="北京今天的天气很好"),
                Video(source="t", external_id="b", title="A cat plays the piano"),
            ]
        )
    res = runner.invoke(app, ["fit-text"])
    assert res.exit_code == 0, res.output
    store = FeatureStore(workspace / "features")
    first = store.current_version("lite-v2")
    assert first is not None and store.text_fit_path(first).is_file()
    assert runner.invoke(app, ["embed"]).exit_code == 0
    assert len(store.keys(first)) == 2
    with transaction(session_factory()) as s:
        s.add(Video(source="t", external_id="c", title="上海下雨了"))
    assert runner.invoke(app, ["fit-text"]).exit_code == 0
    second = store.current_version("lite-v2")
    assert second not in (None, first) and store.keys(second) == []  # re-embed to move over
    again = runner.invoke(app, ["embed"])
    assert "3 embedded" in _text(again.output) and len(store.keys(second)) == 3
    assert len(store.keys(first)) == 2  # the old fit's vectors stay apart
