"""A procedurally generated demo corpus: short videos whose engagement follows four archetypes.

Each video gets an event log drawn from a self-exciting (Hawkes) process in its cluster form:
*immigrant* events arrive from an archetype-specific, time-varying baseline, and every event
has Poisson(b * m_type) children after exponential delays (b: the archetype's branching ratio,
m_type: how contagious that event type is, normalised so the mean is b; b < 1 keeps it finite).

Archetypes (what a person sees in the cumulative curve):

- ``viral_explosion``: a strong early baseline and high branching: fast, big growth, then flat.
- ``slow_burn``: a steady baseline over the whole horizon, little branching: a straight line.
- ``flash_in_the_pan``: a short burst right after publication, quick decay: flat within hours.
- ``sleeper_hit``: a quiet start, then a late baseline surge around day three: an S-curve.

Content carries signal: each archetype has its own clip style (palette, motion, tone; see
``m3tr.core.synthetic.videos``) and title vocabulary, with a share of deliberately mismatched
videos so content alone does not give the answer away.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DAY = 86400.0
HOUR = 3600.0
EVENT_TYPES = ("like", "comment", "share")
TYPE_MIX = np.array([0.72, 0.18, 0.10])  # share of each type among new events
CONTAGION = np.array([0.85, 1.1, 2.2])  # relative children per event of each type
CONTAGION = CONTAGION / float(TYPE_MIX @ CONTAGION)  # mean 1: the branching ratio stays b


@dataclass(frozen=True)
class Archetype:
    """One popularity archetype.

    Attributes:
        name: identifier; label: words for people.
        style: index into ``m3tr.core.synthetic.videos.STYLES`` (its look and sound).
        n_immigrants: mean number of baseline events (scaled per video by a log-normal size).
        baseline: draws ``n`` immigrant times (seconds) on [0, horizon].
        branching: expected children per event (< 1).
        delay_s: mean delay of a child after its parent.
        words: title vocabulary.
    """

    name: str
    label: str
    style: int
    n_immigrants: float
    baseline: Callable[[np.random.Generator, int, float], np.ndarray]
    branching: float
    delay_s: float
    words: tuple[str, ...] = field(default=())


def _early(mean_s: float) -> Callable[[np.random.Generator, int, float], np.ndarray]:
    return lambda rng, n, horizon: rng.exponential(mean_s, size=n)


def _uniform(rng: np.random.Generator, n: int, horizon: float) -> np.ndarray:
    return rng.uniform(0.0, horizon, size=n)


def _sleeper(rng: np.random.Generator, n: int, horizon: float) -> np.ndarray:
    quiet = rng.uniform(0.0, DAY, size=max(1, n // 8))  # a trickle on day one
    surge = rng.normal(3.0 * DAY, 0.6 * DAY, size=n - quiet.size)  # the late surge
    return np.concatenate([quiet, np.abs(surge)])


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "viral_explosion",
        "viral explosion",
        1,
        45.0,
        _early(1.5 * HOUR),
        0.85,
        0.4 * HOUR,
        ("insane", "challenge", "you won't believe", "epic", "prank", "goes wrong", "crowd"),
    ),  # fmt: skip
    Archetype(
        "slow_burn",
        "slow burn",
        0,
        110.0,
        _uniform,
        0.2,
        3.0 * HOUR,
        ("tutorial", "how to", "explained", "guide", "step by step", "recipe", "calm"),
    ),  # fmt: skip
    Archetype(
        "flash_in_the_pan",
        "flash in the pan",
        3,
        90.0,
        _early(0.3 * HOUR),
        0.3,
        0.1 * HOUR,
        ("breaking", "right now", "live", "today", "just happened", "update", "news"),
    ),  # fmt: skip
    Archetype(
        "sleeper_hit",
        "sleeper hit",
        2,
        55.0,
        _sleeper,
        0.6,
        1.0 * HOUR,
        ("forgotten", "hidden gem", "underrated", "nobody noticed", "quiet", "rediscovered"),
    ),  # fmt: skip
)
ARCHETYPE_BY_NAME = {a.name: a for a in ARCHETYPES}
COMMON_WORDS = ("my", "cat", "city", "morning", "trip", "music", "dog", "kitchen", "street")


@dataclass(frozen=True)
class DemoVideo:
    """One corpus item: its clip spec, metadata and full event log on [0, horizon]."""

    name: str
    archetype: str
    title: str
    description: str
    t: np.ndarray  # (n,) float64 seconds since publication, sorted
    types: np.ndarray  # (n,) object event type
    style: int
    tone_hz: float
    phase: float
    seconds: float

    def final_counts(self) -> dict[str, int]:
        return {k: int(np.sum(self.types == k)) for k in EVENT_TYPES}


def simulate_cascade(
    rng: np.random.Generator,
    immigrants: np.ndarray,
    branching: float,
    delay_s: float,
    horizon_s: float,
    max_events: int = 5000,
) -> tuple[np.ndarray, np.ndarray]:
    """Hawkes cluster process from given immigrant times.

    immigrants: (n0,) seconds. Returns (t (n,) sorted float64, types (n,) object), all <= horizon.
    Generations are drawn vectorised; stops adding children past ``max_events``.
    """
    if not 0.0 <= branching < 1.0:
        raise ValueError(f"branching ratio must be in [0, 1), got {branching}")
    gen_t = immigrants[(immigrants >= 0) & (immigrants <= horizon_s)]  # (n0,)
    gen_k = rng.choice(len(EVENT_TYPES), size=gen_t.size, p=TYPE_MIX)  # (n0,)
    all_t, all_k = [gen_t], [gen_k]
    total = gen_t.size
    while gen_t.size and total < max_events:
        n_child = rng.poisson(branching * CONTAGION[gen_k])  # (g,)
        parents = np.repeat(gen_t, n_child)  # (c,)
        child_t = parents + rng.exponential(delay_s, size=parents.size)  # (c,)
        keep = child_t <= horizon_s
        gen_t = child_t[keep][: max_events - total]
        gen_k = rng.choice(len(EVENT_TYPES), size=gen_t.size, p=TYPE_MIX)
        all_t.append(gen_t)
        all_k.append(gen_k)
        total += gen_t.size
    t = np.concatenate(all_t)  # (n,)
    k = np.concatenate(all_k)  # (n,)
    order = np.argsort(t, kind="stable")
    return t[order].astype(np.float64), np.asarray(EVENT_TYPES, dtype=object)[k[order]]


def _title(rng: np.random.Generator, arch: Archetype, i: int) -> str:
    own = rng.choice(arch.words, size=2, replace=False)
    common = rng.choice(COMMON_WORDS)
    return f"{own[0].capitalize()} {common} {own[1]} #{i}"


def make_corpus(
    n_videos: int,
    horizon_s: float = 7 * DAY,
    seed: int = 0,
    mismatch: float = 0.2,
    max_events: int = 5000,
) -> list[DemoVideo]:
    """``n_videos`` videos, archetypes in equal shares, reproducible from ``seed``.

    mismatch: share of videos whose clip style and title come from another archetype.
    """
    if n_videos < 1:
        raise ValueError(f"n_videos must be >= 1, got {n_videos}")
    from m3tr.core.synthetic.videos import STYLES

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_videos):
        arch = ARCHETYPES[i % len(ARCHETYPES)]
        size = float(rng.lognormal(0.0, 0.45))
        n0 = max(1, int(rng.poisson(arch.n_immigrants * size)))
        t, types = simulate_cascade(
            rng, arch.baseline(rng, n0, horizon_s), arch.branching, arch.delay_s, horizon_s,
            max_events,
        )  # fmt: skip
        look = arch
        if rng.uniform() < mismatch:
            look = ARCHETYPES[int(rng.integers(len(ARCHETYPES)))]
        title = _title(rng, look, i)
        out.append(
            DemoVideo(
                name=f"demo_{i:04d}",
                archetype=arch.name,
                title=title,
                description=f"A short clip: {title.lower()}.",
                t=t,
                types=types,
                style=look.style,
                tone_hz=float(STYLES[look.style][2] * rng.uniform(0.92, 1.08)),
                phase=float(rng.uniform()),
                seconds=float(rng.uniform(1.0, 1.6)),
            )
        )
    return out


def write_clips(videos: list[DemoVideo], folder: Path, size: int = 48, fps: int = 10,
                progress: Callable[[int], None] | None = None) -> list[Path]:  # fmt: skip
    """Encode each video's clip as ``<folder>/<name>.mp4`` (skipping ones already there)."""
    from m3tr.core.synthetic.videos import ClipSpec, write_clip

    paths = []
    for i, v in enumerate(videos):
        path = folder / f"{v.name}.mp4"
        if not path.is_file():
            spec = ClipSpec(
                name=v.name, style=v.style, seconds=v.seconds, fps=fps, size=size,
                tone_hz=v.tone_hz, phase=v.phase,
            )  # fmt: skip
            write_clip(spec, path)
        paths.append(path)
        if progress is not None:
            progress(i + 1)
    return paths
