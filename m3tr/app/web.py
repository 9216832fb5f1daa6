"""The ASGI app: REST API and ``/healthz`` beside the Gradio UI mounted at ``/``.

``create_app(services)`` is what ``m3tr serve`` and ``m3tr demo`` run (uvicorn). With
``M3TR_AUTH_USERNAME``/``M3TR_AUTH_PASSWORD`` set, the UI asks for a login and the API wants
HTTP basic credentials; ``/healthz`` stays open for load balancers.
"""

from __future__ import annotations

import logging
import os

import gradio as gr
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from m3tr.app import health
from m3tr.app.api.auth import auth_enabled, basic_auth_dependency, check_credentials
from m3tr.app.api.errors import check_path_ids
from m3tr.app.api.guards import install_guards
from m3tr.app.api.problems import ErrorShapeMiddleware
from m3tr.app.api.routes import build_router
from m3tr.app.api.schemas import Health
from m3tr.app.services import Services
from m3tr.app.ui.blocks import CSS, build_demo

log = logging.getLogger(__name__)


def create_app(services: Services) -> FastAPI:
    """FastAPI app with ``/api``, ``/healthz`` and the Gradio Blocks at ``/``."""
    s = services.settings
    app = FastAPI(
        title="m3tr",
        description="Forecast engagement growth of short videos (M3TR) and show why.",
        version="0.1.0",
    )
    app.state.services = services

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["health"],
        responses={503: {"model": Health, "description": "a dependency is down"}},
    )
    def healthz() -> JSONResponse:
        """Database, broker and vector store: 200 when all answer, 503 (no error text) if not."""
        report = health.check(services)
        return JSONResponse(status_code=200 if report.healthy else 503, content=report.as_dict())

    dependencies = [Depends(basic_auth_dependency(s))] if auth_enabled(s) else []
    app.include_router(
        build_router(services), dependencies=[*dependencies, Depends(check_path_ids)]
    )
    install_guards(app, s)
    app.add_middleware(ErrorShapeMiddleware)  # outermost: one 4xx body shape (m3tr.app.api.problems)
    # this instance's Gradio uploads and cache in its own workspace (cleared on restart)
    os.environ["GRADIO_TEMP_DIR"] = str((s.home / "gradio-tmp").resolve())

    blocks = build_demo(services)
    blocks.queue(default_concurrency_limit=4)
    blocks.delete_cache = (3600, 86400)
    thumbs = s.home / "thumbnails"
    # files the UI may serve: thumbnails, videos in the workspace's media folder (the handlers
    # check a video's path lies inside it), forecast exports
    served = [thumbs, s.media_dir, s.home / "exports"]
    for folder in served:
        folder.mkdir(parents=True, exist_ok=True)
    auth = None
    if auth_enabled(s):

        def auth(username: str, password: str) -> bool:
            return check_credentials(s, username, password)

    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=auth,
        auth_message="m3tr: analyst login" if auth else None,
        allowed_paths=[str(p.resolve()) for p in served],
        max_file_size=f"{s.max_upload_mb}mb",
        css=CSS,
        footer_links=["api"],
    )


def serve(services: Services, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(services), host=host, port=port, log_level="info")
