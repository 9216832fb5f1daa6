"""One body shape for every 4xx answer of the REST API.

    {"detail": "<one sentence for a person>", "errors": [{"loc": [...], "msg": "...", ...}]}

``detail`` is always a string; ``errors`` is always there: the field-level problems of a 422
(what is wrong and where, never the value sent), empty otherwise. Routes raise
``HTTPException(status, detail="...")``; :class:`ErrorShapeMiddleware` (outermost) brings every
4xx JSON body under ``/api`` into this shape, including those written at the ASGI level (body
limits, login back-off, unknown routes) and FastAPI's validation errors (a list of problems).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_MAX_BODY = 256 << 10  # a 4xx body larger than this is passed through untouched


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    """The body of every 4xx answer (OpenAPI: the ``4XX`` response of each route)."""

    detail: str = Field(description="what is wrong, in one sentence")
    errors: list[ErrorItem] = Field(
        default_factory=list, description="field-level problems (422), else empty"
    )


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "the request was refused; detail says why"}
}


def _loc(item: dict[str, Any]) -> str:
    return ".".join(str(p) for p in item.get("loc", []))


def error_body(detail: str, errors: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"detail": detail, "errors": [dict(e) for e in errors]}


def normalise(body: Any) -> dict[str, Any] | None:
    """``body`` in the shape above, or None when it already is (or is not ours to change)."""
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, str) and isinstance(body.get("errors"), list):
        return None
    if isinstance(detail, list):
        items = [
            {k: v for k, v in e.items() if k in ("loc", "msg", "type")}
            for e in detail
            if isinstance(e, dict)
        ]
        first = "; ".join(f"{_loc(e)}: {e.get('msg', '')}" for e in items[:3])
        more = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
        return {**body, "detail": f"invalid request: {first}{more}", "errors": items}
    if detail is None:
        detail = "the request was refused"
    return {**body, "detail": str(detail), "errors": body.get("errors") or []}


class ErrorShapeMiddleware:
    """Rewrites 4xx JSON answers under ``prefix`` into :class:`ErrorBody`'s shape."""

    def __init__(self, app: ASGIApp, prefix: str = "/api") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                ctype = MutableHeaders(raw=message["headers"]).get("content-type", "")
                if 400 <= message["status"] < 500 and ctype.startswith("application/json"):
                    held = message
                    return
                await send(message)
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body") and sum(map(len, chunks)) <= _MAX_BODY:
                return
            await _flush(held, b"".join(chunks), message.get("more_body", False), send)
            held = None

        await self.app(scope, receive, wrapped)


async def _flush(start: Message, body: bytes, more: bool, send: Send) -> None:
    new = None
    if not more:
        try:
            new = normalise(json.loads(body))
        except ValueError:
            new = None
    if new is not None:
        body = json.dumps(new).encode()
        headers = MutableHeaders(raw=list(start["headers"]))
        headers["content-length"] = str(len(body))
        start = {**start, "headers": headers.raw}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": more})
