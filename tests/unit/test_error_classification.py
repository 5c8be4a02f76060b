"""One classification of driver errors (issue 29, item 6), and every layer derived from it.

Each of the driver's exception classes (all 253 SQLSTATE classes asyncpg names, its
client-side errors, OS errors) and any SQLSTATE at all (hypothesis) maps to exactly one
:class:`ErrorKind`; then each layer is driven with that error at its own call site and
must behave as the kind says:

* ``_db.translate``/``translated``: the library error carries the kind; unavailable is
  a ``DatabaseUnavailableError``, a missing schema a ``NotMigratedError``;
* ``_db.is_unavailable`` and ``ingest.errors.is_transient/is_duplicate``;
* the read side's one execution point (``read._exec.fetch``);
* the API's error handler (status and the one error body, no database text);
* the PostgreSQL writer: retry (raise) when ``kind.retry``, the idempotent path on a
  duplicate, bisection into refused rows otherwise.

Named regressions (each failed before the classification existed): a
``TooManyConnectionsError`` or ``AdminShutdownError`` on the read side was a plain
``DatabaseError`` (not "unavailable"); a pooler's ``DuplicatePreparedStatementError``
(42P05) was refused as the rows' fault, so the worker bisected and dead-lettered good
rows; the collector's and the API's own exceptions did not derive from ``AnalyticsError``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import inspect
import json
import pkgutil
import socket
import uuid
from typing import Any

import asyncpg
import asyncpg.exceptions
import pytest
from asyncpg.exceptions import _base as asyncpg_base
from hypothesis import given, settings
from hypothesis import strategies as st

import lib_analytics_core
from lib_analytics_core import (
    AnalyticsError,
    BusError,
    DatabaseError,
    DatabaseUnavailableError,
    ErrorKind,
    NotMigratedError,
)
from lib_analytics_core._db import is_unavailable, translate, translated
from lib_analytics_core._dberrors import BY_CLASS, BY_STATE, classify, describe, hint
from lib_analytics_core._http_errors import DATABASE_ERRORS, ERROR_CODES, database_error
from lib_analytics_core.ingest.errors import is_duplicate, is_transient, not_ready_hint
from lib_analytics_core.ingest.sinks.postgres import BatchWriter
from lib_analytics_core.read import _exec

K = ErrorKind


def _pg(state: str, message: str = "boom from the server: secret_table") -> BaseException:
    err: BaseException = asyncpg.PostgresError.new({"C": state, "M": message, "S": "ERROR"})
    return err


#: Every PostgreSQL error class the driver names, with its SQLSTATE.
DRIVER_STATES = sorted(
    {
        cls.sqlstate
        for cls in vars(asyncpg.exceptions).values()
        if isinstance(cls, type)
        and issubclass(cls, asyncpg.PostgresError)
        and isinstance(getattr(cls, "sqlstate", None), str)
    }
)

#: Errors that carry no SQLSTATE, with the kind each must have.
CLIENT_SIDE: list[tuple[BaseException, ErrorKind]] = [
    (OSError(111, "Connection refused"), K.UNAVAILABLE),
    (ConnectionResetError(104, "Connection reset by peer"), K.UNAVAILABLE),
    (socket.gaierror(-2, "Name or service not known"), K.UNAVAILABLE),
    (TimeoutError(), K.UNAVAILABLE),
    (asyncpg.InterfaceError("connection is closed"), K.UNAVAILABLE),
    (
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        K.INTERNAL,
    ),
    (asyncpg.exceptions.ClientConfigurationError("invalid DSN"), K.MISCONFIGURED),
    (asyncpg_base.DataError("invalid input for query argument $1"), K.REFUSED),
    (asyncpg.exceptions.OutdatedSchemaCacheError("cache lookup failed"), K.CONFLICT),
    (asyncpg.exceptions.ProtocolError("unexpected message"), K.UNAVAILABLE),
    (asyncpg.InternalClientError("could not resolve types"), K.UNAVAILABLE),
    (BusError("no ack"), K.UNAVAILABLE),
    (DatabaseUnavailableError("down"), K.UNAVAILABLE),
    (NotMigratedError("no tables"), K.NOT_MIGRATED),
    (DatabaseError("timed out", kind=K.TIMEOUT), K.TIMEOUT),
    (ValueError("not a database error"), K.INTERNAL),
]

#: Spot checks of the table, written out (the parametrised test derives the rest).
NAMED: dict[str, ErrorKind] = {
    "53300": K.UNAVAILABLE,  # TooManyConnectionsError: was a plain DatabaseError on reads
    "57P01": K.UNAVAILABLE,  # AdminShutdownError: likewise
    "57P03": K.UNAVAILABLE,  # CannotConnectNowError
    "08006": K.UNAVAILABLE,
    "53100": K.UNAVAILABLE,  # disk full
    "25006": K.UNAVAILABLE,  # read-only transaction: a standby after a failover
    "40001": K.CONFLICT,
    "40P01": K.CONFLICT,
    "55P03": K.CONFLICT,
    "42P05": K.CONFLICT,  # DuplicatePreparedStatementError (PgBouncer, transaction mode)
    "26000": K.CONFLICT,  # InvalidSQLStatementNameError (likewise)
    "57014": K.TIMEOUT,
    "42P01": K.NOT_MIGRATED,
    "42703": K.NOT_MIGRATED,
    "42883": K.NOT_MIGRATED,
    "3F000": K.NOT_MIGRATED,
    "3D000": K.MISCONFIGURED,
    "28P01": K.PERMISSION,
    "42501": K.PERMISSION,
    "22001": K.REFUSED,
    "22P02": K.REFUSED,
    "23502": K.REFUSED,
    "54001": K.REFUSED,
    "23505": K.DUPLICATE,
    "42601": K.INTERNAL,
    "XX000": K.INTERNAL,
    "0A000": K.INTERNAL,
}


@pytest.mark.parametrize(("state", "kind"), sorted(NAMED.items()))
def test_the_named_states(state: str, kind: ErrorKind) -> None:
    assert classify(_pg(state)) is kind


def test_pgbouncer_refusing_a_startup_parameter_is_a_configuration_not_an_outage() -> None:
    err = _pg("08P01", "unsupported startup parameter: statement_timeout")
    assert classify(err) is K.MISCONFIGURED
    assert "ignore_startup_parameters" in (hint(err) or "")
    assert classify(_pg("08P01", "query_wait_timeout")) is K.UNAVAILABLE


# ------------------------------------------------------------ every layer, one kind


async def _read_kind(err: BaseException) -> DatabaseError:
    class FailingDb:
        async def fetch(self, sql: str, *args: object, **kwargs: object) -> list[Any]:
            raise err

    with pytest.raises(DatabaseError) as caught:
        await _exec.fetch(FailingDb(), "test", "SELECT 1")
    return caught.value


class FailingConn:
    """A connection whose COPY and INSERT fail with ``err`` (``execute`` only while
    ``insert_fails``); counts the statements (fault injection at the writer's calls)."""

    def __init__(self, err: BaseException, *, insert_fails: bool = True) -> None:
        self.err = err
        self.insert_fails = insert_fails
        self.inserts = 0

    async def fetchval(self, sql: str) -> str:
        return "PostgreSQL 15.20"

    async def copy_records_to_table(self, *args: Any, **kwargs: Any) -> None:
        raise self.err

    async def execute(self, sql: str, *args: Any, **kwargs: Any) -> str:
        self.inserts += 1
        if self.insert_fails:
            raise self.err
        return "INSERT 0 1"


def _rows(n: int) -> list[tuple[Any, ...]]:
    now = dt.datetime.now(dt.UTC)
    return [(now, uuid.uuid4(), "t", "s", None, json.dumps({"i": i})) for i in range(n)]


async def _writer_outcome(err: BaseException) -> str:
    """What the PostgreSQL writer does with ``err``: raise (retry), the idempotent path
    (written), or bisect (refused rows)."""
    rows = _rows(4)
    writer = BatchWriter(write_method="copy", timeout=5)
    conn = FailingConn(err, insert_fails=classify(err) is not K.DUPLICATE)
    raised: BaseException | None = None
    try:
        result = await writer.write(conn, rows, idempotent=False)  # type: ignore[arg-type]
    except BaseException as caught:
        raised = caught
    if raised is not None:
        assert raised is err
        return "retry"
    if result.written == len(rows):
        return "idempotent"
    assert result.written == 0 and len(result.rejected) == len(rows)
    assert conn.inserts > 1  # bisected down to single rows
    return "bisect"


async def _api_answer(err: DatabaseError) -> tuple[int, dict[str, Any]]:
    from lib_analytics_core.api._app import _db_error

    response = await _db_error(None, err)  # type: ignore[arg-type]
    return response.status_code, json.loads(bytes(response.body))


async def check_layers(err: BaseException) -> ErrorKind:
    """Drive every layer with ``err``; each must follow ``classify(err)``."""
    kind = classify(err)
    assert isinstance(kind, ErrorKind)
    assert is_unavailable(err) is (kind is K.UNAVAILABLE)
    assert is_transient(err) is kind.retry
    assert is_duplicate(err) is (kind is K.DUPLICATE)
    if kind.operator_action and not isinstance(err, DatabaseError):
        assert not_ready_hint(err)
    assert describe(err)

    if not isinstance(err, AnalyticsError) and isinstance(
        err, (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError)
    ):
        with pytest.raises(DatabaseError) as caught, translate("step"):
            raise err
        lib = caught.value
        assert lib.kind is kind and lib.__cause__ is err
        assert isinstance(lib, DatabaseUnavailableError) is (kind is K.UNAVAILABLE)
        assert isinstance(lib, NotMigratedError) is (kind is K.NOT_MIGRATED)
        assert translated("step", err).kind is kind

        read = await _read_kind(err)
        if isinstance(err, TimeoutError):
            # The read layer's fetch(timeout=...) expiring is its own time limit: "ask a
            # smaller question" (TIMEOUT), not "the server is down".
            assert read.kind is K.TIMEOUT
        else:
            assert read.kind is kind and read.__cause__ is err
            assert isinstance(read, DatabaseUnavailableError) is (kind is K.UNAVAILABLE)

        status, body = await _api_answer(read)
        assert (status, body) == database_error(read.kind)
        assert set(body) == {"error", "message"} and body["error"] in ERROR_CODES
        assert "secret_table" not in body["message"]

    outcome = await _writer_outcome(err)
    expected = "retry" if kind.retry else "idempotent" if kind is K.DUPLICATE else "bisect"
    assert outcome == expected, (err, kind, outcome)
    return kind


@pytest.mark.parametrize("state", DRIVER_STATES)
async def test_every_driver_state_has_one_kind_and_every_layer_follows_it(state: str) -> None:
    err = _pg(state)
    kind = await check_layers(err)
    assert kind is (BY_STATE.get(state) or BY_CLASS.get(state[:2], K.INTERNAL))


@pytest.mark.parametrize(("err", "kind"), CLIENT_SIDE, ids=lambda v: type(v).__name__)
async def test_client_side_errors_have_one_kind_and_every_layer_follows_it(
    err: BaseException, kind: ErrorKind
) -> None:
    assert await check_layers(err) is kind


_STATE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@settings(max_examples=300, deadline=None)
@given(
    state=st.text(_STATE_CHARS, min_size=5, max_size=5)
    | st.sampled_from(sorted(BY_CLASS)).flatmap(
        lambda c: st.text(_STATE_CHARS, min_size=3, max_size=3).map(lambda r: c + r)
    ),
    message=st.text(max_size=80),
)
def test_any_sqlstate_has_exactly_one_kind_and_every_layer_follows_it(
    state: str, message: str
) -> None:
    err = _pg(state, message)
    kind = asyncio.run(check_layers(err))
    if state != "08P01":
        assert kind is (BY_STATE.get(state) or BY_CLASS.get(state[:2], K.INTERNAL))


def test_every_kind_has_an_http_answer_with_a_known_code() -> None:
    assert set(DATABASE_ERRORS) == set(ErrorKind)
    for kind in ErrorKind:
        status, body = database_error(kind)
        assert body["error"] in ERROR_CODES and 400 <= status < 600


async def test_the_read_side_says_unavailable_for_an_overloaded_or_stopping_server() -> None:
    """Named in the issue: ``read._common._fetch`` turned these into a plain
    ``DatabaseError`` while ``_db.translate`` said unavailable."""
    for cls in (asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError):
        read = await _read_kind(cls("server says no"))
        assert isinstance(read, DatabaseUnavailableError), (cls, read)


async def test_a_poolers_prepared_statement_clash_is_retried_not_dead_lettered() -> None:
    """Behind PgBouncer in transaction mode the worker met 42P05/26000 on good rows and
    bisected them into dead letters (or lost them at its deadline): they are the
    session's state, not the rows'."""
    for cls in (asyncpg.DuplicatePreparedStatementError, asyncpg.InvalidSQLStatementNameError):
        assert await _writer_outcome(cls("prepared statement exists")) == "retry"


def _package_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    root = lib_analytics_core.__path__
    for info in pkgutil.walk_packages(root, prefix="lib_analytics_core."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def test_every_library_exception_derives_from_analytics_error() -> None:
    """``_errors.py`` promises one root; the collector's ``Unavailable``, the HTTP sink's
    ``CollectorRefused`` and the API's ``Unauthorized`` did not keep it."""
    classes = _package_exceptions()
    assert len(classes) > 10
    strays = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, AnalyticsError)
    ]
    assert strays == []
