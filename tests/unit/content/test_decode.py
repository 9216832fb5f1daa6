"""Decoding key frames and aligned audio: real clips, synthetic clips of known content, and
bad inputs (each a clear DecodeError or a defined result)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from m3tr.core.content.config import DecodeConfig
from m3tr.core.content.decode import decode_clip, probe_media
from m3tr.core.content.errors import DecodeError
from tests.unit.content.media_factory import write_audio_only, write_video

CFG = DecodeConfig(num_frames=6, max_side=160, fast_decode=True)


def test_real_clips_frames_audio_and_alignment(shared_clips: list[Path]) -> None:
    for path in shared_clips:
        probe = probe_media(path)
        clip = decode_clip(path, CFG)
        k = CFG.num_frames
        assert clip.has_video and clip.has_audio, path
        assert clip.frames is not None and clip.frames.shape[0] == k
        assert clip.frames.dtype == np.uint8 and clip.frames.shape[-1] == 3
        assert max(clip.frames.shape[1:3]) <= CFG.max_side
        # aspect ratio kept (16:9 or 4:3 sources)
        h, w = clip.frames.shape[1:3]
        assert abs(w / h - probe.width / probe.height) < 0.05, path
        # frames are sampled by time: each returned frame is the one shown at its sample time
        assert np.all(np.diff(clip.frame_pts) > 0)
        frame_dt = 1.0 / probe.fps
        assert np.all(clip.frame_pts <= clip.frame_times + 1e-6)
        assert np.all(clip.frame_times - clip.frame_pts < 2 * frame_dt + 1e-6), path
        # audio: 16 kHz mono, the whole soundtrack, K segments centred on the frame times
        assert clip.sample_rate == 16_000
        assert abs(clip.audio_seconds - clip.duration_s) < 0.25, path
        seg_len = round(clip.duration_s / k * 16_000)
        assert clip.audio.shape == (k, seg_len) and clip.audio.dtype == np.float32
        centres = clip.segment_bounds.mean(1)
        np.testing.assert_allclose(centres, clip.frame_times, atol=1e-9)
        assert np.abs(clip.audio).max() > 0.01 and np.abs(clip.audio).max() <= 1.5


def test_variable_frame_rate_hevc_is_sampled_by_timestamp(shared_clips: list[Path]) -> None:
    hevc = sorted(
        (p for p in shared_clips if probe_media(p).video_codec == "hevc"),
        key=lambda p: probe_media(p).duration_s,
    )
    if not hevc:
        pytest.skip("no HEVC clip in shared data")
    clip = decode_clip(hevc[0], DecodeConfig(num_frames=10, max_side=96, fast_decode=True))
    expected = (np.arange(10) + 0.5) * clip.duration_s / 10
    np.testing.assert_allclose(clip.frame_times, expected, atol=0.1)
    assert np.all(np.abs(clip.frame_pts - clip.frame_times) < 0.1)


def test_synthetic_frames_and_audio_are_aligned(tmp_path: Path) -> None:
    # frame i has brightness 255*i/29 at t = i/10 s; the audio amplitude rises linearly in time
    path = write_video(tmp_path / "ramp.mp4", n_frames=30, fps=10, audio_s=3.0)
    clip = decode_clip(path, DecodeConfig(num_frames=5, max_side=64))
    np.testing.assert_allclose(clip.frame_times, [0.3, 0.9, 1.5, 2.1, 2.7], atol=1e-6)
    np.testing.assert_allclose(clip.frame_pts, clip.frame_times, atol=1e-6)
    brightness = clip.frames.reshape(5, -1).mean(1)
    np.testing.assert_allclose(brightness, 255 * np.array([3, 9, 15, 21, 27]) / 29, atol=4)
    rms = np.sqrt((clip.audio**2).mean(1))
    expected = 0.8 * clip.frame_times / 3.0 / math.sqrt(2)
    np.testing.assert_allclose(rms[1:], expected[1:], rtol=0.06)
    assert clip.audio.shape == (5, 9600)


def test_video_without_audio_gives_silent_flag(tmp_path: Path) -> None:
    clip = decode_clip(write_video(tmp_path / "mute.mp4"), CFG)
    assert clip.has_video and not clip.has_audio
    assert clip.audio_seconds == 0.0 and not clip.audio.any()
    assert clip.audio.shape[0] == CFG.num_frames


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    w, h = 64, 32

    def frame(_i: int) -> np.ndarray:
        img = np.zeros((h, w, 3), dtype=np.uint8)
        img[: h // 2, : w // 2] = 255  # white top-left quadrant
        return img

    path = write_video(tmp_path / "rot.mp4", n_frames=3, size=(w, h), rotation=90, frame_fn=frame)
    assert probe_media(path).rotation == 90
    assert (probe_media(path).width, probe_media(path).height) == (h, w)
    clip = decode_clip(path, DecodeConfig(num_frames=1, max_side=64))
    img = clip.frames[0].mean(-1)
    assert img.shape == (w, h)  # portrait after a quarter turn
    expected = np.rot90(frame(0).mean(-1), k=1)  # 90 degrees counter-clockwise
    assert np.abs(img - expected).mean() < 20


def test_large_frames_are_resized(tmp_path: Path) -> None:
    path = write_video(tmp_path / "uhd.mp4", n_frames=2, size=(3840, 2160))
    clip = decode_clip(path, DecodeConfig(num_frames=2, max_side=224))
    assert clip.source_size == (3840, 2160)
    assert clip.frames.shape == (2, 126, 224, 3)


def test_one_frame_video_repeats_its_frame(tmp_path: Path) -> None:
    path = write_video(tmp_path / "one.mp4", n_frames=1)
    clip = decode_clip(path, DecodeConfig(num_frames=4, max_side=64))
    assert clip.frames.shape[0] == 4
    assert all(np.array_equal(clip.frames[0], f) for f in clip.frames)
    assert np.all(clip.frame_pts == 0.0)


def test_still_image_over_a_soundtrack(tmp_path: Path) -> None:
    path = write_video(tmp_path / "still.mp4", n_frames=1, fps=10, audio_s=3.0)
    clip = decode_clip(path, DecodeConfig(num_frames=3, max_side=64))
    assert clip.has_video and clip.has_audio
    assert all(np.array_equal(clip.frames[0], f) for f in clip.frames)
    assert abs(clip.duration_s - 3.0) < 0.1  # the soundtrack's length, not one frame's
    np.testing.assert_allclose(clip.frame_times, [0.5, 1.5, 2.5], atol=0.05)
    assert abs(clip.audio_seconds - 3.0) < 0.1 and clip.audio.shape == (3, 16_000)


def test_audio_only_file_is_a_defined_result(tmp_path: Path) -> None:
    clip = decode_clip(write_audio_only(tmp_path / "sound.m4a", seconds=2.0), CFG)
    assert not clip.has_video and clip.frames is None and clip.has_audio
    assert clip.audio.shape == (CFG.num_frames, round(2.0 / CFG.num_frames * 16_000))
    assert abs(clip.audio_seconds - 2.0) < 0.1


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty file"):
        decode_clip(path, CFG)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="no such file"):
        decode_clip(tmp_path / "nope.mp4", CFG)


def test_text_file_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(DecodeError, match="not a readable media file"):
        decode_clip(path, CFG)
    with pytest.raises(DecodeError, match="not a readable media file"):
        probe_media(path)


def test_truncated_mp4(tmp_path: Path, shared_clips: list[Path]) -> None:
    data = shared_clips[0].read_bytes()
    for cut, name in ((len(data) // 2, "half.mp4"), (2000, "head.mp4")):
        path = tmp_path / name
        path.write_bytes(data[:cut])
        with pytest.raises(DecodeError, match="truncated|not a readable"):
            decode_clip(path, CFG)


def test_too_long_is_refused(tmp_path: Path) -> None:
    path = write_video(tmp_path / "long.mp4", n_frames=30, fps=10)
    with pytest.raises(DecodeError, match="exceeds the limit"):
        decode_clip(path, DecodeConfig(max_duration_s=1.0))
