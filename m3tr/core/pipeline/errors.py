"""Which failures are worth retrying: transient infrastructure errors versus bad input.

Bad input (a corrupt video, an invalid event log, a missing upload) fails its job once, with the
error text on the job row. Transient errors (database, Redis or Qdrant server unreachable) are
retried with backoff by the worker. Anything else is a bug: it fails the job too, with its text.
"""

from __future__ import annotations

import errno

from sqlalchemy import exc as sa_exc

from m3tr.core.content.errors import ContentError
from m3tr.core.events.log import EventLogError


class BadInputError(ValueError):
    """Input the pipeline cannot use (missing upload, unusable media or log). Never retried."""


BAD_INPUT: tuple[type[BaseException], ...] = (BadInputError, EventLogError, ContentError)

# Names (module prefix, class name) of transient errors from clients this library does not import.
_TRANSIENT_NAMES: tuple[tuple[str, str], ...] = (
    ("redis", "ConnectionError"),
    ("redis", "TimeoutError"),
    ("redis", "BusyLoadingError"),
    ("kombu", "OperationalError"),
    ("httpx", "ConnectError"),
    ("httpx", "ReadTimeout"),
    ("httpx", "ConnectTimeout"),
    ("httpx", "RemoteProtocolError"),
    ("httpcore", "ConnectError"),
    ("qdrant_client", "ResponseHandlingException"),
    ("grpc", "RpcError"),
)
_TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH}


def is_bad_input(exc: BaseException) -> bool:
    """True when ``exc`` means the input itself is unusable (fail the job, do not retry)."""
    return isinstance(exc, BAD_INPUT)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) is worth retrying later."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_transient_one(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_transient_one(exc: BaseException) -> bool:
    if isinstance(exc, BAD_INPUT):
        return False
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    for klass in type(exc).__mro__:
        module = klass.__module__.split(".", 1)[0]
        if (module, klass.__name__) in _TRANSIENT_NAMES:
            return True
    return False


def describe_error(exc: BaseException) -> str:
    """A one-line, human-readable error text for the job row."""
    text = str(exc).strip() or type(exc).__name__
    if is_bad_input(exc):
        return text
    return f"{type(exc).__name__}: {text}"
