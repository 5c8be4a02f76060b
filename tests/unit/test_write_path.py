"""One write path (issue 28, item 3): the collector stores what the worker stores, and
the bus consumer's attempts, failure accounting and backoff are the delivery policy's.

The collector's rows are compared with the worker's byte for byte, over events
hypothesis draws (every field shape a client sends, services and user ids in and out
of the columns, events at and over ``max_event_bytes``): a second encoder that drifts
from ``RowEncoder`` (a key order, the ``_meta`` splice, a refusal rule) fails here.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib_analytics_core import (
    AnalyticsConfig,
    ApiRequest,
    ApplicationError,
    AuthLoginAttempt,
    TaskCreated,
)
from lib_analytics_core._config import ClientMetadata
from lib_analytics_core.collect.delivery import CollectorDelivery
from lib_analytics_core.events.base import Event
from lib_analytics_core.ingest.encoding import EnrichedEvent, RowEncoder
from lib_analytics_core.ingest.pipeline import build_pipeline
from lib_analytics_core.ingest.rows import Rejected, Row
from lib_analytics_core.ingest.stop import Stop
from tests._faults import SeqEvent
from tests.unit._fakes import FakeClock, FakeSink

_text = st.text(max_size=40)
_user = st.none() | st.uuids()
_duration = st.integers(0, 10**6) | st.floats(0, 10**6, allow_nan=False)
_events: st.SearchStrategy[Event] = st.one_of(
    st.builds(TaskCreated, task_id=st.uuids(), user_id=st.uuids(), command=_text),
    st.builds(
        ApiRequest,
        service=st.sampled_from(["", "api", "svc.é"]) | _text,
        method=st.sampled_from(["GET", "POST"]),
        endpoint=_text,
        status_code=st.integers(100, 599),
        duration_ms=_duration,
        user_id=_user,
    ),
    st.builds(
        ApplicationError,
        service=_text,
        error_type=_text,
        message=st.text(max_size=400),
        user_id=_user,
    ),
    st.builds(
        AuthLoginAttempt, success=st.booleans(), method=_text, user_id=_user, email=st.none()
    ),
    st.builds(SeqEvent, run=_text, seq=st.integers(0, 10**9)),
)


def _worker_encoder(max_event_bytes: int, host: str, env: str | None) -> RowEncoder:
    return RowEncoder(
        AnalyticsConfig(
            service_name="client-svc",
            hostname=host,
            environment=env,
            max_event_bytes=max_event_bytes,
            before_track=None,
        )
    )


def _collector(max_event_bytes: int) -> CollectorDelivery:
    settings = AnalyticsConfig(service_name="analytics-collect", max_event_bytes=max_event_bytes)
    return CollectorDelivery(build_pipeline(settings, sink=FakeSink(FakeClock()), spool=False))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(_events, min_size=1, max_size=12),
    max_event_bytes=st.sampled_from([150, 300, 1_000_000]),
    host=st.sampled_from(["web-1", "h\u00e9te"]),
    env=st.none() | st.sampled_from(["prod", "staging"]),
)
def test_the_collectors_rows_are_the_workers_byte_for_byte(
    events: list[Event], max_event_bytes: int, host: str, env: str | None
) -> None:
    worker = _worker_encoder(max_event_bytes, host, env).encode(
        [(time.time_ns() + i, e) for i, e in enumerate(events)]
    )
    # The collector gets the same events with the worker's ids, times and row services
    # (the collector's own come from the request; here they are made to agree). The
    # worker's ids increase in tracking order, so sorting by id pairs each outcome
    # with its event.
    outcomes: list[Any] = sorted(
        [*worker.rows, *worker.rejected],
        key=lambda r: r.event_id if isinstance(r, Rejected) else r[1],
    )
    assert len(outcomes) == len(events)
    enriched: list[Any] = []
    for index, (event, got) in enumerate(zip(events, outcomes, strict=True)):
        if isinstance(got, Rejected):
            timestamp, event_id, service = got.timestamp, got.event_id, got.service
        else:
            timestamp, event_id, service = got[0], got[1], got[3]
        meta = ClientMetadata(service=service, hostname=host, environment=env)
        enriched.append(
            (
                index,
                EnrichedEvent(event=event, timestamp=timestamp, event_id=event_id, metadata=meta),
                service,
                b"",
            )
        )
    collector = _collector(max_event_bytes).encode(enriched)
    assert collector.rows == worker.rows  # every column, ``data`` to the byte
    assert collector.indices == [
        i for i, got in enumerate(outcomes) if not isinstance(got, Rejected)
    ]
    assert [reason for _, reason in collector.refused] == [r.error for r in worker.rejected]


def test_the_collector_stores_the_workers_data_for_an_event_sent_over_http() -> None:
    """What the request's JSON becomes: the event's fields without the copies its
    ``user_id``/``service`` columns hold, then ``_meta`` with the sender's host."""
    user = uuid.UUID(int=7)
    event = ApiRequest(
        service="api", method="GET", endpoint="/t", status_code=200, duration_ms=1.5, user_id=user
    )
    meta = ClientMetadata(service="api", hostname="web-1", environment=None)
    t = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    enriched = (
        0,
        EnrichedEvent(event=event, timestamp=t, event_id=user, metadata=meta),
        "api",
        b"",
    )
    [row] = _collector(1_000_000).encode([enriched]).rows
    assert row[2:5] == ("api_request", "api", user)
    assert msgspec.json.decode(row[5]) == {
        "method": "GET",
        "endpoint": "/t",
        "status_code": 200,
        "duration_ms": 1.5,
        "_meta": {"host": "web-1"},
    }


# -- the bus consumer's single attempt: the policy's ---------------------------------------


async def test_an_attempt_stores_rows_then_dead_letters_and_counts_only_when_settled() -> None:
    clock = FakeClock()
    sink = FakeSink(clock, refuse=lambda row: row[2] == "bad")
    parts = build_pipeline(AnalyticsConfig(), sink=sink, clock=clock, spool=False)
    t = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows: list[Row] = [
        (t, uuid.UUID(int=1), "good", "s", None, "{}"),
        (t, uuid.UUID(int=2), "bad", "s", None, "{}"),
    ]
    producer_letter = Rejected(t, uuid.UUID(int=3), "x", "s", "{}", "producer refused")
    written, letters = await parts.policy.attempt(
        rows, [producer_letter], redelivery=False, stop=Stop()
    )
    assert (written, letters) == (1, 2)
    assert [r[1] for r in sink.stored] == [uuid.UUID(int=1)]
    assert {r.event_id for r in sink.dead} == {uuid.UUID(int=2), uuid.UUID(int=3)}
    assert parts.counters.written == 0  # not until the caller has settled (acked) them
    parts.policy.succeeded(written, letters)
    assert (parts.counters.written, parts.counters.rejected, parts.counters.batches) == (1, 2, 1)


async def test_an_attempt_whose_dead_letters_fail_raises_so_nothing_is_acknowledged() -> None:
    """Unlike the worker's own deliveries (dead letters kept in memory), a consumer's
    source still holds the messages: the failure must reach it, to nak, not ack."""
    clock = FakeClock()
    sink = FakeSink(clock, dead_letters_fail=True)
    parts = build_pipeline(AnalyticsConfig(), sink=sink, clock=clock, spool=False)
    t = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    letter = Rejected(t, uuid.UUID(int=3), "x", "s", "{}", "refused")
    with pytest.raises(ConnectionError):
        await parts.policy.attempt([], [letter], redelivery=True, stop=Stop())
    assert parts.counters.rejected == 0 and parts.counters.batches == 0


def test_failures_back_off_on_the_policys_schedule() -> None:
    """The delay a consumer naks with is the policy's backoff (one schedule for every
    writer): doubling from ``initial_backoff_secs`` to ``max_backoff_secs``, jittered
    between half and all of it, counted as a failed write."""
    settings = AnalyticsConfig(initial_backoff_secs=0.5, max_backoff_secs=4.0)
    clock = FakeClock()
    parts = build_pipeline(settings, sink=FakeSink(clock), clock=clock, spool=False)
    delays = [parts.policy.failed(ConnectionError("down"), 10) for _ in range(6)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(4.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert parts.policy.backoff.failures == 6
    assert parts.counters.retried == 6 and not parts.counters.last_write_ok
