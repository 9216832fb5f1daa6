"""Shared fixtures: the shared evaluation data folder (skip cleanly when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise RuntimeError("repository root not found")


DATA_DIR = _repo_root().parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_clips() -> list[Path]:
    """The real clips: MicroLens HEVC 1280x720 and the media/ H.264 clips."""
    clips = sorted((DATA_DIR / "microlens" / "videos").glob("*.mp4")) + sorted(
        (DATA_DIR / "media").glob("*.mp4")
    )
    if not clips:
        pytest.skip(f"shared data not found under {DATA_DIR}")
    return clips
