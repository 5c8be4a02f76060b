"""The read layer's shared pieces (issue 25, item 1) and the exports the dashboard needs:

* every statement goes through ``read._exec`` (traced; a time limit that cancels the
  query and is reported like the server's own statement timeout; driver errors classified
  by ``_db``);
* no relation name is typed in ``read/`` (``schema.facts`` and ``sql/queries.sql``);
* every series route answers ``format=csv`` with the JSON answer's rows, the long
  ``api-latency`` series streamed from a cursor;
* the KPI overview beside the previous period; an endpoint's drill-down;
* the names ``read.latency`` exported before the split into ``latency`` (the series),
  ``endpoints`` (the ranking) and ``_latency_total`` still resolve, to the same objects.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

import lib_analytics_core as lac
from lib_analytics_core import refresh_aggregates
from lib_analytics_core.api import create_app
from lib_analytics_core.read import _exec, _latency_total, _sql, endpoints, latency, overview
from tests import _aggregate_reference as agg
from tests import _read_seed

TOKEN = "read-layer-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = dt.timedelta(days=1)
READ = Path(str(files("lib_analytics_core.read")))


def test_no_relation_name_is_typed_in_the_read_layer() -> None:
    literal = re.compile(r"\banalytics_(?!core\b|reader\b|hist_key\b)[a-z_]+")
    for path in sorted(READ.glob("*.py")):
        found = literal.findall(path.read_text())
        assert not found, (path.name, found)
    # the named statements name relations only through facts' constants
    text = (READ / "sql" / "queries.sql").read_text()
    assert not literal.findall(text)
    assert set(_sql.QUERIES) >= {"active_users", "task_stats", "services", "event_types"}


def test_the_latency_split_keeps_every_name_read_latency_exported() -> None:
    """``read.latency`` held the ranking before it moved to ``read.endpoints`` (docs/api.md
    listed ``top_endpoints`` under ``latency``): the old paths give the same objects."""
    for name in ("DEFAULT_TOP_ENDPOINTS", "MAX_TOP_ENDPOINTS", "EndpointRanking", "top_endpoints"):
        assert getattr(latency, name) is getattr(endpoints, name), name
    assert latency.ApiLatencyRow is _latency_total.ApiLatencyRow is lac.ApiLatencyRow
    from lib_analytics_core.read.latency import top_endpoints

    assert top_endpoints is endpoints.top_endpoints
    with pytest.raises(AttributeError):
        _ = latency.no_such_name


def test_every_statement_goes_through_the_one_execution_point() -> None:
    """No module of read/ but _exec calls the driver: ``.fetch(``/``.execute(`` on a
    connection appear nowhere else."""
    driver = re.compile(r"\b(?:db|conn|pool)\.(?:fetch|fetchrow|fetchval|execute|cursor)\(")
    for path in sorted(READ.glob("*.py")):
        if path.name == "_exec.py":
            continue
        assert not driver.findall(path.read_text()), path.name


@pytest.fixture
async def seeded(database_url: str) -> tuple[str, _read_seed.Seeded]:
    d0 = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 20 * DAY
    s = _read_seed.build(d0)
    await _read_seed.write(database_url, s)
    conn = await asyncpg.connect(database_url)
    try:
        await refresh_aggregates(conn, start=d0 - DAY)
    finally:
        await conn.close()
    return database_url, s


async def test_exec_traces_limits_and_classifies(database_url: str) -> None:
    traces: list[_exec.Trace] = []
    conn = await asyncpg.connect(database_url)
    try:
        with _exec.tracing(traces.append):
            await lac.task_stats(conn, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 3))
        assert [(t.question, t.rows, t.error) for t in traces] == [("tasks.task_stats", 2, None)]
        # a statement over its time limit is cancelled and reported as the server's
        # statement_timeout is: a DatabaseError caused by QueryCanceledError
        with (
            _exec.time_limit(0.2),
            _exec.tracing(traces.append),
            pytest.raises(lac.DatabaseError) as info,
        ):
            await _exec.fetch(conn, "test.sleep", "SELECT pg_sleep(5)")
        assert isinstance(info.value.__cause__, asyncpg.QueryCanceledError)
        assert not isinstance(info.value, lac.DatabaseUnavailableError)
        assert traces[-1].question == "test.sleep" and traces[-1].error == "DatabaseError"
        assert await conn.fetchval("SELECT 1") == 1  # the connection is usable again
        # a refused statement is the library's error, classified by _db (not unavailable)
        with pytest.raises(lac.DatabaseError, match=r"read test\.bad") as bad:
            await _exec.fetch(conn, "test.bad", "SELECT 1/0")
        assert not isinstance(bad.value, lac.DatabaseUnavailableError)
    finally:
        await conn.close()
    # a closed connection is an outage
    with pytest.raises(lac.DatabaseUnavailableError):
        await _exec.fetch(conn, "test.closed", "SELECT 1")


@pytest.fixture
async def client(seeded: tuple[str, _read_seed.Seeded]) -> AsyncIterator[httpx.AsyncClient]:
    url, _ = seeded
    app = create_app(url, TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c


def same_cell(text: str, value: Any) -> bool:
    """A CSV cell says the JSON value (numbers as numbers: ``373`` is ``373.0``)."""
    if value is None:
        return text == ""
    if isinstance(value, bool):
        return text == ("true" if value else "false")
    if isinstance(value, int | float):
        return float(text) == value
    return text == str(value)


SERIES = [
    ("/v1/active-users", {}),
    ("/v1/tasks", {}),
    ("/v1/api-latency", {"group_by": "endpoint"}),
    ("/v1/api-latency", {"group_by": "service", "granularity": "day"}),
    ("/v1/api-latency", {"group_by": "endpoint", "granularity": "total"}),
    ("/v1/api-latency", {"group_by": "total", "service": "platform"}),
    ("/v1/integrations", {"by_day": "false"}),
    ("/v1/auth", {}),
    ("/v1/cocoons", {}),
    ("/v1/errors", {}),
    ("/v1/errors/top", {}),
    ("/v1/endpoints/top", {}),
    ("/v1/events/trends", {"granularity": "hour"}),
]


@pytest.mark.parametrize(("path", "params"), SERIES)
async def test_every_series_exports_the_json_rows_as_csv(
    client: httpx.AsyncClient,
    seeded: tuple[str, _read_seed.Seeded],
    path: str,
    params: dict[str, str],
) -> None:
    _, s = seeded
    q = {"start": s.d0.isoformat(), "end": (s.d0 + 10 * DAY).isoformat(), **params}
    body = (await client.get(path, params=q, headers=AUTH)).json()
    r = await client.get(path, params={**q, "format": "csv"}, headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.text)))
    rows = body["rows"]
    assert rows, (path, params)
    assert table[0] == list(rows[0])
    assert len(table) == 1 + len(rows)
    for line, row in zip(table[1:], rows, strict=True):
        assert all(same_cell(t, v) for t, v in zip(line, row.values(), strict=True)), (line, row)


async def test_a_bad_export_is_still_a_400(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/v1/api-latency",
        params={"format": "csv", "start": "2026-01-01", "end": "2026-06-01"},
        headers=AUTH,
    )
    assert r.status_code == 400 and "maximum" in r.json()["message"]


async def test_a_long_series_is_written_by_the_server_in_chunks(database_url: str) -> None:
    """``api_latency_csv`` of a series of stored rows is the server's own CSV
    (``COPY ... TO STDOUT``), passed on chunk by chunk, and says what ``api_latency``
    says, row for row."""
    conn = await asyncpg.connect(database_url)
    try:
        now: dt.datetime = await conn.fetchval("SELECT now()")
        # Enough rows (~4,000: ~50 chunks) that the server's output cannot arrive in
        # one read of the socket whatever the time of day: with 3,000 events over 4 days
        # the series was 300-500 rows and came back in one chunk about half the time.
        await agg.insert(conn, agg.generate(now, days=10, n=20_000, seed=2))
        await refresh_aggregates(conn, start=now - 12 * DAY)
        lo, hi = now - 11 * DAY, now
        traces: list[_exec.Trace] = []
        with _exec.tracing(traces.append):
            chunks = [
                chunk
                async for chunk in latency.api_latency_csv(
                    conn, start=lo, end=hi, group_by="endpoint", limit=100_000
                )
            ]
        typed = await latency.api_latency(
            conn, start=lo, end=hi, group_by="endpoint", limit=100_000
        )
        table = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
        assert len(chunks) > 1 and len(typed) > 1000, (len(chunks), len(typed))
        assert [t.question for t in traces] == ["latency.api_latency_csv"]
        assert table[0] == list(latency._FIELDS)
        assert len(table) == 1 + len(typed)
        for line, row in zip(table[1:], typed, strict=True):
            values = [getattr(row, f) for f in latency._FIELDS]
            values[0] = row.bucket.isoformat().replace("+00:00", "Z") if row.bucket else None
            assert all(same_cell(t, v) for t, v in zip(line, values, strict=True)), (line, row)
        # a filter value travels quoted by the server, never spliced as text
        evil = "x' OR 'a'='a"
        rows = [c async for c in latency.api_latency_csv(conn, start=lo, end=hi, service=evil)]
        assert b"".join(rows).decode().splitlines()[1:] == []
    finally:
        await conn.close()


async def test_overview_beside_the_previous_period(
    client: httpx.AsyncClient, seeded: tuple[str, _read_seed.Seeded]
) -> None:
    url, s = seeded
    lo, hi = s.d0 + 4 * DAY, s.d0 + 8 * DAY  # API requests on days 3 (before) and 4
    conn = await asyncpg.connect(url)
    try:
        both = await overview.overview_comparison(conn, start=lo, end=hi)
        assert both.current == await overview.overview(conn, start=lo, end=hi)
        assert both.previous == await overview.overview(conn, start=s.d0, end=lo)
        assert both.previous is not None and both.previous.end == both.current.start
        assert both.previous.requests > 0 and both.current.requests > 0
    finally:
        await conn.close()
    r = await client.get(
        "/v1/overview",
        params={"start": lo.isoformat(), "end": hi.isoformat(), "compare": "true"},
        headers=AUTH,
    )
    assert set(r.json()) == {"current", "previous"}
    assert r.json()["previous"]["requests"] == both.previous.requests


async def test_an_endpoints_drill_down_equals_its_raw_rows(
    client: httpx.AsyncClient, seeded: tuple[str, _read_seed.Seeded]
) -> None:
    """Slowest endpoints -> that endpoint's requests, errors and latency per hour."""
    _, s = seeded
    q = {"start": s.d0.isoformat(), "end": (s.d0 + 10 * DAY).isoformat()}
    top = (await client.get("/v1/endpoints/top", params=q, headers=AUTH)).json()["rows"][0]
    series = (
        await client.get(
            "/v1/api-latency",
            params={
                **q,
                "group_by": "endpoint",
                "service": top["service"],
                "endpoint": top["endpoint"],
                "method": top["method"],
            },
            headers=AUTH,
        )
    ).json()["rows"]
    raw: dict[dt.datetime, list[lac.ApiRequest]] = {}
    for when, e in s.of(lac.ApiRequest):
        assert isinstance(e, lac.ApiRequest)
        if (e.service, e.endpoint, e.method) == (top["service"], top["endpoint"], top["method"]):
            raw.setdefault(when.replace(minute=0, second=0, microsecond=0), []).append(e)
    assert [x["bucket"] for x in series] == [
        b.isoformat().replace("+00:00", "Z") for b in sorted(raw)
    ]
    for x in series:
        evs = raw[dt.datetime.fromisoformat(x["bucket"])]
        assert x["requests"] == len(evs)
        assert x["errors_5xx"] == sum(e.status_code >= 500 for e in evs)
        assert x["max_ms"] == max(e.duration_ms for e in evs)
    assert sum(x["requests"] for x in series) == top["requests"]


def test_exec_time_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"), _exec.time_limit(0):
        pass
    assert asyncio.iscoroutinefunction(_exec.fetch)


async def test_the_response_cache_keeps_no_copy_of_a_large_export() -> None:
    """A streamed answer over ``MAX_CACHED_BYTES`` passes through the cache whole and is
    not kept (an export would otherwise sit in memory once per query string)."""
    from lib_analytics_core.api._cache import MAX_CACHED_BYTES, ResponseCache

    piece = b"x" * 65_536
    pieces = MAX_CACHED_BYTES // len(piece) + 2

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": i < pieces - 1})

    cache = ResponseCache(app, ttl_s=60)
    sent: list[int] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            sent.append(len(message["body"]))

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/tasks",
        "query_string": b"",
        "headers": [],
    }
    await cache(scope, None, send)  # type: ignore[arg-type]
    assert sum(sent) == pieces * len(piece)
    assert not cache._answers
