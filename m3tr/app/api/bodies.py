"""Request and response bodies of the list, export, live re-forecast and model routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_BATCH = 50_000


class VideoOut(BaseModel):
    id: int
    source: str
    external_id: str
    title: str | None
    description: str | None
    author: str | None
    status: str = Field(description="new, ingested, ready or failed")
    split: str | None
    matured: bool
    duration_s: float | None
    published_at: str | None
    created_at: str | None
    error: str | None


class JobRow(BaseModel):
    id: int
    kind: str
    video_id: int | None
    state: str = Field(description="queued, running, done or failed")
    step: str | None
    progress: float
    error: str | None
    attempts: int
    created_at: str | None
    finished_at: str | None


class VideoPage(BaseModel):
    items: list[VideoOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last")


class JobPage(BaseModel):
    items: list[JobRow]
    next_cursor: str | None


class EventIn(BaseModel):
    t: Any = Field(description="seconds since publication (or a timestamp with published_at)")
    type: Any = Field(description="an event type of the vocabulary (M3TR_EVENT_TYPES)")
    user: Any = None


class EventBatch(BaseModel):
    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="rows {t, type[, user]}; validated like a log file (line n = row n)",
        json_schema_extra={"items": EventIn.model_json_schema()},
    )
    observed_until_s: float | None = Field(
        None, ge=0, description="the events are complete up to this time (default: the latest t)"
    )


class EventsAppended(BaseModel):
    video_id: int
    appended: int = Field(description="events added to the log")
    duplicates_skipped: int = Field(description="rows equal to stored events (a resent batch)")
    n_events: int = Field(description="events in the whole log now")
    observed_until_s: float
    job_id: int = Field(description="the job that makes the next forecast")
    job_url: str
    predictions_url: str


class ForecastPoint(BaseModel):
    median: float | None
    lo: float | None
    hi: float | None


class HistoryItem(BaseModel):
    prediction_id: int
    video_id: int
    made_at: str | None
    observed_until_s: float | None = Field(description="made from the events up to this time")
    n_events: int = Field(description="events in the log it was made from")
    model_version: str | None
    method: str | None = Field(description="fused, mhp, neighbours or observed")
    retrieval_mode: str
    horizon_s: float
    interval: float
    total: ForecastPoint = Field(description="all types together at the horizon")
    forecast: dict[str, dict[str, float]]


class PredictionHistory(BaseModel):
    video_id: int
    items: list[HistoryItem] = Field(description="oldest first")


class ModelVersionOut(BaseModel):
    id: int
    name: str
    kind: str
    is_active: bool
    created_at: str | None
    activated_at: str | None
    metrics: dict[str, Any]
    live_bank: str | None


class ModelList(BaseModel):
    items: list[ModelVersionOut]
