"""The demo corpus: archetypes differ the way their names say; content follows archetype."""

from __future__ import annotations

import numpy as np
import pytest

from m3tr.core.demo_corpus import (
    ARCHETYPE_BY_NAME,
    DAY,
    EVENT_TYPES,
    HOUR,
    make_corpus,
    simulate_cascade,
    write_clips,
)

H = 7 * DAY


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(160, horizon_s=H, seed=3)


def _by(corpus, name):
    return [v for v in corpus if v.archetype == name]


def test_reproducible_and_balanced(corpus):
    again = make_corpus(160, horizon_s=H, seed=3)
    assert [v.title for v in again] == [v.title for v in corpus]
    assert all(np.array_equal(a.t, b.t) for a, b in zip(again, corpus, strict=True))
    assert {len(_by(corpus, a)) for a in ARCHETYPE_BY_NAME} == {40}


def test_logs_are_valid(corpus):
    for v in corpus:
        assert np.all(np.diff(v.t) >= 0) and v.t.min() >= 0 and v.t.max() <= H
        assert set(v.types) <= set(EVENT_TYPES)
        assert sum(v.final_counts().values()) == len(v.t)


def test_archetype_shapes(corpus):
    def share_before(name, t_s):
        return np.mean([np.mean(v.t <= t_s) for v in _by(corpus, name)])

    def median_size(name):
        return np.median([len(v.t) for v in _by(corpus, name)])

    # flash in the pan: nearly everything in the first hours
    assert share_before("flash_in_the_pan", 3 * HOUR) > 0.9
    # sleeper hit: quiet on day one, most events after day two
    assert share_before("sleeper_hit", DAY) < 0.15 and share_before("sleeper_hit", 2 * DAY) < 0.3
    # slow burn: roughly linear, about half by mid-horizon
    assert 0.35 < share_before("slow_burn", H / 2) < 0.65
    # viral explosion: the biggest, and front-loaded compared with the slow burn
    assert median_size("viral_explosion") > 1.5 * median_size("slow_burn")
    assert share_before("viral_explosion", DAY) > 0.9


def test_content_follows_archetype_mostly(corpus):
    for name, arch in ARCHETYPE_BY_NAME.items():
        styles = [v.style for v in _by(corpus, name)]
        assert 0.6 < np.mean(np.asarray(styles) == arch.style) < 1.0


def test_cascade_branching_multiplies_events():
    rng = np.random.default_rng(0)
    imm = rng.uniform(0, 1000.0, size=2000)
    t, _ = simulate_cascade(rng, imm, branching=0.5, delay_s=1.0, horizon_s=1e9)
    assert 3500 < len(t) < 4500  # 2000 / (1 - 0.5)
    with pytest.raises(ValueError, match="branching"):
        simulate_cascade(rng, imm, branching=1.0, delay_s=1.0, horizon_s=10.0)


def test_write_clips_makes_decodable_videos(tmp_path):
    from m3tr.core.content import probe_media

    videos = make_corpus(2, seed=1)
    paths = write_clips(videos, tmp_path)
    probe = probe_media(paths[0])
    assert probe.has_video and probe.has_audio and 0.9 < probe.duration_s < 1.8
