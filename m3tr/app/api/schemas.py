"""Response bodies of the REST API (pydantic, so they appear in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class VideoCreated(BaseModel):
    video_id: int
    job_id: int
    n_events: int = Field(description="events imported from the uploaded log")
    duration_s: float
    job_url: str
    prediction_url: str


class JobOut(BaseModel):
    id: int
    kind: str
    video_id: int | None
    state: str = Field(description="queued, running, done or failed")
    step: str | None
    progress: float = Field(ge=0.0, le=1.0)
    error: str | None


class ForecastOut(BaseModel):
    median: float
    lo: float
    hi: float


class NeighbourOut(BaseModel):
    video_id: int
    title: str
    content: float | None = Field(description="min-max normalised content similarity")
    temporal: float | None = Field(description="min-max normalised trajectory similarity")
    combined: float | None = Field(description="Eq. 3 score")
    labels: dict[str, int] = Field(description="final counts per event type")


class PredictionOut(BaseModel):
    video_id: int
    horizon_s: float
    interval: float
    forecast: dict[str, ForecastOut]
    trajectory: dict[str, Any] = Field(description="t, median, lo, hi: cumulative, all types")
    neighbours: list[NeighbourOut]
    retrieval_mode: str = Field(description="temporal_aware, or content_only (fallback)")
    encoder_profile: str | None
    model_version: str | None
    bank_version: str | None


class Health(BaseModel):
    status: str
    database: str
    broker: str
    vector_store: str
    live_bank: str | None
    active_model: str | None
