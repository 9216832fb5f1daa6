from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from m3tr.core.content import decode_clip, get_profile, probe_media
from m3tr.core.synthetic.videos import (
    ClipSpec,
    random_specs,
    render_frames,
    write_clip,
    write_corpus,
)


def test_clip_decodes_with_its_size_duration_and_tone(tmp_path: Path) -> None:
    spec = ClipSpec(name="c", style=1, seconds=1.5, fps=12, size=64, tone_hz=440.0)
    path = write_clip(spec, tmp_path / "c.mp4")
    probe = probe_media(path)
    assert probe.has_video and probe.has_audio and (probe.width, probe.height) == (64, 64)
    assert probe.duration_s == pytest.approx(1.5, abs=0.3)
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.fft.rfftfreq(len(audio), 1 / 16000)[np.argmax(spectrum)]
    assert peak_hz == pytest.approx(440.0, rel=0.03)
    clip = decode_clip(path, get_profile("lite").decode)
    assert clip.frames is not None and clip.frames.shape[1:] == (64, 64, 3)


def test_frames_show_a_moving_square_on_the_style_background() -> None:
    frames = render_frames(ClipSpec(name="m", style=0, seconds=1.0, fps=10))
    assert frames.shape == (10, 64, 64, 3) and frames.dtype == np.uint8
    assert tuple(frames[0, 0, 0]) == (20, 30, 120)  # background corner
    assert not np.array_equal(frames[0], frames[5])  # it moves


def test_corpus_is_reproducible_and_written_atomically(tmp_path: Path) -> None:
    assert random_specs(5, seed=3) == random_specs(5, seed=3)
    assert random_specs(5, seed=3) != random_specs(5, seed=4)
    paths = write_corpus(random_specs(3, seed=0), tmp_path)
    assert [p.name for p in paths] == ["synth_00000.mp4", "synth_00001.mp4", "synth_00002.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]  # no temp files


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="style"):
        ClipSpec(name="x", style=99)
    with pytest.raises(ValueError, match="even"):
        ClipSpec(name="x", size=33)
