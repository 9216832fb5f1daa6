"""Error answers of the API: no echo of what was sent, 404/405 under ``/api``, ids of any size.

- Validation errors (422) list where and what is wrong, never the offending value: a client that
  sends raw MP4 bytes as a text field gets a short message, not its bytes back.
- Every path under ``/api`` that no route serves answers 404, and one served for other methods
  answers 405 with ``Allow`` (the Gradio app mounted at ``/`` would otherwise answer 404 for both).
- Integer path ids outside the database's 64-bit range answer 404 like any unknown id.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Match, Mount

MAX_ID = 2**63 - 1
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _clean(error: dict) -> dict:
    """One validation error without its ``input`` (and without ``ctx`` values that echo it)."""
    out = {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", ""))[:300]}
    if "type" in error:
        out["type"] = error["type"]
    return out


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field and the rule it broke, without the value sent."""
    errors = [_clean(e) for e in exc.errors()[:20]]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content=jsonable_encoder({"detail": errors}),
    )


def check_path_ids(request: Request) -> None:
    """A router dependency: an ``*_id`` path parameter outside 1..2^63-1 is an unknown id (404)."""
    for key, raw in request.path_params.items():
        if not key.endswith("_id"):
            continue
        text = str(raw).strip()
        if text.lstrip("-").isdigit() and not 0 < int(text) <= MAX_ID:
            noun = key.removesuffix("_id").replace("_", " ")
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {noun} with id {text[:40]}")


def add_api_fallback(app: FastAPI, prefix: str = "/api") -> None:
    """Answer 404/405 for every unserved ``prefix`` path; call after the API routers are added."""

    @app.api_route(f"{prefix}/{{rest:path}}", methods=_ALL_METHODS, include_in_schema=False)
    async def api_fallback(request: Request, rest: str) -> JSONResponse:
        allowed = {
            method
            for route in app.router.routes
            if getattr(route, "endpoint", None) is not api_fallback and not isinstance(route, Mount)
            for method in _ALL_METHODS
            if route.matches({**request.scope, "method": method})[0] == Match.FULL
        }
        if allowed and request.method not in allowed:
            return JSONResponse(
                status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
                content={"detail": f"method {request.method} not allowed here; use "
                                   f"{', '.join(sorted(allowed))}"},
                headers={"Allow": ", ".join(sorted(allowed))},
            )  # fmt: skip
        return JSONResponse(
            status_code=status.HTTP_404_NOT_FOUND,
            content={"detail": f"no API route {prefix}/{rest[:100]}"},
        )
