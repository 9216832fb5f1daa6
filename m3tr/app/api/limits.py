"""Request-body limits enforced while the body streams in, whatever its transfer encoding.

A pure ASGI middleware in front of the API: it counts the bytes of every ``http.request``
message as the server receives them (``Content-Length`` or chunked alike) and, for multipart
bodies, feeds the same bytes to python-multipart's streaming parser to know each part's size as
it grows. The first byte past a limit stops the request with a 413 that names the limit: the
rest of the body is never read, and what the form parser had spooled is closed (and so deleted).

Limits (see :class:`BodyLimits`): the whole body, on every path (the Gradio app's JSON routes
included); on the API's paths also each file part, the number of file parts and each plain form
field. Memory: O(chunk) per request, whatever the body size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MB = 1 << 20


@dataclass(frozen=True)
class BodyLimits:
    """What one request to a limited path may carry (bytes, counts)."""

    max_body: int  # every path
    max_file: int  # the rest: multipart bodies on ``prefixes`` only
    max_files: int = 2
    max_field: int = 64 << 10
    prefixes: tuple[str, ...] = ("/api/",)
    setting: str = "M3TR_MAX_UPLOAD_MB"


class BodyTooLarge(HTTPException):
    """A limit was crossed while the body streamed in (status 413, ``detail`` says which)."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail, headers={"Connection": "close"})


def _size(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n // 1024} KB"


class _PartCounter:
    """Sizes of the parts of a multipart body, fed chunk by chunk; raises BodyTooLarge."""

    def __init__(self, boundary: bytes, limits: BodyLimits) -> None:
        self.limits = limits
        self.files = 0
        self._reset()
        callbacks = {
            "on_part_begin": self._reset,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }
        self.parser: MultipartParser | None = MultipartParser(boundary, callbacks)

    def _reset(self) -> None:
        self.field = b""
        self.value = b""
        self.disposition = b""
        self.name = ""
        self.filename: str | None = None
        self.size = 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def _header_end(self) -> None:
        if self.field.lower() == b"content-disposition":
            self.disposition = self.value
        self.field, self.value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self.disposition)
        self.name = params.get(b"name", b"").decode("latin-1")[:64]
        filename = params.get(b"filename")
        self.filename = None if filename is None else filename.decode("latin-1")[-64:]
        if self.filename is not None:
            self.files += 1
            if self.files > self.limits.max_files:
                raise BodyTooLarge(
                    f"too many files in one request: at most {self.limits.max_files} "
                    f"(file part {self.name!r} is number {self.files})"
                )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.filename is not None and self.size > self.limits.max_file:
            raise BodyTooLarge(
                f"file {self.filename!r} (part {self.name!r}) is too large: the limit is "
                f"{_size(self.limits.max_file)} per file ({self.limits.setting})"
            )
        if self.filename is None and self.size > self.limits.max_field:
            raise BodyTooLarge(
                f"form field {self.name!r} is too large: the limit is "
                f"{_size(self.limits.max_field)} per field"
            )

    def feed(self, chunk: bytes) -> None:
        if self.parser is None or not chunk:
            return
        try:
            self.parser.write(chunk)
        except BodyTooLarge:
            raise
        except Exception:  # noqa: BLE001 - malformed multipart: the form parser will say so
            self.parser = None


class BodyLimitMiddleware:
    """Refuse (413) bodies past :class:`BodyLimits` on the paths it names, while they stream."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        headers = Headers(scope=scope)
        too_large = (
            f"request body too large: the limit is {_size(limits.max_body)} in all and "
            f"{_size(limits.max_file)} per file ({limits.setting})"
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_body:
            await _refuse(scope, receive, send, too_large)
            return
        counter = None
        ctype, params = parse_options_header(headers.get("content-type", ""))
        per_part = scope["path"].startswith(limits.prefixes)
        if per_part and ctype == b"multipart/form-data" and params.get(b"boundary"):
            counter = _PartCounter(params[b"boundary"], limits)
        total = 0

        async def limited_receive() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                total += len(body)
                if total > limits.max_body:
                    raise BodyTooLarge(too_large)
                if counter is not None:
                    counter.feed(body)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(scope, receive, send, str(exc.detail))


async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    log.info("refused %s %s: %s", scope.get("method"), scope.get("path"), detail)
    response = JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})
    await response(scope, receive, send)
