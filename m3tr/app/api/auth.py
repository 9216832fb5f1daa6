"""Optional HTTP basic auth for the API (credentials from settings; off when unset)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from m3tr.app.settings import Settings

_basic = HTTPBasic(auto_error=False)


def auth_enabled(settings: Settings) -> bool:
    return bool(settings.auth_username and settings.auth_password)


def check_credentials(settings: Settings, username: str, password: str) -> bool:
    """Constant-time comparison against the configured user and password."""
    if not auth_enabled(settings):
        return True
    ok_user = secrets.compare_digest(username.encode(), str(settings.auth_username).encode())
    ok_pass = secrets.compare_digest(password.encode(), str(settings.auth_password).encode())
    return ok_user and ok_pass


def basic_auth_dependency(settings: Settings) -> Callable[..., None]:
    """A FastAPI dependency refusing requests without the configured credentials."""

    def require(credentials: HTTPBasicCredentials | None = Depends(_basic)) -> None:
        if not auth_enabled(settings):
            return
        if credentials is None or not check_credentials(
            settings, credentials.username, credentials.password
        ):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="login required",
                headers={"WWW-Authenticate": "Basic"},
            )

    return require
