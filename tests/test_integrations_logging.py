"""ApplicationError from logging and exception hooks, rate-limited, stored for real."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from lib_analytics_core.integrations._token_bucket import KeyedTokenBucket
from lib_analytics_core.integrations.logging import (
    AnalyticsLogHandler,
    error_type_of,
    install_excepthooks,
)
from tests._integrations import rows, tracking

USER = uuid.UUID("0190a0b0-0000-7000-8000-0000000000e1")


class FakeClock:
    """A monotonic clock the test advances by hand: rate limits without wall-clock time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class PaymentDeclinedError(Exception):
    pass


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    log = logging.getLogger(f"itest.app.{uuid.uuid4().hex[:6]}")
    log.propagate = False
    yield log
    for h in list(log.handlers):
        log.removeHandler(h)


async def test_error_storm_is_rate_limited_per_error_type(
    database_url: str, db: asyncpg.Connection, app_logger: logging.Logger
) -> None:
    clock = FakeClock()

    def drive() -> int:
        with tracking(database_url) as (client, _):
            handler = AnalyticsLogHandler(client, burst=5, rate_per_sec=2.0, clock=clock)
            app_logger.addHandler(handler)
            for i in range(1000):  # the storm: 1000 identical errors at one instant
                try:
                    raise PaymentDeclinedError(f"card {i} declined")
                except PaymentDeclinedError:
                    app_logger.exception("payment failed", extra={"user_id": USER})
            for _ in range(50):  # another error type has its own bucket
                try:
                    raise KeyError("missing")
                except KeyError:
                    app_logger.error("lookup failed", exc_info=True, extra={"endpoint": "/pay"})
            app_logger.warning("below ERROR: not tracked")
            app_logger.error("plain error without exception")
            clock.now += 1.5  # 3 tokens refilled for each type
            for _ in range(10):
                try:
                    raise PaymentDeclinedError("later")
                except PaymentDeclinedError:
                    app_logger.exception("payment failed again")
            return handler.suppressed

    suppressed = await asyncio.to_thread(drive)
    stored = await rows(db, "application_error")
    payment = error_type_of(PaymentDeclinedError)
    counts: dict[str, int] = {}
    for r in stored:
        counts[r["data"]["error_type"]] = counts.get(r["data"]["error_type"], 0) + 1
    assert counts == {payment: 5 + 3, "KeyError": 5, f"log:{app_logger.name}": 1}
    assert suppressed == (1000 - 5) + (50 - 5) + (10 - 3)
    first = stored[0]
    assert first["data"]["message"] == "payment failed"
    assert first["data"]["severity"] == "error"
    assert first["user_id"] == USER
    assert first["service"] == "itest"
    key_errors = [r for r in stored if r["data"]["error_type"] == "KeyError"]
    assert {r["data"]["endpoint"] for r in key_errors} == {"/pay"}


def test_token_bucket_bounds_keys_and_refills() -> None:
    clock = FakeClock()
    bucket = KeyedTokenBucket(rate_per_sec=1.0, burst=2, max_keys=3, clock=clock)
    assert [bucket.allow("a") for _ in range(3)] == [True, True, False]
    clock.now += 1.0
    assert [bucket.allow("a") for _ in range(2)] == [True, False]
    # Beyond max_keys, new keys share one overflow bucket (memory stays bounded).
    assert bucket.allow("b") and bucket.allow("c")
    assert [bucket.allow(f"k{i}") for i in range(4)] == [True, True, False, False]
    assert bucket.suppressed == 4
    with pytest.raises(ValueError, match="burst"):
        KeyedTokenBucket(rate_per_sec=1.0, burst=0)


async def test_own_records_are_ignored(database_url: str, db: asyncpg.Connection) -> None:
    def drive() -> None:
        with tracking(database_url) as (client, _):
            handler = AnalyticsLogHandler(client)
            own = logging.getLogger("lib_analytics_core.integrations")
            own.addHandler(handler)
            try:
                own.error("the library's own error must not feed back")
            finally:
                own.removeHandler(handler)

    await asyncio.to_thread(drive)
    assert await rows(db, "application_error") == []


async def test_excepthooks_record_uncaught_exceptions(
    database_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(sys, "excepthook", lambda t, e, tb: seen.append(f"sys:{e}"))
    monkeypatch.setattr(
        threading, "excepthook", lambda args: seen.append(f"thread:{args.exc_value}")
    )

    def drive() -> None:
        with tracking(database_url, service_name="cron") as (client, _):
            uninstall = install_excepthooks(client)
            try:
                try:
                    raise PaymentDeclinedError("main thread died")
                except PaymentDeclinedError as err:
                    sys.excepthook(type(err), err, err.__traceback__)

                def worker() -> None:
                    raise ValueError("worker thread died")

                t = threading.Thread(target=worker)
                t.start()
                t.join()
                sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
            finally:
                uninstall()
            assert sys.excepthook is not None

    await asyncio.to_thread(drive)
    stored = await rows(db, "application_error")
    assert sorted((r["data"]["error_type"], r["data"]["message"]) for r in stored) == sorted(
        [
            (error_type_of(PaymentDeclinedError), "main thread died"),
            ("ValueError", "worker thread died"),
        ]
    )
    assert {r["data"]["severity"] for r in stored} == {"critical"}
    assert {r["service"] for r in stored} == {"cron"}
    # The previous hooks still ran (tracebacks still printed), KeyboardInterrupt too.
    assert seen == ["sys:main thread died", "thread:worker thread died", "sys:"]
