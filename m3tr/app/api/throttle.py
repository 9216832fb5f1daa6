"""Back-off for failed logins, per client address, on the API and on the Gradio login.

After ``free`` failures in a row a client must wait before its next attempt: 1 s, then twice as
long after every further failure, up to ``max_wait_s``. A success clears its record. While it
waits, a login attempt (HTTP basic credentials on the API, or ``POST /login``) answers 429 with
``Retry-After`` and is not checked at all. Requests without credentials are never counted.
Memory: at most ``max_clients`` records (the oldest are forgotten first).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

GRADIO_LOGIN_PATHS = ("/login", "/login/")


@dataclass
class _Record:
    failures: int = 0
    until: float = 0.0


class LoginThrottle:
    """Failed-login records per client; thread-safe."""

    def __init__(
        self,
        free: int = 5,
        base_wait_s: float = 1.0,
        max_wait_s: float = 300.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base, self.max_wait = free, base_wait_s, max_wait_s
        self.max_clients, self.clock = max_clients, clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds the client must still wait before its next attempt (0: it may try now)."""
        with self._lock:
            rec = self._records.get(client)
            return max(0.0, rec.until - self.clock()) if rec is not None else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            rec = self._records.pop(client, None) or _Record()
            rec.failures += 1
            over = rec.failures - self.free
            if over > 0:
                rec.until = self.clock() + min(self.max_wait, self.base * 2 ** min(over - 1, 30))
            self._records[client] = rec
            while len(self._records) > self.max_clients:
                self._records.popitem(last=False)
        if over > 0:
            log.warning("login failed %d times in a row from %s", rec.failures, client)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)


def _is_attempt(scope: Scope, headers: Headers, api_prefixes: tuple[str, ...]) -> bool:
    path = scope["path"]
    if path in GRADIO_LOGIN_PATHS:
        return scope.get("method") == "POST"
    return path.startswith(api_prefixes) and "authorization" in headers


class LoginThrottleMiddleware:
    """429 for clients in back-off; records the outcome of every login attempt it lets through.

    A Gradio login fails with 400/401, an API request with credentials fails with 401.
    """

    def __init__(
        self,
        app: ASGIApp,
        throttle: LoginThrottle,
        api_prefixes: tuple[str, ...] = ("/api/", "/docs", "/openapi.json", "/redoc"),
    ) -> None:
        self.app, self.throttle, self.api_prefixes = app, throttle, api_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_attempt(
            scope, Headers(scope=scope), self.api_prefixes
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.throttle.wait_s(client)
        if wait > 0:
            seconds = math.ceil(wait)
            response = JSONResponse(
                {"detail": f"too many failed logins from {client}: try again in {seconds} s"},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
            await response(scope, receive, send)
            return
        status_code = 0

        async def watch(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        gradio = scope["path"] in GRADIO_LOGIN_PATHS
        if status_code == 401 or (gradio and status_code == 400):
            self.throttle.failed(client)
        elif status_code:
            self.throttle.succeeded(client)
