"""The HTTP collector against a real PostgreSQL: the seed's wire format, per-event
validation, write tokens, limits, durable acks and exactly-once retries."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from lib_analytics_core import (
    AnalyticsClient,
    AnalyticsWorker,
    ApiRequest,
    Event,
    ProjectUpdated,
    TaskCreated,
)
from tests._collect import (
    AUTH,
    OTHER_TOKEN,
    T0,
    collector,
    envelope,
    seed_batch,
    seed_events,
)
from tests._faults import database_name, server_address
from tests._proxy import fault_proxy

ROWS_SQL = (
    "SELECT timestamp, event_type, service, user_id, data::text AS data "
    "FROM analytics_events ORDER BY timestamp, event_type"
)


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}/events/batch",
            content=content,
            headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)},
        )


async def count(db: asyncpg.Connection, table: str = "analytics_events") -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))


def task(i: int) -> TaskCreated:
    return TaskCreated(task_id=uuid.UUID(int=i + 1), user_id=uuid.UUID(int=7), command=f"c{i}")


# ----------------------------------------------------------------------------- done when


async def test_all_29_seed_types_store_the_same_rows_and_data_as_track(
    database_url: str, db: asyncpg.Connection
) -> None:
    """The "Done when" test: the seed's exact wire format, all 29 event types, stored
    with the same rows and ``data`` as ``track()`` of the same events."""
    events = seed_events()
    assert len(events) == 29
    # track(): the same events at the same instants, the seed client's metadata.
    client, cfg = AnalyticsClient.new(
        batch_size=1000,
        flush_interval_secs=3600,
        service_name="platform",
        hostname="web-1",
        environment="production",
    )
    worker = AnalyticsWorker(cfg, database_url)
    for i, event in enumerate(events):
        client.track_at(event, T0 + dt.timedelta(milliseconds=i))
    report = await worker.shutdown(timeout=30)
    assert report.written == 29
    tracked = [dict(r) for r in await db.fetch(ROWS_SQL)]
    await db.execute("TRUNCATE analytics_events")

    with collector(database_url) as url:
        response = await post(url, seed_batch())
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 29, "rejected": []}
    collected = [dict(r) for r in await db.fetch(ROWS_SQL)]
    assert len(collected) == 29
    for want, got in zip(tracked, collected, strict=True):
        assert got["timestamp"] == want["timestamp"]
        assert got["event_type"] == want["event_type"]
        assert got["service"] == want["service"]
        assert got["user_id"] == want["user_id"]
        assert msgspec.json.decode(got["data"]) == msgspec.json.decode(want["data"])
    assert collected == tracked


# ------------------------------------------------------------------------ validation


async def test_bad_events_are_refused_with_index_and_reason_and_the_rest_stored(
    database_url: str, db: asyncpg.Connection
) -> None:
    good = [envelope(task(i), T0 + dt.timedelta(seconds=i)) for i in range(3)]
    unknown = {**good[0], "event": {"type": "no_such_event", "x": 1}}
    missing = {**good[0], "event": {"type": "task_created", "task_id": str(uuid.uuid4())}}
    mistyped = {**good[0], "event": {**good[0]["event"], "command": 5}}
    out_of_range = envelope(
        ApiRequest(service="api", method="GET", endpoint="/", status_code=200, duration_ms=1),
        T0,
    )
    out_of_range["event"]["duration_ms"] = -1
    naive_time = {**good[1], "timestamp": "2026-11-20T12:00:00"}
    too_deep = {**good[2], "event": {**good[2]["event"], "extra": "DEEP"}}
    body = [good[0], unknown, missing, good[1], mistyped, out_of_range, naive_time, too_deep]
    body.append(good[2])
    # Nested far beyond any decoder's recursion limit (msgspec cannot even encode it).
    raw = msgspec.json.encode(body).replace(b'"DEEP"', b"[" * 100_000 + b"]" * 100_000)
    with collector(database_url) as url:
        response = await post(url, raw)
        assert (await post(url, raw, {})).status_code == 401
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/stats")).status_code == 401
            stats = (await http.get(f"{url}/stats", headers=AUTH)).json()
    # every answer and every event accounted for
    assert stats["responses"] == {"200": 1, "401": 1}
    assert stats["events_received"] + stats["events_rejected"] == len(body)
    assert stats["rows_written"] == 3 and stats["dead_lettered"] == 6
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["received"] == 3
    reasons = {r["index"]: r for r in result["rejected"]}
    assert sorted(reasons) == [1, 2, 4, 5, 6, 7]
    assert "no_such_event" in reasons[1]["reason"]
    assert "user_id" in reasons[2]["reason"] and reasons[2]["type"] == "task_created"
    assert "command" in reasons[4]["reason"]
    assert "duration_ms" in reasons[5]["reason"] and reasons[5]["type"] == "api_request"
    assert "timestamp" in reasons[6]["reason"] or "datetime" in reasons[6]["reason"]
    assert "deep" in reasons[7]["reason"]
    assert await count(db) == 3
    # Every refusal is visible to operators too, not only to the client.
    assert await count(db, "analytics_dead_letters") == 6


async def test_stats_show_the_group_writes_and_the_time_the_writer_was_busy(
    database_url: str, db: asyncpg.Connection
) -> None:
    """``group_commits`` counts group writes (a request whose events are all refused
    writes none); ``write_busy_seconds`` is the wall time they were in flight, so it
    grows with each write and never exceeds the time the requests took."""
    unknown = {**envelope(task(0), T0), "event": {"type": "no_such_event", "x": 1}}
    with collector(database_url) as url:
        async with httpx.AsyncClient() as http:
            before = (await http.get(f"{url}/stats", headers=AUTH)).json()
        started = time.perf_counter()
        busy = []
        for i in range(3):
            body = [envelope(task(2 * i + k), T0 + dt.timedelta(seconds=2 * i + k)) for k in (0, 1)]
            assert (await post(url, body)).json()["received"] == 2
            async with httpx.AsyncClient() as http:
                busy.append((await http.get(f"{url}/stats", headers=AUTH)).json())
        assert (await post(url, [unknown])).json()["received"] == 0
        elapsed = time.perf_counter() - started
        async with httpx.AsyncClient() as http:
            after = (await http.get(f"{url}/stats", headers=AUTH)).json()
    assert await count(db) == 6
    assert before["group_commits"] == 0 and before["write_busy_seconds"] == 0
    assert [s["group_commits"] for s in busy] == [1, 2, 3]
    seconds = [s["write_busy_seconds"] for s in busy]
    assert 0 < seconds[0] < seconds[1] < seconds[2] == after["write_busy_seconds"] < elapsed
    assert after["group_commits"] == 3


async def test_custom_event_classes_registered_in_the_collector_are_accepted(
    database_url: str, db: asyncpg.Connection
) -> None:
    class InvoicePaid(Event):
        invoice_id: uuid.UUID
        amount_cents: int
        user_id: uuid.UUID | None = None

    event = InvoicePaid(invoice_id=uuid.uuid4(), amount_cents=1250)
    bad = envelope(event, T0)
    bad["event"]["amount_cents"] = 2**63  # beyond bigint: the checker's own bound
    with collector(database_url) as url:
        response = await post(url, [envelope(event, T0), bad])
    assert response.status_code == 200
    assert response.json()["received"] == 1
    assert [r["index"] for r in response.json()["rejected"]] == [1]
    row = await db.fetchrow("SELECT event_type, data FROM analytics_events")
    assert row is not None and row["event_type"] == "invoice_paid"


async def test_a_body_that_is_not_an_array_is_400(database_url: str) -> None:
    with collector(database_url) as url:
        assert (await post(url, b'{"timestamp": 1}')).status_code == 400
        assert (await post(url, b"[{")).status_code == 400


# ------------------------------------------------------------------------------ tokens


async def test_tokens_401_403_first_service_and_the_anonymous_opt_in(
    database_url: str, db: asyncpg.Connection
) -> None:
    batch = [envelope(task(0), T0)]
    with collector(database_url) as url:
        assert (await post(url, batch, {})).status_code == 401
        assert (
            await post(url, batch, {"Authorization": "Bearer wrong-token-xxxxxxxx"})
        ).status_code == 401
        assert (
            await post(url, batch, {"Authorization": f"Basic {OTHER_TOKEN}"})
        ).status_code == 401
        # The other token may write "billing" only: ApiRequest names "api".
        api = ApiRequest(service="api", method="GET", endpoint="/", status_code=200, duration_ms=1)
        other = {"Authorization": f"Bearer {OTHER_TOKEN}"}
        forbidden = await post(url, [envelope(task(1), T0), envelope(api, T0)], other)
        assert forbidden.status_code == 403 and "event 1" in forbidden.json()["message"]
        assert await count(db) == 0  # authorisation comes before anything is stored
        # The envelope's own service (this project's extension) is checked as well.
        assert (await post(url, [envelope(task(1), T0, service="api")], other)).status_code == 403
        ok = await post(url, [envelope(task(2), T0)], other)
        assert ok.status_code == 200
        assert (await post(url, [envelope(api, T0)])).status_code == 200
    services = [
        r["service"]
        for r in await db.fetch("SELECT service FROM analytics_events ORDER BY service")
    ]
    assert services == ["api", "billing"]  # no own service: the token's first one

    with collector(database_url, tokens="", anonymous_service="legacy") as url:
        assert (await post(url, [envelope(task(3), T0)], {})).status_code == 200
        # A wrong token is still refused: the opt-in is for clients that send none.
        assert (
            await post(url, batch, {"Authorization": "Bearer nope-nope-nope-nope"})
        ).status_code == 401
        assert (await post(url, [envelope(api, T0)], {})).status_code == 403
    assert await db.fetchval("SELECT count(*) FROM analytics_events WHERE service='legacy'") == 1


def test_token_table_refuses_weak_or_malformed_entries_without_quoting_them() -> None:
    from lib_analytics_core import ConfigurationError
    from lib_analytics_core.collect.tokens import TokenTable

    for spec in ("short=svc", "no-equals-sign-here-xx", "tok-0123456789abcdef=", ""):
        with pytest.raises(ConfigurationError) as err:
            TokenTable.parse(spec)
        assert "short" not in str(err.value) and "no-equals" not in str(err.value)
    table = TokenTable.parse("tok-0123456789abcdef=a|b, tok-fedcba9876543210=*")
    assert "tok-" not in repr(table)
    grant = table.authenticate("Bearer tok-fedcba9876543210")
    assert grant is not None and grant.may_write("anything") and grant.default_service is None
    assert table.authenticate("Bearer tok-0123456789abcdeX") is None
    assert table.authenticate(None) is None


# ------------------------------------------------------------------------------ limits


async def test_body_size_batch_size_and_rate_limits(
    database_url: str, db: asyncpg.Connection
) -> None:
    batch = [envelope(task(i), T0 + dt.timedelta(seconds=i)) for i in range(10)]
    with collector(
        database_url,
        max_body_bytes=2000,
        max_events=5,
        rate_events_per_sec=1.0,
        rate_burst_events=8,
    ) as url:
        too_big = await post(url, batch)
        assert too_big.status_code == 413
        assert (await post(url, batch[:1] + [1] * 5)).status_code == 413  # 6 elements > 5
        assert (await post(url, batch[:4])).status_code == 200
        assert (await post(url, batch[4:8])).status_code == 200
        limited = await post(url, batch[8:10])
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
    assert await count(db) == 8


# ----------------------------------------------------------------- durability, retries


async def test_a_retried_batch_is_stored_once_with_and_without_event_ids(
    database_url: str, db: asyncpg.Connection
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    with_ids = [envelope(task(i), T0, event_id=ids[i]) for i in range(5)]
    without = [envelope(task(i), T0 + dt.timedelta(seconds=1)) for i in range(5)]
    with collector(database_url) as url:
        for _ in range(3):
            for body in (with_ids, without):
                response = await post(url, body)
                assert response.json() == {"received": 5, "rejected": []}
        # The same content with keys reordered and spaces added is the same event.
        reordered = [{k: e[k] for k in reversed(list(e))} for e in without]
        assert (
            await post(url, msgspec.json.encode(reordered).replace(b",", b", "))
        ).status_code == 200
    assert await count(db) == 10
    stored = {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM analytics_events")}
    assert set(ids) <= stored


async def test_unknown_outcome_write_then_client_retry_is_exactly_once(
    database_url: str, db: asyncpg.Connection
) -> None:
    """The database commits but the collector never hears it (the proxy drops the
    reply and cuts the connection) twice in a row: the collector answers 503 (it cannot
    know), the client retries, and every event is stored exactly once."""
    host, port = server_address(database_url)
    name = database_name(database_url)
    batch = [envelope(task(i), T0 + dt.timedelta(seconds=i)) for i in range(20)]
    with fault_proxy(host, port) as proxy, collector(proxy.dsn(name)) as url:
        proxy.cut_after_commit(times=2)
        first = await post(url, batch)
        assert first.status_code == 503 and first.headers["Retry-After"]
        assert proxy.commits_cut == 2
        assert await count(db) == 20  # stored, though nobody could be told
        second = await post(url, batch)
        assert second.json() == {"received": 20, "rejected": []}
        proxy.cut_after_commit(times=1)  # one lost reply: the collector's own retry
        third = await post(url, batch)
        assert third.status_code == 200
    assert await count(db) == 20


async def test_database_down_is_503_without_spool_and_200_fsynced_with_one(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    host, port = server_address(database_url)
    name = database_name(database_url)
    batch = [envelope(task(i), T0 + dt.timedelta(seconds=i)) for i in range(10)]
    with fault_proxy(host, port) as proxy:
        proxy.set_mode("refuse")
        with collector(proxy.dsn(name)) as url:
            down = await post(url, batch)
            assert down.status_code == 503 and int(down.headers["Retry-After"]) >= 1
        # A spool without room for the batch is no spool: still 503, nothing claimed.
        with collector(proxy.dsn(name), spool_dir=tmp_path / "full", spool_max_bytes=64) as url:
            full = await post(url, batch)
            assert full.status_code == 503 and int(full.headers["Retry-After"]) >= 1
        with collector(proxy.dsn(name), spool_dir=tmp_path / "spool") as url:
            spooled = await post(url, batch)
            assert spooled.json() == {"received": 10, "rejected": []}
            assert any((tmp_path / "spool").iterdir())
            assert await count(db) == 0
            proxy.set_mode("pass")
            for _ in range(600):  # the replay loop runs every second; wait on the rows
                if await count(db) == 10:
                    break
                await asyncio.sleep(0.1)
            assert await count(db) == 10
            # A retry of the spooled batch after the replay is still one copy.
            assert (await post(url, batch)).status_code == 200
            async with httpx.AsyncClient() as http:
                stats = (await http.get(f"{url}/stats", headers=AUTH)).json()
            assert stats["rows_spooled"] == stats["rows_replayed"] == 10
    assert await count(db) == 10


async def test_health(database_url: str) -> None:
    with collector(database_url) as url:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{url}/health")
    assert response.json() == {"status": "ok"}


async def test_project_updated_list_field_round_trips(
    database_url: str, db: asyncpg.Connection
) -> None:
    event = ProjectUpdated(project_id=uuid.uuid4(), user_id=uuid.uuid4(), changed_fields=["a", "b"])
    with collector(database_url) as url:
        assert (await post(url, [envelope(event, T0)])).json()["received"] == 1
    data = await db.fetchval("SELECT data::text FROM analytics_events")
    assert msgspec.json.decode(data)["changed_fields"] == ["a", "b"]


async def test_a_value_the_database_refuses_is_that_events_reject_in_a_group_commit(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Concurrent requests share one INSERT (group commit); a value jsonb cannot hold
    (NUL) is isolated by the writer's bisection and answered as *that* request's
    reject at *its* index; every other event of every request is stored."""
    bodies = []
    for r in range(8):
        batch = [
            envelope(task(r * 100 + i), T0 + dt.timedelta(seconds=r, microseconds=i))
            for i in range(20)
        ]
        if r % 2 == 0:
            batch[r]["event"]["command"] = "nul\x00byte"
        bodies.append(batch)
    with collector(database_url) as url:
        responses = await asyncio.gather(*(post(url, b) for b in bodies))
    for r, response in enumerate(responses):
        result = response.json()
        if r % 2 == 0:
            assert result["received"] == 19
            assert [x["index"] for x in result["rejected"]] == [r]
            assert "database" in result["rejected"][0]["reason"]
        else:
            assert result == {"received": 20, "rejected": []}
    assert await count(db) == 8 * 20 - 4
    assert await count(db, "analytics_dead_letters") == 4


async def test_the_privacy_policy_runs_before_the_id_is_derived(
    database_url: str, db: asyncpg.Connection
) -> None:
    """The default policy drops AuthLoginAttempt.email as track() does, and the content
    id is derived after it: two sends differing only in the email are one event."""
    from lib_analytics_core import AuthLoginAttempt

    a = AuthLoginAttempt(success=True, method="password", email="a@example.com")
    b = AuthLoginAttempt(success=True, method="password", email="b@example.com")
    with collector(database_url) as url:
        assert (await post(url, [envelope(a, T0)])).json()["received"] == 1
        assert (await post(url, [envelope(b, T0)])).json()["received"] == 1
    rows = await db.fetch("SELECT data::text AS data FROM analytics_events")
    assert len(rows) == 1 and "example.com" not in rows[0]["data"]
