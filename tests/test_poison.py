"""Poison rows and unstorable dead letters, on the real server kinds (issue 19).

One row the database refuses with a SQLSTATE outside the "data exception" classes (a
JSON document nested 100,000 deep: 54001, stack depth) must not freeze the bus: the
good rows fetched with it are stored exactly once, the poison is dead-lettered with its
reason, and the consumer settles (nothing pending, nothing awaiting an ack). The same
for a 300-character ``event_type`` and a 6 MB row. A dead letter whose fields hold what
``text`` refuses (a NUL, in any field including ``sqlstate``; a lone surrogate) is made
storable, not redelivered forever.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from lib_analytics_core import AnalyticsConfig
from lib_analytics_core.bus.stream import setup_bus
from lib_analytics_core.ingest.encoding import Rejected, Row
from lib_analytics_core.ingest.sinks.nats import NatsSink
from lib_analytics_core.ingest.sinks.postgres import PostgresSink
from tests._bus import bus_for, running_ingest, seq_rows, wait_drained
from tests._faults import assert_exactly_once
from tests._nats import NatsServer, nats_server

DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON; PostgreSQL's parser hits 54001


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with nats_server() as s:
        yield s


def poisoned(row: Row, *, data: str | None = None, event_type: str | None = None) -> Row:
    return (row[0], row[1], event_type or row[2], row[3], row[4], data or row[5])


def poison_rows(run: str) -> tuple[list[Row], list[Row], Row]:
    """3,000 good rows of ``run``, two rows PostgreSQL refuses (54001, 22001), and a
    6 MB row (storable in PostgreSQL; larger than a bus message may be)."""
    good = seq_rows(run, 3000)
    base = seq_rows("poison", 3)
    bad = [poisoned(base[0], data=DEEP), poisoned(base[1], event_type="t" * 300)]
    big = poisoned(base[2], data='{"pad": "' + "x" * (6 * 1024 * 1024) + '"}')
    return good, bad, big


async def dead_letter_ids(db: asyncpg.Connection) -> set[uuid.UUID]:
    return {r["event_id"] for r in await db.fetch("SELECT event_id FROM analytics_dead_letters")}


async def test_poison_rows_are_dead_lettered_by_the_direct_path_and_the_rest_stored(
    database_url: str, db: asyncpg.Connection
) -> None:
    good, bad, big = poison_rows("direct-poison")
    rows = good[:1000] + bad + [big] + good[1000:]
    sink = PostgresSink(AnalyticsConfig(), database_url)
    try:
        outcome = await sink.deliver(rows, redelivery=False, timeout=60)
        await sink.dead_letter(outcome.refused, timeout=60)
    finally:
        await sink.close()
    assert sorted(r.event_id for r in outcome.refused) == sorted(r[1] for r in bad)
    assert outcome.delivered == 3001
    await assert_exactly_once(db, "direct-poison", 3000)
    assert await db.fetchval("SELECT count(*) FROM analytics_events WHERE event_id = $1", big[1])
    assert await dead_letter_ids(db) == {r[1] for r in bad}
    states = {r["sqlstate"] for r in await db.fetch("SELECT sqlstate FROM analytics_dead_letters")}
    assert states == {"54001", "22001"}


@pytest.mark.slow
async def test_poison_rows_do_not_freeze_the_bus(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    """Measured on the old code: the messages fetched with the poison were nak'ed
    together forever (ack_pending 8), 150-200 good events never stored."""
    bus = bus_for(server.url)
    await setup_bus(bus)
    good, bad, big = poison_rows("bus-poison")
    poison = {3: [bad[0]], 11: [bad[1]], 20: [big]}
    sink = NatsSink(bus)
    try:
        for i in range(0, 3000, 100):  # one message per call: 30 good messages
            await sink.deliver(good[i : i + 100], redelivery=False, timeout=30)
            if i // 100 in poison:  # a poison row in a message of its own
                outcome = await sink.deliver(poison[i // 100], redelivery=False, timeout=30)
                if outcome.refused:  # too large for the bus: a producer dead letter
                    await sink.dead_letter(outcome.refused, timeout=30)
    finally:
        await sink.close()
    bad = [*bad, big]
    async with running_ingest(database_url, bus) as service:
        await wait_drained(bus, limit=90)
        stats = service.stats()
    await assert_exactly_once(db, "bus-poison", 3000)
    assert await dead_letter_ids(db) == {r[1] for r in bad}
    assert stats.rows_written == 3000 and stats.dead_lettered == 3, stats
    assert stats.healthy, stats


def _hostile_rejected(sqlstate: str | None) -> Rejected:
    return Rejected(
        dt.datetime.now(dt.UTC),
        uuid.uuid4(),
        "nul\x00type\udc80",
        "svc\x00",
        "payload \x00 with a NUL and a lone surrogate \udcff",
        "error \x00 text",
        sqlstate,
    )


@pytest.mark.parametrize("sqlstate", ["\x00", "2\x00021", "\udc80", "x" * 300])
async def test_a_dead_letter_with_unstorable_fields_is_stored_by_the_direct_path(
    database_url: str, db: asyncpg.Connection, sqlstate: str
) -> None:
    sink = PostgresSink(AnalyticsConfig(), database_url)
    refused = _hostile_rejected(sqlstate)
    try:
        await sink.dead_letter([refused], timeout=30)
    finally:
        await sink.close()
    row = await db.fetchrow("SELECT * FROM analytics_dead_letters")
    assert row is not None and row["event_id"] == refused.event_id
    assert "\x00" not in row["sqlstate"] and "\x00" not in row["payload"]


@pytest.mark.slow
async def test_a_nul_in_a_dead_letters_sqlstate_does_not_loop_on_the_bus(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    refused = _hostile_rejected("\x00")
    sink = NatsSink(bus)
    try:
        await sink.dead_letter([refused], timeout=30)
        await sink.deliver(seq_rows("after-nul", 50), redelivery=False, timeout=30)
    finally:
        await sink.close()
    async with running_ingest(database_url, bus) as service:
        await wait_drained(bus, limit=60)
        stats = service.stats()
    assert await dead_letter_ids(db) == {refused.event_id}
    await assert_exactly_once(db, "after-nul", 50)
    assert stats.dead_lettered == 1 and stats.healthy, stats
