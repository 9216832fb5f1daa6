"""A pipeline context on a migrated SQLite database, a NumPy vector store and tiny clips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from m3tr.app.migrate import upgrade
from m3tr.core.content import ContentPipeline
from m3tr.core.db.session import make_engine, make_session_factory
from m3tr.core.events.log import EventLogRules
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.retrieval.factory import StoreConfig
from m3tr.core.synthetic.events import default_params, simulate_hawkes, write_event_csv
from m3tr.core.synthetic.videos import ClipSpec, write_clip

VOCAB = ("like", "comment", "share")
OBS_S = 1800.0
HORIZON_S = 7200.0


@pytest.fixture(scope="session")
def lite_pipeline() -> ContentPipeline | None:
    """Nothing to preload: the lite encoders are fitted per workspace (text n-grams on its
    database's texts, at the first embedding) and load in milliseconds."""
    return None


def make_context(tmp_path: Path, lite_pipeline: ContentPipeline | None) -> PipelineContext:
    """A context on a fresh, migrated SQLite database under ``tmp_path``."""
    url = f"sqlite:///{tmp_path / 'm3tr.db'}"
    upgrade(url)
    context = PipelineContext(
        session_factory=make_session_factory(make_engine(url)),
        media_dir=tmp_path / "media",
        feature_dir=tmp_path / "features",
        model_dir=tmp_path / "models",
        store_config=StoreConfig(backend="numpy", path=tmp_path / "vectors"),
        event_rules=EventLogRules(vocabulary=VOCAB),
        encoder_profile="lite",
        obs_window_s=OBS_S,
        horizon_s=HORIZON_S,
        top_s=3,
    )
    return context


@pytest.fixture
def ctx(tmp_path: Path, lite_pipeline: ContentPipeline) -> Iterator[PipelineContext]:
    context = make_context(tmp_path, lite_pipeline)
    yield context
    context.close()


def make_clip(folder: Path, name: str, style: int = 0, tone_hz: float = 440.0) -> Path:
    return write_clip(ClipSpec(name=name, style=style, tone_hz=tone_hz), folder / f"{name}.mp4")


def make_log(folder: Path, name: str, seed: int, horizon_s: float = HORIZON_S * 1.2) -> Path:
    t, types = simulate_hawkes(default_params(0.2, VOCAB), horizon_s, np.random.default_rng(seed))
    return write_event_csv(folder / f"{name}.csv", t, types)
