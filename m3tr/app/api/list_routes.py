"""Lists with filters and cursor pagination, and the predictions export (CSV, Parquet)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from m3tr.app.api.bodies import JobPage, JobRow, VideoOut, VideoPage
from m3tr.app.api.problems import ERROR_RESPONSES
from m3tr.app.records import export_columns, iter_export_rows, job_record, video_record, write_table
from m3tr.app.services import Services
from m3tr.core.db.listing import Filters, ListError, list_jobs, list_videos

EXPORT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _states(state: list[str] | None) -> tuple[str, ...]:
    return tuple(x.strip() for s in state or [] for x in s.split(",") if x.strip())


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def build_list_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["lists and exports"], responses=ERROR_RESPONSES)
    limit_q = Query(50, ge=1, le=500, description="rows per page")
    cursor_q = Query(None, max_length=200, description="next_cursor of the previous page")
    order_q = Query("desc", pattern="^(asc|desc)$", description="by id: desc = newest first")
    after_q = Query(None, description="created at or after (ISO 8601)")
    before_q = Query(None, description="created before (ISO 8601)")

    @router.get("/videos", response_model=VideoPage, summary="Videos, filtered, a page at a time")
    def videos(
        state: list[str] | None = Query(None, description="new, ingested, ready, failed (any of)"),
        q: str | None = Query(None, max_length=200, description="in the title or external id"),
        source: str | None = Query(None, max_length=64),
        created_after: dt.datetime | None = after_q,
        created_before: dt.datetime | None = before_q,
        limit: int = limit_q,
        cursor: str | None = cursor_q,
        order: str = order_q,
    ) -> VideoPage:
        f = Filters(state=_states(state), q=q, kind=source, created_after=created_after,
                    created_before=created_before)  # fmt: skip
        try:
            with services.sessions() as session:
                page = list_videos(session, f, limit, cursor, order)
                items = [VideoOut(**video_record(v)) for v in page.items]
        except ListError as exc:
            raise _bad(exc) from None
        return VideoPage(items=items, next_cursor=page.next_cursor)

    @router.get("/jobs", response_model=JobPage, summary="Jobs, filtered, a page at a time")
    def jobs(
        state: list[str] | None = Query(None, description="queued, running, done, failed"),
        kind: str | None = Query(None, max_length=64, description="ingest, reforecast, train..."),
        video_id: int | None = Query(None, ge=1, le=2**63 - 1),
        created_after: dt.datetime | None = after_q,
        created_before: dt.datetime | None = before_q,
        limit: int = limit_q,
        cursor: str | None = cursor_q,
        order: str = order_q,
    ) -> JobPage:
        f = Filters(state=_states(state), kind=kind, video_id=video_id,
                    created_after=created_after, created_before=created_before)  # fmt: skip
        try:
            with services.sessions() as session:
                page = list_jobs(session, f, limit, cursor, order)
                items = [JobRow(**job_record(j)) for j in page.items]
        except ListError as exc:
            raise _bad(exc) from None
        return JobPage(items=items, next_cursor=page.next_cursor)

    def export(
        fmt: str,
        video_id: int | None,
        model: str | None,
        q: str | None,
        created_after: dt.datetime | None,
        created_before: dt.datetime | None,
        latest: bool,
    ) -> FileResponse:
        f = Filters(video_id=video_id, kind=model, q=q, created_after=created_after,
                    created_before=created_before)  # fmt: skip
        types = list(services.settings.event_types)
        folder = services.settings.home / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(suffix=f".{fmt}", dir=folder)
        path = Path(name)
        try:
            with open(fd, "wb"):
                pass
            write_table(iter_export_rows(services.sessions, f, types, latest), export_columns(types),
                        path, fmt)  # fmt: skip
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return FileResponse(
            path,
            media_type=EXPORT_TYPES[fmt],
            filename=f"m3tr-predictions-{stamp}.{fmt}",
            background=BackgroundTask(path.unlink, missing_ok=True),
        )

    def make_route(fmt: str):  # noqa: ANN202 - a FastAPI endpoint
        def route(
            video_id: int | None = Query(None, ge=1, le=2**63 - 1),
            model: str | None = Query(None, max_length=128, description="model version name"),
            q: str | None = Query(None, max_length=200, description="in the title or external id"),
            created_after: dt.datetime | None = Query(None, description="made at or after"),
            created_before: dt.datetime | None = Query(None, description="made before"),
            latest: bool = Query(False, description="only the newest forecast of each video"),
        ) -> FileResponse:
            return export(fmt, video_id, model, q, created_after, created_before, latest)

        return route

    for fmt in EXPORT_TYPES:
        router.add_api_route(
            f"/predictions.{fmt}",
            make_route(fmt),
            methods=["GET"],
            response_class=FileResponse,
            summary=f"Every forecast (the history) as {fmt.upper()}, one row per forecast",
            responses={200: {"content": {EXPORT_TYPES[fmt]: {}}}},
            name=f"export_predictions_{fmt}",
        )

    return router
