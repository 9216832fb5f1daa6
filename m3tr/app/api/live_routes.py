"""Live re-forecasts: append events to a video's log (all or nothing), read its forecast history."""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select

from m3tr.app.api.bodies import EventBatch, EventsAppended, PredictionHistory, VideoOut
from m3tr.app.api.problems import ERROR_RESPONSES
from m3tr.app.records import prediction_record, video_record
from m3tr.app.services import Services
from m3tr.app.views.uploads import send_job
from m3tr.core.db.models import ModelVersion, Prediction, Video
from m3tr.core.db.repository import VideoNotFound
from m3tr.core.db.session import transaction
from m3tr.core.events.log import EventLogError, EventLogRules, validate_event_table
from m3tr.core.pipeline.live import AppendRefused, append_events


def build_live_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["live re-forecasts"], responses=ERROR_RESPONSES)

    @router.get("/videos/{video_id}", response_model=VideoOut, name="get_video")
    def get_video(video_id: int) -> VideoOut:
        """One video: its metadata and status."""
        with services.sessions() as session:
            video = session.get(Video, video_id)
            if video is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no video with id {video_id}")
            return VideoOut(**video_record(video))

    @router.post(
        "/videos/{video_id}/events",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=EventsAppended,
        summary="Append events to a video's log and re-forecast it",
    )
    def append(
        video_id: int, batch: EventBatch, request: Request, response: Response
    ) -> EventsAppended:
        """Validates the whole batch like a log file (an error names the row: ``events, line 3,
        column 'type': ...``), then appends it and the re-forecast job in ONE transaction; a bad
        batch changes nothing. Rows equal to stored events are skipped (resending is safe).
        ``202`` with ``Location`` = the job; the forecast appears in ``/predictions`` when it is
        done."""
        s = services.settings
        rules = EventLogRules(vocabulary=s.event_types, max_events=s.max_events_per_log)
        with services.sessions() as session:
            video = session.get(Video, video_id)
            if video is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no video with id {video_id}")
            published_at = video.published_at
        try:
            event_log = validate_event_table(
                pd.DataFrame(batch.events), rules, name="events", kind="jsonl",
                published_at=published_at,
            )  # fmt: skip
        except EventLogError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        try:
            with transaction(services.sessions) as session:
                done = append_events(
                    session,
                    video_id,
                    event_log,
                    max_events=s.max_events_per_log,
                    observed_until_s=batch.observed_until_s,
                )
        except VideoNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except AppendRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        if done.new_job:
            send_job(services, done.job_id)  # only after the commit
        job_url = str(request.url_for("get_job", job_id=done.job_id))
        response.headers["Location"] = job_url
        return EventsAppended(
            video_id=video_id,
            appended=done.n_added,
            duplicates_skipped=done.n_duplicates,
            n_events=done.n_events,
            observed_until_s=done.observed_until_s,
            job_id=done.job_id,
            job_url=job_url,
            predictions_url=str(request.url_for("get_predictions", video_id=video_id)),
        )

    @router.get(
        "/videos/{video_id}/predictions",
        response_model=PredictionHistory,
        name="get_predictions",
        summary="Every forecast of a video, oldest first, with the log state it was made from",
    )
    def history(video_id: int) -> PredictionHistory:
        with services.sessions() as session:
            if session.get(Video, video_id) is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no video with id {video_id}")
            rows = session.execute(
                select(Prediction, ModelVersion.name)
                .outerjoin(ModelVersion, ModelVersion.id == Prediction.model_version_id)
                .where(Prediction.video_id == video_id)
                .order_by(Prediction.created_at, Prediction.id)
            ).all()
            items = [prediction_record(p, name) for p, name in rows]
        return PredictionHistory(video_id=video_id, items=items)

    return router
