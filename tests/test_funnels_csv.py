"""``/v1/funnel`` and ``/v1/retention`` with ``format=csv`` (issue 26, item 4): the CSV
says what the JSON answer says, row for row, the breakdown groups and step filters
included, and is described in the OpenAPI document."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from lib_analytics_core.api import create_app
from lib_analytics_core.api.routes_funnels import FUNNEL_CSV, RETENTION_CSV
from tests.test_funnels import DAY, SERVICES, TYPES, USERS, Ev, to_raw, write
from tests.test_read_layer import same_cell

TOKEN = "funnels-csv-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dt.datetime]]:
    conn = await asyncpg.connect(database_url)
    now: dt.datetime = await conn.fetchval("SELECT now()")
    base = now.replace(hour=0, minute=0, second=0, microsecond=0) - 20 * DAY
    rng = random.Random(11)
    evs = [
        Ev(rng.randrange(len(USERS)), rng.choice(TYPES), rng.randrange(200), rng.choice(SERVICES),
           rng.choice(["pro", "free", None]), rng.randrange(6), False)
        for _ in range(400)
    ]  # fmt: skip
    await write(conn, [to_raw(e, base, i) for i, e in enumerate(evs)])
    app = create_app(database_url, TOKEN, cache_ttl_s=0)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                yield c, now
    finally:
        await conn.close()


async def json_and_csv(
    c: httpx.AsyncClient, path: str, params: list[tuple[str, str]]
) -> tuple[dict[str, Any], list[list[str]]]:
    body = await c.get(path, params=tuple(params), headers=AUTH)
    assert body.status_code == 200, body.text
    r = await c.get(path, params=(*params, ("format", "csv")), headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    return body.json(), list(csv.reader(io.StringIO(r.text)))


def assert_rows(table: list[list[str]], header: tuple[str, ...], want: list[list[Any]]) -> None:
    assert table[0] == list(header)
    assert len(table) == 1 + len(want)
    for line, row in zip(table[1:], want, strict=True):
        assert all(same_cell(t, v) for t, v in zip(line, row, strict=True)), (line, row)


async def test_funnel_csv_is_the_json_answer_per_step_and_group(
    api: tuple[httpx.AsyncClient, dt.datetime],
) -> None:
    c, now = api
    params = [
        ("steps", "a,b,a"), ("within", "3d"),
        ("start", (now - 20 * DAY).isoformat()), ("end", now.isoformat()),
        ("step_filter", "2:plan:eq:pro"), ("breakdown", "service"), ("top", "1"),
    ]  # fmt: skip
    body, table = await json_and_csv(c, "/v1/funnel", params)
    parts = [(True, None, False, body["steps"])]
    parts += [(False, g["value"], g["other"], g["steps"]) for g in body["groups"]]
    assert len(parts) == 3 and parts[-1][2]  # one named service and "other"
    want = [
        [total, value, other, n, *s.values()]
        for total, value, other, steps in parts
        for n, s in enumerate(steps, 1)
    ]
    assert body["steps"][1]["users"] > 0
    assert_rows(table, FUNNEL_CSV, want)


async def test_retention_csv_is_the_json_answer_per_cohort_period_and_group(
    api: tuple[httpx.AsyncClient, dt.datetime],
) -> None:
    c, now = api
    params = [
        ("cohort_event", "a"), ("return_event", "b"), ("period", "day"),
        ("start", (now - 20 * DAY).isoformat()), ("end", now.isoformat()),
        ("breakdown", "service"),
    ]  # fmt: skip
    body, table = await json_and_csv(c, "/v1/retention", params)
    parts = [(True, None, False, body["cohorts"])]
    parts += [(False, g["value"], g["other"], g["cohorts"]) for g in body["groups"]]
    assert len(parts) >= 3  # all users and two services or more
    want = [
        [total, value, other, x["period_start"], x["size"], k, n, n / x["size"]]
        for total, value, other, cohorts in parts
        for x in cohorts
        for k, n in enumerate(x["returned"])
    ]
    assert any(row[5] > 0 and row[6] > 0 for row in want)  # someone came back
    assert_rows(table, RETENTION_CSV, want)


async def test_the_csv_answers_are_in_the_openapi_document(
    api: tuple[httpx.AsyncClient, dt.datetime],
) -> None:
    c, _ = api
    spec = (await c.get("/openapi.json")).json()
    for path, header in (("/v1/funnel", FUNNEL_CSV), ("/v1/retention", RETENTION_CSV)):
        op = spec["paths"][path]["get"]
        assert "text/csv" in op["responses"]["200"]["content"], path
        assert "format" in {p["name"] for p in op["parameters"]}, path
        assert all(f"`{col}`" in op["description"] for col in header), path
    r = await c.get("/v1/funnel", params={"steps": "a", "format": "csv"}, headers=AUTH)
    assert r.status_code == 400 and "2 to 10 steps" in r.json()["message"]
