"""REST routes: create a video with media and events, follow its job, read its prediction."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile, status

from m3tr.app.api.list_routes import build_list_router
from m3tr.app.api.live_routes import build_live_router
from m3tr.app.api.model_routes import build_model_router
from m3tr.app.api.problems import ERROR_RESPONSES
from m3tr.app.api.schemas import ForecastOut, JobOut, NeighbourOut, PredictionOut, VideoCreated
from m3tr.app.services import Services
from m3tr.app.views.jobs import job_view
from m3tr.app.views.prediction import load_prediction
from m3tr.app.views.uploads import UploadError, ingest_upload


def build_router(services: Services) -> APIRouter:
    """The ``/api`` routes bound to ``services`` (every 4xx body: ``m3tr.app.api.problems``)."""
    router = APIRouter(prefix="/api", tags=["api"], responses=ERROR_RESPONSES)

    @router.post(
        "/videos",
        status_code=status.HTTP_201_CREATED,
        response_model=VideoCreated,
        summary="Upload a video (and optionally its event log) and start its pipeline job",
        responses={422: {"description": "bad upload: not a video, too large, bad event log"}},
    )
    def create_video(
        request: Request,
        response: Response,
        media: UploadFile = File(..., description="mp4, webm or mov"),
        events: UploadFile | None = File(None, description="CSV or JSON lines: t, type[, user]"),
        title: str | None = Form(None),
        description: str | None = Form(None),
    ) -> VideoCreated:
        try:
            sub = ingest_upload(
                services,
                media.file,
                media.filename,
                events.file if events is not None and events.filename else None,
                events.filename if events is not None else None,
                title=title,
                description=description,
            )
        except UploadError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        response.headers["Location"] = str(request.url_for("get_video", video_id=sub.video_id))
        return VideoCreated(
            video_id=sub.video_id,
            job_id=sub.job_id,
            n_events=sub.n_events,
            duration_s=sub.duration_s,
            job_url=str(request.url_for("get_job", job_id=sub.job_id)),
            prediction_url=str(request.url_for("get_prediction", video_id=sub.video_id)),
        )

    @router.get("/jobs/{job_id}", response_model=JobOut, name="get_job")
    def get_job(job_id: int) -> JobOut:
        try:
            j = job_view(services, job_id)
        except LookupError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        return JobOut(
            id=j.id,
            kind=j.kind,
            video_id=j.video_id,
            state=j.state,
            step=j.step,
            progress=max(0.0, min(1.0, j.progress)),
            error=j.error,
        )

    @router.get(
        "/videos/{video_id}/prediction",
        response_model=PredictionOut,
        name="get_prediction",
        summary="The latest forecast of a video, with its neighbours",
    )
    def get_prediction(video_id: int) -> PredictionOut:
        try:
            view = load_prediction(services, video_id)
        except LookupError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        if view is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"video {video_id} has no prediction yet"
            )
        forecast = {k: ForecastOut(**q) for k, q in view.forecast_raw.items() if len(q) == 3}
        return PredictionOut(
            video_id=view.video_id,
            horizon_s=view.horizon_s,
            interval=view.interval,
            forecast=forecast,
            trajectory=view.trajectory,
            neighbours=[
                NeighbourOut(
                    video_id=n.video_id,
                    title=n.title,
                    content=n.content,
                    temporal=n.temporal,
                    combined=n.combined,
                    labels=n.labels,
                )
                for n in view.neighbours
            ],
            retrieval_mode=view.retrieval_mode,
            encoder_profile=view.encoder_profile,
            model_version=view.model_version,
            bank_version=view.bank_version,
        )

    router.include_router(build_live_router(services))
    router.include_router(build_list_router(services))
    router.include_router(build_model_router(services))
    return router
