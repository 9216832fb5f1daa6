"""Everything that stands between a hostile request and the service, installed in one call.

``install_guards(app, settings)`` adds, to an app whose API routers are already included:
login back-off (:mod:`m3tr.app.api.throttle`), body limits while the body streams
(:mod:`m3tr.app.api.limits`), 422s that never echo what was sent, 404/405 for unserved ``/api`` paths
(:mod:`m3tr.app.api.errors`), and, when login is on, ``/docs`` and ``/openapi.json`` behind it
(:mod:`m3tr.app.api.docs`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from m3tr.app.api.auth import auth_enabled, basic_auth_dependency
from m3tr.app.api.docs import protect_docs
from m3tr.app.api.errors import add_api_fallback, validation_error
from m3tr.app.api.limits import BodyLimitMiddleware, BodyLimits
from m3tr.app.api.throttle import LoginThrottle, LoginThrottleMiddleware
from m3tr.app.settings import Settings

# Multipart overhead allowed above the media + event-log limit before a request is refused.
MULTIPART_SLACK = 2 << 20


def body_limits(settings: Settings) -> BodyLimits:
    """Each file at most ``M3TR_MAX_UPLOAD_MB``, two files, and the whole body what they need."""
    max_file = settings.max_upload_mb << 20
    return BodyLimits(max_body=2 * max_file + MULTIPART_SLACK, max_file=max_file, max_files=2)


def install_guards(app: FastAPI, settings: Settings) -> None:
    """Add the guards to ``app`` (call after the API routers are included)."""
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    add_api_fallback(app)
    if auth_enabled(settings):
        protect_docs(app, basic_auth_dependency(settings))
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(settings))
    app.add_middleware(LoginThrottleMiddleware, throttle=LoginThrottle())  # outermost
