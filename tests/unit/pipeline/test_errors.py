from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc

from m3tr.core.content.errors import DecodeError
from m3tr.core.events.log import EventLogError
from m3tr.core.pipeline.errors import BadInputError, describe_error, is_bad_input, is_transient


def _real_operational_error() -> sa_exc.OperationalError:
    engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    with pytest.raises(sa_exc.OperationalError) as info:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    return info.value


def test_database_unreachable_is_transient() -> None:
    assert is_transient(_real_operational_error())


def test_connection_refused_and_chained_errors_are_transient() -> None:
    assert is_transient(ConnectionRefusedError(111, "refused"))
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("store call failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_bad_input_is_never_transient() -> None:
    for exc in (
        EventLogError("log.csv, line 3: bad"),
        DecodeError("x.mp4", "not media"),
        BadInputError("gone"),
    ):
        assert is_bad_input(exc)
        assert not is_transient(exc)
    assert not is_transient(ValueError("a bug"))
    assert not is_bad_input(ValueError("a bug"))


def test_describe_error_keeps_bad_input_text_and_names_other_types() -> None:
    assert describe_error(EventLogError("log.csv, line 3: bad")) == "log.csv, line 3: bad"
    assert describe_error(KeyError("x")).startswith("KeyError: ")
