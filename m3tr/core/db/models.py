"""SQL schema (SQLAlchemy 2 typed ORM). One Alembic revision per change: ``m3tr/app/migrations/``.

Times of events are seconds since the video's publication (float). Labels are counts of one
event type at a horizon (``horizon_s``; NULL means "final, as crawled").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# BigInteger primary keys that still autoincrement on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class VideoStatus:
    NEW = "new"  # row exists, nothing computed
    INGESTED = "ingested"  # media stored and probed / events stored
    READY = "ready"  # vectors in the live bank
    FAILED = "failed"


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_videos_source_external"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64), default="upload")
    external_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    media_path: Mapped[str | None] = mapped_column(Text)
    media_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    duration_s: Mapped[float | None] = mapped_column(Float)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    split: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.NEW)
    error: Mapped[str | None] = mapped_column(Text)
    matured: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    events: Mapped[list[Event]] = relationship(back_populates="video", cascade="all, delete-orphan")
    labels: Mapped[list[Label]] = relationship(back_populates="video", cascade="all, delete-orphan")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_video_t", "video_id", "t"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    t: Mapped[float] = mapped_column(Float)
    type: Mapped[str] = mapped_column(String(32))
    user: Mapped[str | None] = mapped_column(String(128))

    video: Mapped[Video] = relationship(back_populates="events")


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("video_id", "type", "horizon_s", name="uq_labels"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    horizon_s: Mapped[float | None] = mapped_column(Float)
    count: Mapped[int] = mapped_column(BigInteger)

    video: Mapped[Video] = relationship(back_populates="labels")


class JobState:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    video_id: Mapped[int | None] = mapped_column(
        ForeignKey("videos.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED, index=True)
    step: Mapped[str | None] = mapped_column(String(128))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    task_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ModelVersion(Base):
    """A trained model. ``is_active`` is written only by ``m3tr.core.db.registry``; the partial
    unique index allows one active version per kind."""

    __tablename__ = "model_versions"
    __table_args__ = (
        Index(
            "uq_model_versions_one_active_per_kind",
            "kind",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # "mhp", "m3tr", ...
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # last time the registry made it active (what ``rollback`` goes back by)
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class BankVersion(Base):
    __tablename__ = "bank_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    collection: Mapped[str] = mapped_column(String(128), unique=True)
    backend: Mapped[str] = mapped_column(String(16))
    encoder_profile: Mapped[str] = mapped_column(String(32))
    n_videos: Mapped[int] = mapped_column(Integer, default=0)
    n_semantic: Mapped[int] = mapped_column(Integer, default=0)
    n_temporal: Mapped[int] = mapped_column(Integer, default=0)
    is_live: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Prediction(Base):
    """One forecast. Every forecast is kept (the history of a video as its events arrive): one
    row per (video, model version, events seen), so a re-run on the same log replaces its row."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint(
            "video_id", "model_version_id", "n_events", name="uq_predictions_video_model_events"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    bank_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("bank_versions.id", ondelete="SET NULL")
    )
    horizon_s: Mapped[float] = mapped_column(Float)
    # {type: {"median": x, "lo": x, "hi": x}}, interval level in `interval`
    forecast: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    interval: Mapped[float] = mapped_column(Float, default=0.8)
    # {"t": [...], "median": [...], "lo": [...], "hi": [...]} cumulative total
    trajectory: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"video_id", "score", "content", "temporal", "label"}]
    neighbours: Mapped[list[Any]] = mapped_column(JSON, default=list)
    retrieval_mode: Mapped[str] = mapped_column(String(32), default="temporal_aware")
    encoder_profile: Mapped[str | None] = mapped_column(String(32))
    # the log the forecast was made from: its events (all types) and the time (s since
    # publication) up to which they were observed
    n_events: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    observed_until_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
