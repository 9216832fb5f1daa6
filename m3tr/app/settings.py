"""The one place settings are read: a pydantic-settings class, env prefix ``M3TR_``.

Defaults describe the embedded workspace (SQLite, Qdrant Edge in-process, a filesystem Celery
broker, CPU, the offline ``lite`` encoder profile) under ``M3TR_HOME`` (default ``./m3tr-data``).
Every backend can be pointed elsewhere by URL: ``M3TR_DATABASE_URL`` (PostgreSQL),
``M3TR_BROKER_URL`` (Redis), ``M3TR_QDRANT_URL`` (a Qdrant server).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)

DEFAULT_EVENT_TYPES = ("like", "comment", "share", "view", "repost")
# role name in settings / on the CLI -> field of m3tr.core.content.config.EncoderProfile
ENCODER_ROLES = {
    "text": "text_model",
    "text_zh": "text_model_zh",  # paper profile: the encoder of Chinese texts
    "visual": "visual_model",
    "audio": "audio_model",
    "caption": "caption_model",
    "tags": "audio_tag_model",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="M3TR_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    home: Path = Field(default=Path("m3tr-data"), description="workspace folder")

    # storage
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in home"
    )
    qdrant_url: str | None = Field(
        default=None,
        description="Qdrant server URL: the qdrant backends then use the server (same requests)",
    )
    qdrant_api_key: str | None = None
    vector_backend: Literal["qdrant-edge", "qdrant", "faiss", "numpy"] = "qdrant-edge"
    faiss_ivfpq_min_size: int = Field(default=200_000, ge=1)
    edge_hnsw_ef: int = Field(default=128, ge=1, description="Qdrant Edge HNSW search beam")
    edge_optimize_after: int = Field(
        default=50_000, ge=0, description="build the HNSW graph after this many upserts; 0: never"
    )

    # jobs
    broker_url: str | None = Field(default=None, description="Celery broker; default embedded")
    visibility_timeout_s: int = Field(default=6 * 3600, ge=60)
    broker_key_prefix: str = Field(
        default="", description="prefix of every Redis broker key: several deployments on one Redis"
    )
    job_memory_mb: int = Field(
        default=4096,
        ge=64,
        description="memory one job step may add to its worker process; past it the step is "
        "stopped and its job fails (raise it for the paper encoders, loaded on first use)",
    )
    job_time_limit_s: float = Field(
        default=4 * 3600.0, gt=0, description="time one job step may run before it is stopped"
    )

    # model
    device: str = "cpu"
    threads: int = Field(
        default=0,
        ge=0,
        description="compute threads per process (torch, OpenMP, BLAS, FAISS); 0: half the "
        "available cores, at most 8 (m3tr.app.threads)",
    )
    encoder_profile: Literal["lite", "lite-minilm", "paper"] = "lite"
    encoder_models: dict[str, str] = Field(
        default_factory=dict,
        description="per-role model overrides, a Hugging Face id or a local path, as JSON: "
        '{"visual": "/models/vit", "audio": ..., "text": ..., "text_zh": ..., "caption": ..., '
        '"tags": ...}',
    )
    event_types: Annotated[tuple[str, ...], NoDecode] = DEFAULT_EVENT_TYPES
    max_events_per_log: int = Field(default=200_000, ge=1)
    obs_window_s: float = Field(default=3600.0, gt=0)
    horizon_s: float = Field(default=604800.0, gt=0)
    top_s: int = Field(default=10, ge=1)

    # web
    max_upload_mb: int = Field(default=200, ge=1)
    auth_username: str | None = None
    auth_password: str | None = None
    allow_no_login: bool = Field(
        default=False,
        description="production only: serve the web app without a login (logged as critical)",
    )

    @field_validator("event_types", mode="before")
    @classmethod
    def _split_types(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(s.strip() for s in v.split(",") if s.strip())
        return v

    @field_validator("encoder_models")
    @classmethod
    def _known_roles(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = set(v) - set(ENCODER_ROLES)
        if unknown:
            raise ValueError(
                f"M3TR_ENCODER_MODELS: unknown role(s) {sorted(unknown)}; "
                f"use {', '.join(ENCODER_ROLES)}"
            )
        return v

    def encoder_overrides(self) -> dict[str, str]:
        """``encoder_models`` keyed by the profile's field names (``visual_model``, ...)."""
        return {ENCODER_ROLES[role]: model for role, model in self.encoder_models.items()}

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.horizon_s <= self.obs_window_s:
            raise ValueError(
                f"M3TR_HORIZON_S ({self.horizon_s}) must exceed M3TR_OBS_WINDOW_S ({self.obs_window_s})"
            )
        if (
            self.environment == "production"
            and self.auth_username
            and self.auth_password
            in (
                None,
                "",
                "changeme",
            )
        ):
            raise ValueError("M3TR_AUTH_PASSWORD must be set to a real secret in production")
        return self

    def check_web_login(self) -> None:
        """Refuse to serve the web app in production without a login, unless
        ``M3TR_ALLOW_NO_LOGIN`` says so explicitly (then logged at CRITICAL on every start)."""
        if self.environment != "production" or (self.auth_username and self.auth_password):
            return
        if not self.allow_no_login:
            raise ValueError(
                "M3TR_ENVIRONMENT=production needs a login for the web app and API: set "
                "M3TR_AUTH_USERNAME and M3TR_AUTH_PASSWORD, or M3TR_ALLOW_NO_LOGIN=true to serve "
                "without one (only behind your own authenticating proxy)"
            )
        log.critical(
            "PRODUCTION WITHOUT LOGIN: M3TR_ALLOW_NO_LOGIN=true, anyone who reaches this port can "
            "read forecasts and upload videos"
        )

    # derived locations --------------------------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'm3tr.db').resolve()}"

    @property
    def store_backend(self) -> str:
        """The vector store actually opened: a Qdrant URL turns either qdrant backend into the
        server; otherwise ``vector_backend`` (default: Qdrant Edge, in-process)."""
        if self.qdrant_url and self.vector_backend in ("qdrant-edge", "qdrant"):
            return "qdrant"
        return self.vector_backend

    @property
    def vector_store_path(self) -> Path:
        """The embedded store's folder (unused with a Qdrant server)."""
        return {
            "qdrant-edge": self.home / "qdrant-edge",
            "qdrant": self.qdrant_path,
            "faiss": self.faiss_path,
            "numpy": self.home / "numpy-store",
        }[self.store_backend]

    @property
    def qdrant_path(self) -> Path:
        return self.home / "qdrant"

    @property
    def faiss_path(self) -> Path:
        return self.home / "faiss"

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    @property
    def feature_dir(self) -> Path:
        return self.home / "features"

    @property
    def model_dir(self) -> Path:
        return self.home / "models"

    @property
    def broker_dir(self) -> Path:
        return self.home / "broker"

    def ensure_home(self) -> None:
        for d in (self.home, self.media_dir, self.feature_dir, self.model_dir):
            d.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
