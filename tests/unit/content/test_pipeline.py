"""The lite profile end to end on real clips: shapes, flags, R, batching, bad inputs (its text
encoder fitted on a small bank of titles first, as every lite user does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from m3tr.core.content import lite
from m3tr.core.content.config import LITE_PROFILE
from m3tr.core.content.errors import DecodeError
from m3tr.core.content.features import ContentFeatures, VideoInput
from m3tr.core.content.fitting import fit_text_profile
from m3tr.core.content.pipeline import ContentPipeline, embed_videos, load_profile
from m3tr.core.content.store import FeatureStore
from m3tr.core.content.thumbnail import extract_thumbnail

BANK_TITLES = [
    "A cat playing the piano at home",
    "My kitten plays piano every morning",
    "Stock markets fell sharply on Monday",
    "Markets rally as stocks recover",
    "Homemade spicy duck for summer",
    "北京今天的天气很好",
    "北京下雨了，天气很冷",
    "Title of a video. A description",
]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> ContentPipeline:
    store = FeatureStore(tmp_path_factory.mktemp("fit"))
    return load_profile(fit_text_profile(LITE_PROFILE, BANK_TITLES, store), "cpu")


def _small_clips(shared_clips: list[Path]) -> list[Path]:
    return sorted(shared_clips, key=lambda p: p.stat().st_size)[:2]


def test_lite_features_of_real_clips(pipe: ContentPipeline, shared_clips: list[Path]) -> None:
    clips = _small_clips(shared_clips)
    items = [VideoInput(p.stem, p, f"Title of {p.stem}", "A description") for p in clips]
    items.append(VideoInput("post", None, "A Weibo post with no media", ""))
    feats = embed_videos(items, pipe)
    k = LITE_PROFILE.decode.num_frames
    for f in feats[:2]:
        assert isinstance(f, ContentFeatures)
        assert f.E_v.shape == (k, lite.D_VISUAL) and f.E_a.shape == (k, lite.D_AUDIO)
        d = LITE_PROFILE.ngram.dim
        assert f.E_t.shape[1] == d and f.R.shape == (d,) and f.R.dtype == np.float32
        assert abs(np.linalg.norm(f.R) - 1) < 1e-5
        assert f.has_video and f.has_audio and f.profile == "lite"
        assert f.profile_version == pipe.profile.profile_version
        assert f.profile_version.startswith("lite-v2.")
        assert "audio" in f.captions and f.captions in f.text
        assert np.all(np.diff(f.frame_times) > 0)
    post = feats[2]
    assert not post.has_video and not post.has_audio
    assert not post.video_mask.any() and not post.E_v.any() and not post.E_a.any()
    assert post.text == "A Weibo post with no media"
    # different videos and texts give different R; the same input gives the same R
    assert float(feats[0].R @ feats[1].R) < 0.999
    again = embed_videos(items[:1], pipe)[0]
    np.testing.assert_allclose(again.R, feats[0].R, atol=1e-6)
    np.testing.assert_allclose(again.E_v, feats[0].E_v, atol=1e-6)


def test_text_drives_R(pipe: ContentPipeline) -> None:
    cat, kitten, stocks = embed_videos(
        [
            VideoInput("a", None, "A cat playing the piano"),
            VideoInput("b", None, "A kitten plays piano"),
            VideoInput("c", None, "Stock markets fell sharply"),
        ],
        pipe,
    )
    assert float(cat.R @ kitten.R) > float(cat.R @ stocks.R) + 0.3


def test_bad_input_in_a_batch(pipe: ContentPipeline, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    items = [VideoInput("bad", bad, "x"), VideoInput("ok", None, "fine")]
    with pytest.raises(DecodeError, match="bad.mp4"):
        embed_videos(items, pipe)
    out = embed_videos(items, pipe, errors="return")
    assert isinstance(out[0], DecodeError) and isinstance(out[1], ContentFeatures)
    store = FeatureStore(tmp_path / "store")
    for item, res in zip(items, out, strict=True):
        if isinstance(res, ContentFeatures):
            store.put(item.key, pipe.profile.profile_version, res)
    assert store.keys(pipe.profile.profile_version) == ["ok"]


def test_thumbnail(shared_clips: list[Path], tmp_path: Path) -> None:
    jpeg = extract_thumbnail(_small_clips(shared_clips)[0], max_side=128)
    assert jpeg[:3] == b"\xff\xd8\xff"
    empty = tmp_path / "e.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError):
        extract_thumbnail(empty)
