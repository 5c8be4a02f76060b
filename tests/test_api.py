"""The read-only HTTP API on a seeded database (httpx ASGI transport, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute

import lib_analytics_core as lac
from lib_analytics_core import refresh_aggregates
from lib_analytics_core._dburl import parse_database_url, with_login
from lib_analytics_core.api import create_app
from lib_analytics_core.read.window import last_days
from tests import _read_seed

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = dt.timedelta(days=1)


def api_routes(app: Any) -> list[APIRoute]:
    """Every APIRoute of ``app``, including those of included routers (FastAPI keeps an
    included router as one entry of ``app.routes``)."""
    out: list[APIRoute] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(r for r in route.original_router.routes if isinstance(r, APIRoute))
    return out


def with_user(url: str, user: str) -> str:
    return with_login(url, user, "pw")


@pytest.fixture
async def seeded_url(database_url: str) -> tuple[str, _read_seed.Seeded]:
    d0 = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 20 * DAY
    s = _read_seed.build(d0)
    await _read_seed.write(database_url, s)
    conn = await asyncpg.connect(database_url)
    try:
        await refresh_aggregates(conn, start=d0 - DAY)
    finally:
        await conn.close()
    return database_url, s


@pytest.fixture
async def reader_url(seeded_url: tuple[str, _read_seed.Seeded]) -> AsyncIterator[str]:
    """A LOGIN member of analytics_reader, created the way docs/api.md says."""
    url, _ = seeded_url
    name = f"lac_api_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'pw' IN ROLE analytics_reader")
        yield with_user(url, name)
    finally:
        dbname = parse_database_url(url).database
        await conn.execute(f'REVOKE ALL ON DATABASE "{dbname}" FROM {name}')
        await conn.close()
        # the per-test database is dropped after this fixture; drop the role at the end
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
            )
            await admin.execute(f"DROP OWNED BY {name}")
            await admin.execute(f"DROP ROLE {name}")
        finally:
            await admin.close()


@pytest.fixture
async def client(reader_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(reader_url, TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


ENDPOINTS = [
    "/v1/active-users",
    "/v1/tasks",
    "/v1/api-latency",
    "/v1/integrations",
    "/v1/auth",
    "/v1/cocoons",
    "/v1/errors",
    "/v1/errors/top",
    "/v1/services",
    "/v1/window",
    "/v1/health",
]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_token_required(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await client.get(path, headers={"Authorization": "Bearer wrong-token-wrong-token"})
    assert r.status_code == 401
    r = await client.get(path, headers=AUTH)
    assert r.status_code == 200, r.text


async def test_results_match_the_library(
    client: httpx.AsyncClient, seeded_url: tuple[str, _read_seed.Seeded], reader_url: str
) -> None:
    _, s = seeded_url
    start, end = s.d0.isoformat(), (s.d0 + 10 * DAY).isoformat()
    conn = await asyncpg.connect(reader_url)
    try:
        r = await client.get("/v1/tasks", params={"start": start, "end": end}, headers=AUTH)
        body = r.json()
        assert body["start"] == s.d0.isoformat().replace("+00:00", "Z")
        expected = await lac.task_stats(conn, start=s.d0, end=s.d0 + 10 * DAY)
        assert len(body["rows"]) == 10
        day2 = body["rows"][2]
        assert day2["created"] == expected[2].created == 6
        assert day2["p95_duration_ms"] == pytest.approx(expected[2].p95_duration_ms)

        r = await client.get(
            "/v1/api-latency",
            params={"start": start, "end": end, "granularity": "total", "group_by": "service"},
            headers=AUTH,
        )
        rows = r.json()["rows"]
        lib = await lac.api_latency(conn, start=s.d0, end=s.d0 + 10 * DAY, granularity="total")
        assert [(x["service"], x["requests"], x["p99_ms"]) for x in rows] == [
            (x.service, x.requests, x.p99_ms) for x in lib
        ]
        r = await client.get("/v1/errors/top", params={"start": start, "end": end}, headers=AUTH)
        assert [(x["error_type"], x["errors"]) for x in r.json()["rows"]] == [
            ("DbTimeout", 4),
            ("Redis", 1),
        ]
        r = await client.get("/v1/services", params={"since": start}, headers=AUTH)
        assert r.json() == {"services": ["auth", "platform"]}
        # naive date-times are UTC; a bare date works too
        r = await client.get(
            "/v1/auth",
            params={"start": s.d0.date().isoformat(), "end": (s.d0 + 10 * DAY).date().isoformat()},
            headers=AUTH,
        )
        assert sum(x["login_attempts"] for x in r.json()["rows"]) == 3
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("/v1/tasks", {"start": "2026-02-01", "end": "2026-01-01"}, 400, "must be before"),
        ("/v1/active-users", {"start": "2020-01-01", "end": "2026-01-01"}, 400, "maximum"),
        ("/v1/api-latency", {"start": "2026-01-01", "end": "2026-06-01"}, 400, "maximum"),
        ("/v1/api-latency", {"granularity": "minute"}, 422, "granularity"),
        ("/v1/api-latency", {"limit": "0"}, 422, "limit"),
        ("/v1/errors", {"limit": "lots"}, 422, "limit"),
        ("/v1/tasks", {"start": "yesterday"}, 422, "start"),
        ("/v1/errors/top", {"service": ""}, 422, "service"),
    ],
)
async def test_bad_parameters_are_readable_client_errors(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int, fragment: str
) -> None:
    r = await client.get(path, params=params, headers=AUTH)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message"} and body["error"] == "bad_request", body
    assert fragment in body["message"]


async def test_the_window_and_the_default_range_are_last_days(client: httpx.AsyncClient) -> None:
    for days in (1, 7, 30, 90):
        before = last_days(days)
        body = (await client.get("/v1/window", params={"days": days}, headers=AUTH)).json()
        assert body in (
            {"start": iso(w.start), "end": iso(w.end), "days": days}
            for w in (before, last_days(days))
        )
    # no start/end: the last 30 days, exactly the dashboard's default preset
    w = last_days(30)
    body = (await client.get("/v1/tasks", headers=AUTH)).json()
    assert (body["start"], body["end"]) == (iso(w.start), iso(w.end))
    assert len(body["rows"]) == 30
    # only one bound given: the other one keeps the 30-day length / the default end
    body = (await client.get("/v1/auth", params={"end": "2026-03-01"}, headers=AUTH)).json()
    assert (body["start"], len(body["rows"])) == ("2026-01-30T00:00:00Z", 30)
    r = await client.get("/v1/window", params={"days": 0}, headers=AUTH)
    assert r.status_code == 422


def iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def test_no_write_routes_and_openapi(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]
    methods = {m for route in api_routes(app) for m in route.methods or ()}
    assert methods == {"GET"}
    for path in ENDPOINTS:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = await client.request(method, path, headers=AUTH)
            assert r.status_code == 405, (method, path)
    spec = (await client.get("/openapi.json")).json()
    assert set(ENDPOINTS) <= set(spec["paths"])
    assert all(set(ops) == {"get"} for ops in spec["paths"].values())
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "ApiLatencyRow" in spec["components"]["schemas"]


def test_routes_live_at_module_level_and_share_one_token_check() -> None:
    """Issue 20: the routes are module-level functions in routers (not closures inside
    ``create_app``), every /v1 route depends on the one token check, and two apps built
    from the same routers keep their own database and token."""
    from lib_analytics_core.api._deps import require_token

    a = create_app("postgresql://a@127.0.0.1:1/a", TOKEN)
    b = create_app("postgresql://b@127.0.0.1:1/b", "another-token-0123456789")
    routes = api_routes(a)
    assert routes
    for route in routes:
        assert "<locals>" not in route.endpoint.__qualname__, (route.path, route.endpoint)
        checks = [d.call for d in route.dependant.dependencies]
        assert (require_token in checks) == route.path.startswith("/v1/"), route.path
    assert a.state.db is not b.state.db and a.state.token != b.state.token


async def test_healthz_and_dashboard(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}
    page = await client.get("/")
    assert page.status_code == 200 and "Platform analytics" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    js = await client.get("/static/vendor/echarts/echarts.common.min.js")
    assert js.status_code == 200 and len(js.content) > 100_000


async def test_healthz_answers_from_the_background_probe(database_url: str) -> None:
    """Issue 20: /healthz no longer makes a database round trip per request (under load it
    waited for a starved database, max 2.6-9.9 s): twenty probes, one ping."""
    app = create_app(database_url, TOKEN)
    async with app.router.lifespan_context(app):
        db = app.state.db
        pings = 0
        ping = db.ping

        async def counted() -> bool:
            nonlocal pings
            pings += 1
            return bool(await ping())

        db.ping = counted
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            answers = await asyncio.gather(*(c.get("/healthz") for _ in range(20)))
        assert [r.status_code for r in answers] == [200] * 20
        assert pings == 1


async def test_healthz_reports_an_unreachable_database() -> None:
    app = create_app("postgresql://nobody@127.0.0.1:1/none", TOKEN)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            r = await c.get("/healthz")
            assert r.status_code == 503 and r.json()["database"] == "unreachable"
            r = await c.get("/v1/tasks", headers=AUTH)
            assert r.status_code == 503
            assert r.json() == {
                "error": "unavailable",
                "message": "the analytics database is unavailable",
            }


async def test_the_pool_cannot_write(
    client: httpx.AsyncClient, seeded_url: tuple[str, _read_seed.Seeded]
) -> None:
    app = client.app  # type: ignore[attr-defined]
    pool = await app.state.db.pool()
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await pool.execute(
            "INSERT INTO analytics_dead_letters (event_type, service, payload, error) "
            "VALUES ('x', 'x', 'x', 'x')"
        )
    async with pool.acquire() as conn:
        # even with the read-only default turned off, the role may not write
        await conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM analytics_events")
        await conn.execute("RESET default_transaction_read_only")
    # and a superuser DSN is still read-only through the API's pool
    url, _ = seeded_url
    admin_app = create_app(url, TOKEN)
    admin_pool = await admin_app.state.db.pool()
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await admin_pool.execute("DELETE FROM analytics_events")
    finally:
        await admin_app.state.db.close()
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") > 0
    finally:
        await conn.close()


def test_create_app_rejects_a_weak_token() -> None:
    with pytest.raises(lac.ConfigurationError, match="16 characters"):
        create_app("postgresql://x@localhost/x", "short")


async def test_health_is_the_librarys_schema_health_as_the_reader_role(
    client: httpx.AsyncClient, seeded_url: tuple[str, _read_seed.Seeded]
) -> None:
    """/v1/health (the dashboard's stale-data banner) answers for the read-only role and
    says exactly what schema_health() says; a tighter staleness limit is honoured."""
    from lib_analytics_core import schema_health

    url, _ = seeded_url
    r = await client.get("/v1/health", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = (await schema_health(url)).as_dict()
    for key in ("checked_at",):
        body.pop(key), expected.pop(key)
    # The banner's product words (issue 29) come on top of schema_health()'s report.
    assert body.pop("summary") is None and body.pop("behind") == []
    for agg in (*body["aggregates"], *expected["aggregates"]):
        agg.pop("staleness_s")  # measured against now(), which moved between the calls
    assert body == expected
    assert body["aggregates"], "every aggregate of the schema is reported"
    assert body["ok"] is True and body["problems"] == []
    r = await client.get("/v1/health", headers=AUTH, params={"max_staleness_minutes": 0})
    assert r.status_code == 422


async def test_the_response_cache_serves_repeats_never_bypasses_the_token(
    database_url: str,
) -> None:
    """Issue 20, item 4: a /v1 answer is served again for ``cache_ttl_s`` to a request with
    the same path, query and credentials (one query for fifty dashboards), and never to
    a request without them; ``cache_ttl_s=0`` answers from the database every time."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    params = {"start": (today - DAY).isoformat(), "end": (today + DAY).isoformat()}
    cached, uncached = (
        create_app(database_url, TOKEN, cache_ttl_s=600),
        create_app(database_url, TOKEN, cache_ttl_s=0),
    )
    async with cached.router.lifespan_context(cached), uncached.router.lifespan_context(uncached):
        a = httpx.AsyncClient(transport=httpx.ASGITransport(app=cached), base_url="http://a")
        b = httpx.AsyncClient(transport=httpx.ASGITransport(app=uncached), base_url="http://b")
        async with a, b:
            first = await a.get("/v1/tasks", params=params, headers=AUTH)
            assert first.status_code == 200
            assert sum(r["created"] for r in first.json()["rows"]) == 0
            seeded = _read_seed.Seeded(d0=today)
            seeded.add(
                dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
                lac.TaskCreated(task_id=uuid.uuid4(), user_id=uuid.uuid4(), command="ls"),
            )
            await _read_seed.write(database_url, seeded)
            conn = await asyncpg.connect(database_url)
            try:
                await refresh_aggregates(conn, start=today - DAY)
            finally:
                await conn.close()
            again = await a.get("/v1/tasks", params=params, headers=AUTH)
            assert again.content == first.content  # the cached answer
            assert again.headers["cache-control"] == "no-store"  # still private
            fresh = await b.get("/v1/tasks", params=params, headers=AUTH)
            assert sum(r["created"] for r in fresh.json()["rows"]) == 1
            # never to other credentials, or none
            for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}):
                r = await a.get("/v1/tasks", params=params, headers=headers)
                assert r.status_code == 401
            # another question is asked of the database
            shifted = {"start": params["start"], "end": (today + 2 * DAY).isoformat()}
            r = await a.get("/v1/tasks", params=shifted, headers=AUTH)
            assert sum(x["created"] for x in r.json()["rows"]) == 1
