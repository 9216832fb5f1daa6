from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from m3tr.core.content.errors import DecodeError
from m3tr.core.db.models import Video
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError
from m3tr.core.pipeline.media import store_media
from tests.unit.pipeline.conftest import make_clip


def _video(ctx: PipelineContext) -> int:
    with transaction(ctx.session_factory) as s:
        v = Video(source="t", external_id="clip")
        s.add(v)
        s.flush()
        return v.id


def test_store_media_is_content_addressed_and_idempotent(
    ctx: PipelineContext, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "in", "clip")
    vid = _video(ctx)
    probe = store_media(ctx, vid, clip)
    sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    target = ctx.media_dir / f"{sha}.mp4"
    assert target.read_bytes() == clip.read_bytes()
    assert probe.has_video and probe.has_audio and probe.width == 64
    store_media(ctx, vid, clip)  # again: same file, same row, no leftovers
    assert sorted(p.name for p in ctx.media_dir.iterdir()) == [target.name]
    with ctx.session_factory() as s:
        v = s.get(Video, vid)
        assert v.media_sha256 == sha and v.media_path == str(target)
        assert v.duration_s == pytest.approx(probe.duration_s)
        assert v.extra["probe"]["upload_name"] == "clip.mp4"


def test_corrupt_upload_fails_and_leaves_nothing(ctx: PipelineContext, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    vid = _video(ctx)
    with pytest.raises(DecodeError):
        store_media(ctx, vid, bad)
    assert list(ctx.media_dir.iterdir()) == []
    with ctx.session_factory() as s:
        assert s.get(Video, vid).media_path is None
    with pytest.raises(BadInputError, match="not found"):
        store_media(ctx, vid, tmp_path / "missing.mp4")
