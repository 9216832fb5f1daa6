"""Feature store: round trip, atomic writes, profile separation, refusal of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from m3tr.core.content.features import ContentFeatures
from m3tr.core.content.store import FeatureStore


def _features(profile_version: str = "lite-v1", has_audio: bool = True) -> ContentFeatures:
    rng = np.random.default_rng(0)
    r = rng.normal(size=8).astype(np.float32)
    return ContentFeatures(
        E_v=rng.normal(size=(4, 5)).astype(np.float32),
        E_a=rng.normal(size=(4, 3)).astype(np.float32)
        if has_audio
        else np.zeros((4, 3), np.float32),
        E_t=rng.normal(size=(7, 8)).astype(np.float32),
        R=r / np.linalg.norm(r),
        frame_times=np.array([0.5, 1.5, 2.5, 3.5]),
        captions="bright, saturated; ünïcode ✓",
        text="A title. A description",
        has_video=True,
        has_audio=has_audio,
        profile="lite",
        profile_version=profile_version,
    )


def test_round_trip(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    feats = _features(has_audio=False)
    assert not store.has("42", "lite-v1")
    path = store.put("42", "lite-v1", feats)
    assert path.is_file() and store.has("42", "lite-v1")
    back = store.get("42", "lite-v1")
    for name in ("E_v", "E_a", "E_t", "R", "frame_times"):
        np.testing.assert_array_equal(getattr(back, name), getattr(feats, name))
    assert back.captions == feats.captions and back.text == feats.text
    assert back.has_video is True and back.has_audio is False
    assert store.keys("lite-v1") == ["42"] and store.keys("paper-v1") == []
    assert not list(path.parent.glob("*.tmp"))
    assert path.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle


def test_profiles_never_mix(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    with pytest.raises(ValueError, match="never mix"):
        store.put("1", "paper-v1", _features("lite-v1"))
    store.put("1", "lite-v1", _features("lite-v1"))
    with pytest.raises(KeyError, match="paper-v1"):
        store.get("1", "paper-v1")


def test_invalid_features_write_nothing(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    bad = _features()
    bad.R = bad.R * 3  # not normalised
    with pytest.raises(ValueError, match="L2-normalised"):
        store.put("7", "lite-v1", bad)
    nan = _features()
    nan.E_v[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        store.put("7", "lite-v1", nan)
    assert not store.has("7", "lite-v1")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("key", ["../x", "a/b", "", ".hidden", "x" * 200])
def test_bad_keys_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        FeatureStore(tmp_path).put(key, "lite-v1", _features())


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    path = store.put("9", "lite-v1", _features())
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a valid feature file"):
        store.get("9", "lite-v1")
