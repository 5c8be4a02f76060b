"""Hostile events, generated (hypothesis), through the direct path and through the bus.

Arbitrary nesting, sizes, unicode (NUL, lone surrogates, astral planes), numbers
(huge ints, NaN, infinities, -0.0) and custom event classes, tracked with a sequence
number each. Whatever the values, every event ends as exactly one of: stored once, or
dead-lettered with a reason; and an event is dead-lettered only when its JSON really
is unstorable (the oracle below: encoding fails, the JSON holds ``\\u0000``, which
``jsonb`` refuses, or it is larger than ``max_event_bytes``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib_analytics_core import AnalyticsClient, AnalyticsWorker, Event
from lib_analytics_core.bus.stream import setup_bus
from tests._bus import bus_for, running_ingest, wait_drained
from tests._nats import NatsServer, nats_server

MAX_EVENT_BYTES = 64 * 1024


class HostileEvent(Event):
    """A custom event class whose one field holds anything JSON-like."""

    event_type: ClassVar[str] = "hostile_event"
    run: str
    seq: int
    value: Any = None


class HostileNamed(Event):
    """Another custom class, with unicode in a typed field."""

    event_type: ClassVar[str] = "hostile_named"
    run: str
    seq: int
    name: str = ""


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None), max_size=40)
    | st.sampled_from(["\x00", "a\x00b", "\udc80", "\U0001f600", "x" * 70_000])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


_events = st.lists(
    st.one_of(
        st.tuples(st.just("value"), _values),
        st.tuples(st.just("name"), st.text(alphabet=st.characters(codec=None), max_size=30)),
        st.tuples(st.just("deep"), st.sampled_from([10, 200, 5_000])),
    ),
    min_size=1,
    max_size=25,
)


def build(run: str, seq: int, kind: str, arg: Any) -> Event:
    if kind == "name":
        return HostileNamed(run=run, seq=seq, name=arg)
    if kind == "deep":
        return HostileEvent(run=run, seq=seq, value=nested(arg))
    return HostileEvent(run=run, seq=seq, value=arg)


def unstorable(event: Event) -> bool:
    """The oracle: what the database (or the library's size limit) must refuse."""
    try:
        body = msgspec.json.encode(event)
    except Exception:
        return True
    return b"\\u0000" in body or len(body) > MAX_EVENT_BYTES - 200


async def outcome(db: asyncpg.Connection, run: str) -> tuple[list[int], list[str]]:
    """Stored seqs of ``run``, and the errors of every dead letter (the database is
    emptied before each example: an event the encoder refused may not even have a
    ``repr`` to find it by)."""
    stored = [
        int(r["seq"])
        for r in await db.fetch(
            "SELECT (data->>'seq')::int AS seq FROM analytics_events WHERE data->>'run' = $1",
            run,
        )
    ]
    errors = [r["error"] for r in await db.fetch("SELECT error FROM analytics_dead_letters")]
    return stored, errors


async def empty(database_url: str) -> None:
    db = await asyncpg.connect(database_url)
    try:
        await db.execute("DELETE FROM analytics_events; DELETE FROM analytics_dead_letters")
    finally:
        await db.close()


def check(events: list[Event], stored: list[int], errors: list[str]) -> None:
    assert len(stored) == len(set(stored)), "an event stored twice"
    bad = {i for i, e in enumerate(events) if unstorable(e)}
    assert set(stored) == set(range(len(events))) - bad, ("stored", sorted(stored), sorted(bad))
    assert len(errors) == len(bad), ("one dead letter per bad event", errors, sorted(bad))
    assert all(e.strip() for e in errors), "a dead letter without a reason"


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=_events)
def test_hostile_events_through_the_direct_path(database_url: str, specs: list[Any]) -> None:
    run = uuid.uuid4().hex
    events = [build(run, i, kind, arg) for i, (kind, arg) in enumerate(specs)]

    async def go() -> tuple[list[int], list[str]]:
        await empty(database_url)
        client, cfg = AnalyticsClient.new(
            batch_size=10, flush_interval_secs=0.01, max_event_bytes=MAX_EVENT_BYTES
        )
        worker = AnalyticsWorker(cfg, database_url)
        for e in events:
            client.track(e)
        report = await worker.shutdown(60)
        s = worker.stats()
        assert report.lost == 0 and s.dropped == 0
        assert s.written + s.rejected == len(events), s
        db = await asyncpg.connect(database_url)
        try:
            return await outcome(db, run)
        finally:
            await db.close()

    check(events, *asyncio.run(go()))


@pytest.fixture(scope="module")
def bus_server() -> Iterator[NatsServer]:
    with nats_server() as s:
        yield s


@pytest.mark.slow
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=_events)
def test_hostile_events_through_the_bus(
    bus_server: NatsServer, database_url: str, specs: list[Any]
) -> None:
    run = uuid.uuid4().hex
    events = [build(run, i, kind, arg) for i, (kind, arg) in enumerate(specs)]
    bus = bus_for(bus_server.url)

    async def go() -> tuple[list[int], list[str]]:
        await empty(database_url)
        await setup_bus(bus)
        client, cfg = AnalyticsClient.new(
            batch_size=10,
            flush_interval_secs=0.01,
            max_event_bytes=MAX_EVENT_BYTES,
            transport=bus_server.url,
        )
        worker = AnalyticsWorker(cfg)
        for e in events:
            client.track(e)
        report = await worker.shutdown(60)
        assert report.lost == 0
        async with running_ingest(database_url, bus):
            await wait_drained(bus, limit=60)
        db = await asyncpg.connect(database_url)
        try:
            return await outcome(db, run)
        finally:
            await db.close()

    check(events, *asyncio.run(go()))
