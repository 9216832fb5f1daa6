"""Settings: defaults describe the embedded workspace; env vars point each backend elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from m3tr.app.settings import Settings


def test_embedded_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("M3TR_HOME", "M3TR_DATABASE_URL", "M3TR_BROKER_URL", "M3TR_QDRANT_URL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.home == Path("m3tr-data")
    assert s.sqlalchemy_url == f"sqlite:///{(tmp_path / 'm3tr-data' / 'm3tr.db').resolve()}"
    assert s.qdrant_url is None and s.qdrant_path == Path("m3tr-data/qdrant")
    assert s.broker_url is None
    assert s.device == "cpu" and s.encoder_profile == "lite"


def test_env_points_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M3TR_DATABASE_URL", "postgresql+psycopg://u@db:5432/m3tr")
    monkeypatch.setenv("M3TR_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("M3TR_QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("M3TR_EVENT_TYPES", "like, share")
    s = Settings()
    assert s.sqlalchemy_url == "postgresql+psycopg://u@db:5432/m3tr"
    assert s.broker_url == "redis://redis:6379/0"
    assert s.qdrant_url == "http://qdrant:6333"
    assert s.event_types == ("like", "share")


def test_bad_values_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M3TR_HORIZON_S", "10")
    monkeypatch.setenv("M3TR_OBS_WINDOW_S", "3600")
    with pytest.raises(ValidationError, match="must exceed"):
        Settings()


def test_production_refuses_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M3TR_ENVIRONMENT", "production")
    monkeypatch.setenv("M3TR_AUTH_USERNAME", "analyst")
    monkeypatch.setenv("M3TR_AUTH_PASSWORD", "changeme")
    with pytest.raises(ValidationError, match="real secret"):
        Settings()


def test_encoder_models_name_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M3TR_ENCODER_MODELS", '{"visual": "/models/vit", "text": "org/angle"}')
    s = Settings()
    assert s.encoder_overrides() == {"visual_model": "/models/vit", "text_model": "org/angle"}
    monkeypatch.setenv("M3TR_ENCODER_MODELS", '{"video": "/x"}')
    with pytest.raises(ValidationError, match="unknown role"):
        Settings()


def test_pipeline_context_applies_encoder_models(tmp_path: Path) -> None:
    from m3tr.core.events.log import EventLogRules
    from m3tr.core.pipeline.context import PipelineContext
    from m3tr.core.retrieval.factory import StoreConfig

    ctx = PipelineContext(
        session_factory=None,  # type: ignore[arg-type]
        media_dir=tmp_path,
        feature_dir=tmp_path,
        model_dir=tmp_path,
        store_config=StoreConfig(backend="numpy", path=tmp_path),
        event_rules=EventLogRules(vocabulary=("like",)),
        encoder_profile="paper",
        encoder_models={"visual_model": "/models/vit"},
    )
    assert ctx.profile().visual_model == "/models/vit"
    assert ctx.profile().audio_model == "MIT/ast-finetuned-audioset-10-10-0.4593"
