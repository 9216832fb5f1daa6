"""The OpenAPI schema and its Swagger page behind the API's login (when login is on)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute

OPEN_DOC_PATHS = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


def protect_docs(app: FastAPI, require_login: Callable[..., None]) -> None:
    """Replace FastAPI's open ``/openapi.json`` and ``/docs`` by copies behind ``require_login``
    (``/redoc`` is dropped)."""

    def is_doc(route: BaseRoute) -> bool:
        return getattr(route, "path", None) in OPEN_DOC_PATHS

    app.router.routes[:] = [r for r in app.router.routes if not is_doc(r)]
    guard = [Depends(require_login)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API")
