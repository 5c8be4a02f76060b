"""The collector's own defects a new user found (issue 28 item 5), each pinned by a test
that failed on the code before its fix: refusals dead-lettered again on every retry,
``/stats`` counting a retry's rows as written twice, fractional ``duration_ms`` refused,
and the middleware storing sub-millisecond requests as 0 ms."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_analytics_core import ApiRequest, TaskCreated
from lib_analytics_core._dburl import with_login
from lib_analytics_core.events.base import decode_event
from lib_analytics_core.events.limits import MAX_DURATION_MS
from tests._collect import AUTH, T0, collector, envelope


async def post(url: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}/events/batch",
            content=msgspec.json.encode(body),
            headers={"Content-Type": "application/json", **AUTH},
        )


async def stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        result: dict[str, Any] = (await http.get(f"{url}/stats", headers=AUTH)).json()
        return result


def task(i: int) -> TaskCreated:
    return TaskCreated(task_id=uuid.UUID(int=i + 1), user_id=uuid.UUID(int=7), command=f"c{i}")


async def test_a_retried_batch_dead_letters_its_refused_events_once(
    database_url: str, db: asyncpg.Connection
) -> None:
    """3 sends of a batch with 3 refused events: 3 dead letters, not 9."""
    good = [envelope(task(i), T0 + dt.timedelta(seconds=i)) for i in range(2)]
    unknown = {**good[0], "event": {"type": "no_such_event", "x": 1}}
    mistyped = {**good[0], "event": {**good[0]["event"], "command": 5}}
    missing = {**good[1], "event": {"type": "task_created"}}
    body = [good[0], unknown, mistyped, good[1], missing]
    with collector(database_url) as url:
        for _ in range(3):
            response = await post(url, body)
            assert response.status_code == 200, response.text
            assert response.json()["received"] == 2
            assert [r["index"] for r in response.json()["rejected"]] == [1, 2, 4]
        counted = await stats(url)
        # The same bad event in another request is another refusal, kept on its own.
        assert (await post(url, [unknown])).status_code == 200
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 2
    assert await db.fetchval("SELECT count(*) FROM analytics_dead_letters") == 4
    assert counted["dead_lettered"] == 3


async def test_stats_rows_written_counts_rows_stored_not_rows_sent(
    database_url: str, db: asyncpg.Connection
) -> None:
    """6 events sent twice: 6 rows exist, so ``rows_written`` is 6 (it was 12)."""
    body = [envelope(task(i), T0 + dt.timedelta(seconds=i)) for i in range(6)]
    with collector(database_url) as url:
        for _ in range(2):
            assert (await post(url, body)).json() == {"received": 6, "rejected": []}
        counted = await stats(url)
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 6
    assert counted["rows_written"] == 6
    assert counted["events_received"] == 12  # both answers said 6 received


def api_request(duration: Any) -> dict[str, Any]:
    event = ApiRequest(service="api", method="GET", endpoint="/", status_code=200, duration_ms=1)
    sent = envelope(event, T0)
    sent["event"]["duration_ms"] = duration
    return sent


async def test_a_fractional_duration_ms_is_accepted_and_stored_with_its_fraction(
    database_url: str, db: asyncpg.Connection
) -> None:
    """``performance.now()`` gives 1234.5: accepted, stored as sent, aggregated as a
    number; an integer stays an integer (old rows and their content ids unchanged)."""
    body = [api_request(1234.5), api_request(0.25), api_request(7)]
    body[1]["timestamp"] = "2026-11-20T12:00:01Z"
    body[2]["timestamp"] = "2026-11-20T12:00:02Z"
    with collector(database_url) as url:
        response = await post(url, body)
        refused = await post(url, [api_request(-0.5), api_request(MAX_DURATION_MS + 0.5)])
    assert response.json() == {"received": 3, "rejected": []}, response.text
    assert [r["index"] for r in refused.json()["rejected"]] == [0, 1]
    stored = await db.fetch(
        "SELECT event_type, user_id, service, data::text AS data FROM analytics_events "
        "ORDER BY timestamp"
    )
    values = [msgspec.json.decode(r["data"])["duration_ms"] for r in stored]
    assert values == [1234.5, 0.25, 7]
    assert isinstance(values[2], int)
    # The aggregates' own reading of the value keeps the fraction.
    total = await db.fetchval(
        "SELECT sum(analytics_json_duration(data->'duration_ms')) FROM analytics_events"
    )
    assert float(total) == 1241.75
    decoded = [
        decode_event(r["event_type"], r["data"], user_id=r["user_id"], service=r["service"])
        for r in stored
    ]
    assert [getattr(e, "duration_ms", None) for e in decoded] == [1234.5, 0.25, 7]


@given(st.floats(min_value=0, max_value=MAX_DURATION_MS, allow_nan=False))
def test_any_duration_in_range_builds_and_round_trips(value: float) -> None:
    event = ApiRequest(
        service="api", method="GET", endpoint="/", status_code=200, duration_ms=value
    )
    again = ApiRequest.from_json(msgspec.json.encode(event))
    assert again.duration_ms == value


@pytest.mark.parametrize("value", [-0.001, MAX_DURATION_MS + 1.0, float("nan"), float("inf")])
def test_a_duration_out_of_range_is_still_refused_where_it_is_built(value: float) -> None:
    from lib_analytics_core import EventValidationError

    with pytest.raises(EventValidationError, match="duration_ms"):
        ApiRequest(service="api", method="GET", endpoint="/", status_code=200, duration_ms=value)


def documented_grants(role: str) -> str:
    """The SQL block of docs/collector.md, for a role of this test's own (roles are
    cluster-wide and the server is shared)."""
    doc = (Path(__file__).parent.parent / "docs" / "collector.md").read_text()
    begin, end = "<!-- collector-grants:begin -->\n```sql\n", "```\n<!-- collector-grants:end -->"
    return doc[doc.index(begin) + len(begin) : doc.index(end)].replace("analytics_collector", role)


async def test_the_documented_collector_role_stores_and_dead_letters_events(
    database_url: str, db: asyncpg.Connection
) -> None:
    """The docs' grant list is enough: rows stored (binary COPY and the idempotent
    INSERT of a retry) and a refusal dead-lettered, through that login only."""
    role = f"collector_{uuid.uuid4().hex[:10]}"
    await db.execute(documented_grants(role))
    role_url = with_login(database_url, role)  # any URL form: TCP or the embedded socket
    body = [envelope(task(i), T0 + dt.timedelta(seconds=i)) for i in range(4)]
    body.append({**body[0], "event": {"type": "no_such_event"}})
    try:
        with collector(role_url) as url:
            for _ in range(2):
                response = await post(url, body)
                assert response.status_code == 200, response.text
                assert response.json()["received"] == 4
            counted = await stats(url)
    finally:
        await db.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
        await db.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"')
        await db.execute(f'REVOKE ALL ON SCHEMA public FROM "{role}"')
        await db.execute(f'DROP ROLE "{role}"')
    assert counted["last_error"] is None
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 4
    assert await db.fetchval("SELECT count(*) FROM analytics_dead_letters") == 1


async def test_a_database_that_is_not_migrated_is_a_409_naming_the_fix(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Not a 503 + Retry-After that every client retries for ever: a status SDKs do
    not retry, the one error body, and the fix in words; not spooled either."""
    body = [envelope(task(0), T0)]
    with collector(empty_database_url, spool_dir=tmp_path / "spool") as url:
        response = await post(url, body)
    assert response.status_code == 409, response.text
    answer = response.json()
    assert answer["error"] == "not_migrated"
    assert "run analytics-migrate" in answer["message"]
    assert "Retry-After" not in response.headers


async def test_every_collector_error_is_the_one_error_body(database_url: str) -> None:
    with collector(database_url) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            answers = [
                await http.post(f"{url}/events/batch", content=b"[]"),  # 401
                await http.post(f"{url}/events/batch", content=b"{}", headers=AUTH),  # 400
            ]
    assert [a.status_code for a in answers] == [401, 400]
    assert [a.json()["error"] for a in answers] == ["unauthorized", "bad_request"]
    assert all(isinstance(a.json()["message"], str) for a in answers)
