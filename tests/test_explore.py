"""Explore (read/explore.py, read/filters.py) against the plain reference implementation
of tests/_explore_reference.py, over raw rows written by the real client and worker (a
custom event class defined in the test, three producers with different metadata, and a
foreign producer's odd values), on plain PostgreSQL and the timescale tier.

Named cases first, then hypothesis-generated questions (filters, group-bys, measures,
granularities, ranges, previous periods) against the reference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lib_analytics_core as lac
from lib_analytics_core import QueryError
from lib_analytics_core.api import create_app
from lib_analytics_core.read import explore as ex
from lib_analytics_core.read import filters as flt
from lib_analytics_core.read._exec import Params
from tests import _explore_reference as ref
from tests import _explore_seed as seed

TOKEN = "explore-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOUR = dt.timedelta(hours=1)


def normalized(result: ex.ExploreResult) -> dict[ref.Key, list[Any]]:
    out: dict[ref.Key, list[Any]] = {}
    for current, rows in ((True, result.rows), (False, result.previous_rows or [])):
        for r in rows:
            key = (current, r.bucket, tuple(r.group), tuple(r.other))
            assert key not in out, key
            out[key] = r.values
    return out


def assert_same(got: dict[ref.Key, list[Any]], want: dict[ref.Key, list[Any]]) -> None:
    assert set(got) == set(want), sorted(set(got) ^ set(want), key=repr)[:5]
    for key, values in want.items():
        for g, w in zip(got[key], values, strict=True):
            if isinstance(w, float) or isinstance(g, float):
                assert g is not None and w is not None and math.isclose(g, w, rel_tol=1e-12), (
                    key,
                    got[key],
                    values,
                )
            else:
                assert g == w and type(g) is type(w), (key, got[key], values)


def as_tuples(filters: list[flt.Filter]) -> list[tuple[str, str, Any]]:
    return [(f.field, f.op, f.value) for f in filters]


async def check(conn: asyncpg.Connection, rows: list[ref.Raw], **q: Any) -> ex.ExploreResult:
    result = await ex.explore(conn, **q)
    filters = [
        f if isinstance(f, flt.Filter) else flt.parse_filter(f) for f in q.get("filters", ())
    ]
    want = ref.explore(
        rows,
        start=q["start"],
        end=q["end"],
        event_type=q["event_type"],
        measures=q.get("measures", ("count",)),
        filters=as_tuples(filters),
        group_by=q.get("group_by", ()),
        granularity=q.get("granularity", "day"),
        top=q.get("top", ex.DEFAULT_TOP),
        compare=q.get("compare", False),
    )
    assert_same(normalized(result), want)
    return result


@pytest.fixture
async def seeded(
    database_url: str,
) -> AsyncIterator[tuple[asyncpg.Connection, list[ref.Raw], dt.datetime]]:
    conn = await asyncpg.connect(database_url)
    now: dt.datetime = await conn.fetchval("SELECT now()")
    await seed.write(database_url, now)
    rows = await ref.raw_rows(conn)
    assert len({r.data.get("_meta", {}).get("host") for r in rows}) >= 4
    yield conn, rows, now
    await conn.close()


async def test_named_questions_over_a_custom_event_equal_the_reference(
    seeded: tuple[asyncpg.Connection, list[ref.Raw], dt.datetime],
) -> None:
    conn, rows, now = seeded
    d0 = seed.start_of(now)
    end = d0 + 7 * seed.DAY
    base = {"start": d0, "end": end, "event_type": "invoice_paid_x"}
    # the totals: every measure of the custom class's numeric field
    r = await check(
        conn,
        rows,
        **base,
        granularity="total",
        measures=["count", "users", "sum:amount_cents", "avg:amount_cents", "p95:amount_cents"],
    )
    assert r.rows[0].values[0] == sum(1 for x in rows if x.event_type == "invoice_paid_x")
    # split by currency (top 2 + other) and by host metadata, per day, with the previous period
    await check(
        conn,
        rows,
        **base,
        group_by=["currency", "host"],
        top=2,
        measures=["sum:amount_cents", "min:discount", "max:discount", "p50:amount_cents"],
        compare=True,
    )
    # filters on the event's fields, the metadata and the columns, per hour
    await check(
        conn,
        rows,
        **base,
        granularity="hour",
        filters=[
            "amount_cents:gt:100",
            "currency:in:EUR,USD",
            "coupon:is_null",
            "environment:eq:prod",
            "service:ne:web",
        ],
        measures=["count", "sum:amount_cents"],
    )
    # numbers compare as numbers: 150 equals 150.0 and the string "150" only as text
    eq150 = await check(conn, rows, **base, granularity="total", filters=["amount_cents:eq:150"])
    assert eq150.rows and (eq150.rows[0].values[0] or 0) >= 2
    await check(conn, rows, **base, granularity="total", filters=["paid:eq:true", "discount:lt:1"])
    await check(conn, rows, **base, granularity="total", filters=["release:is_null"])
    # a built-in type, grouped by a field and by the user id, distinct users per group
    await check(
        conn,
        rows,
        start=d0,
        end=end,
        event_type="api_request",
        group_by=["endpoint", "user_id"],
        top=3,
        measures=["users", "p99:duration_ms", "avg:duration_ms"],
    )
    # an event type nobody sent: no rows, every bucket still listed for the chart
    none = await ex.explore(conn, start=d0, end=end, event_type="nothing_here", granularity="hour")
    assert none.rows == [] and len(none.buckets) == 7 * 24


async def test_bad_questions_are_query_errors_that_say_why(
    seeded: tuple[asyncpg.Connection, list[ref.Raw], dt.datetime],
) -> None:
    conn, _, now = seeded
    base = {"start": now - seed.DAY, "end": now, "event_type": "invoice_paid_x"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"filters": ["amount cents:gt:1"]}, "invalid field name"),
        ({"filters": ["x'; DROP TABLE analytics_events; --:eq:1"]}, "invalid field name"),
        ({"filters": ["_meta:eq:1"]}, "invalid field name"),
        ({"filters": ["amount_cents:like:1"]}, "unknown operator"),
        ({"filters": ["amount_cents:gt:lots"]}, "need a number"),
        ({"filters": ["service:gt:3"]}, "holds text"),
        ({"filters": ["user_id:eq:bob"]}, "UUIDs"),
        ({"filters": ["currency:is_null:x"]}, "takes no value"),
        ({"filters": ["currency"]}, "field:op:value"),
        ({"measures": ["median:amount_cents"]}, "unknown measure"),
        ({"measures": ["sum"]}, "needs a numeric field"),
        ({"measures": ["sum:host"]}, "holds text"),
        ({"measures": ["count", "count"]}, "different measures"),
        ({"group_by": ["a", "b", "c"]}, "at most 2"),
        ({"group_by": ["bad-name"]}, "invalid field name"),
        ({"top": 0}, "top must be"),
        ({"granularity": "week"}, "granularity"),
        ({"event_type": ""}, "event_type"),
    ]
    for extra, reason in cases:
        with pytest.raises(QueryError, match=reason):
            await ex.explore(conn, **{**base, **extra})
    assert await conn.fetchval("SELECT count(*) FROM analytics_events") > 0


def test_filter_language_round_trips_and_binds_every_value() -> None:
    for text in (
        "currency:in:EUR,USD",
        "amount_cents:gt:-2.5",
        "coupon:is_not_null",
        "host:eq:a:b",
    ):
        f = flt.parse_filter(text)
        assert flt.parse_filter(str(f)) == f
    assert flt.parse_filter("host:eq:a:b").value == "a:b"
    params = Params("x")
    where = flt.where_sql([flt.parse_filter("amount_cents:eq:'; SELECT 1 --")], params)
    assert "SELECT 1" not in " ".join(where) and "'; SELECT 1 --" in params.values
    assert flt.dimension("data.host").kind == "data" and flt.dimension("host").kind == "meta"


# ------------------------------------------------------------------ the HTTP route


@pytest.fixture
async def client(
    seeded: tuple[asyncpg.Connection, list[ref.Raw], dt.datetime], database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(database_url, TOKEN, cache_ttl_s=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c


async def test_explore_route_answers_the_typed_query_json_and_csv(
    seeded: tuple[asyncpg.Connection, list[ref.Raw], dt.datetime], client: httpx.AsyncClient
) -> None:
    conn, _, now = seeded
    d0 = seed.start_of(now)
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("event_type", "invoice_paid_x"),
        ("start", d0.isoformat()),
        ("end", (d0 + 7 * seed.DAY).isoformat()),
        ("measure", "count"),
        ("measure", "sum:amount_cents"),
        ("filter", "currency:in:EUR,USD"),
        ("group_by", "currency"),
        ("compare", "true"),
    ]
    r = await client.get("/v1/explore", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    typed = await ex.explore(
        conn,
        start=d0,
        end=d0 + 7 * seed.DAY,
        event_type="invoice_paid_x",
        measures=["count", "sum:amount_cents"],
        filters=["currency:in:EUR,USD"],
        group_by=["currency"],
        compare=True,
    )
    assert [(x["group"], x["values"]) for x in body["rows"]] == [
        (x.group, x.values) for x in typed.rows
    ]
    assert len(body["previous_rows"]) == len(typed.previous_rows or [])
    csv = await client.get("/v1/explore", params=[*params, ("format", "csv")], headers=AUTH)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "period,bucket,currency,currency (other),count,sum:amount_cents"
    assert len(lines) == 1 + len(typed.rows) + len(typed.previous_rows or [])
    first = typed.rows[0]
    assert lines[1].split(",")[2:] == [
        first.group[0] or "",
        "true" if first.other[0] else "false",
        *(str(v) for v in first.values),
    ]
    fields = await client.get(
        "/v1/events/fields", params={"event_type": "invoice_paid_x"}, headers=AUTH
    )
    names = {(f["name"], f["type"]) for f in fields.json()}
    assert {("amount_cents", "number"), ("currency", "string"), ("paid", "boolean")} <= names


@pytest.mark.parametrize(
    ("param", "value", "reason"),
    [
        ("filter", "amount cents:gt:1", "invalid field name"),
        ("filter", "amount_cents:like:1", "unknown operator"),
        ("filter", "amount_cents:gt:lots", "need a number"),
        ("filter", "release:lt:2", "holds text"),
        ("measure", "p42:amount_cents", "unknown measure"),
        ("group_by", "no such", "invalid field name"),
    ],
)
async def test_explore_route_bad_field_type_or_operator_is_a_400_with_the_reason(
    client: httpx.AsyncClient, param: str, value: str, reason: str
) -> None:
    r = await client.get(
        "/v1/explore", params={"event_type": "invoice_paid_x", param: value}, headers=AUTH
    )
    assert r.status_code == 400, r.text
    assert reason in r.json()["message"], r.text


# ------------------------------------------------------------ generated questions

FIELDS = [
    "amount_cents",
    "currency",
    "coupon",
    "discount",
    "paid",
    "service",
    "host",
    "release",
    "environment",
    "user_id",
    "nothing",
    "data.currency",
]
NUMERIC = ["amount_cents", "discount", "currency", "nothing"]
SCALARS: list[Any] = [
    0,
    100,
    150,
    "150",
    "150.0",
    -3,
    12.5,
    "12.50",
    "EUR",
    "eur",
    "USD",
    "",
    "SAVE10",
    "true",
    "false",
    "h1",
    "h9",
    "r1",
    "prod",
    "billing",
    "web",
    True,
]


@st.composite
def filters(draw: st.DrawFn) -> flt.Filter:
    field = draw(st.sampled_from(FIELDS))
    ops = ["=", "!=", "in", "is null", "is not null"]
    if field not in ("service", "user_id", "host", "release", "environment"):
        ops += ["<", ">"]
    op = draw(st.sampled_from(ops))
    if op in ("is null", "is not null"):
        return flt.Filter(field, op)  # type: ignore[arg-type]
    if field == "user_id":
        ids = st.sampled_from([str(u) for u in seed.USERS])
        if op == "in":
            return flt.Filter(field, op, draw(st.lists(ids, min_size=1, max_size=3)))  # type: ignore[arg-type]
        return flt.Filter(field, op, draw(ids))  # type: ignore[arg-type]
    if op in ("<", ">"):
        return flt.Filter(field, op, draw(st.sampled_from([0, 99.5, 150, "150", -10, "1e3"])))  # type: ignore[arg-type]
    if op == "in":
        return flt.Filter(
            field,
            op,  # type: ignore[arg-type]
            draw(st.lists(st.sampled_from(SCALARS), min_size=1, max_size=4)),
        )
    return flt.Filter(field, op, draw(st.sampled_from(SCALARS)))  # type: ignore[arg-type]


measures = st.one_of(
    st.sampled_from(["count", "users"]),
    st.builds(
        lambda k, f: f"{k}:{f}",
        st.sampled_from(["sum", "avg", "min", "max", "p50", "p95", "p99"]),
        st.sampled_from(NUMERIC),
    ),
)


@st.composite
def questions(draw: st.DrawFn, d0: dt.datetime) -> dict[str, Any]:
    granularity = draw(st.sampled_from(["hour", "day", "total"]))
    start = (
        d0
        + draw(st.integers(0, 6 * 24)) * HOUR
        + draw(st.sampled_from([0, 17, 1800])) * dt.timedelta(seconds=1)
    )
    length = draw(st.integers(1, 5 * 24)) * HOUR
    return {
        "start": start,
        "end": start + length,
        "event_type": draw(st.sampled_from(["invoice_paid_x", "invoice_paid_x", "api_request"])),
        "measures": draw(st.lists(measures, min_size=1, max_size=3, unique=True)),
        "filters": draw(st.lists(filters(), max_size=3)),
        "group_by": draw(st.lists(st.sampled_from(FIELDS), max_size=2, unique=True)),
        "granularity": granularity,
        "top": draw(st.integers(1, 4)),
        "compare": draw(st.booleans()),
    }


def test_generated_questions_equal_the_reference(database_url: str) -> None:
    """Hypothesis writes the questions; the reference implementation answers them from
    the same raw rows; the two must agree exactly (averages to 1e-12)."""
    loop = asyncio.new_event_loop()
    try:
        conn: asyncpg.Connection = loop.run_until_complete(asyncpg.connect(database_url))
        now: dt.datetime = loop.run_until_complete(conn.fetchval("SELECT now()"))
        loop.run_until_complete(seed.write(database_url, now))
        rows = loop.run_until_complete(ref.raw_rows(conn))

        @settings(
            max_examples=120,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(q=questions(seed.start_of(now)))
        def agree(q: dict[str, Any]) -> None:
            loop.run_until_complete(check(conn, rows, **q))

        agree()
        loop.run_until_complete(conn.close())
    finally:
        loop.close()


@pytest.mark.timescale
def test_generated_questions_equal_the_reference_on_the_timescale_tier(timescale_url: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        setup: asyncpg.Connection = loop.run_until_complete(
            asyncpg.connect(timescale_url, statement_cache_size=0)
        )
        now: dt.datetime = loop.run_until_complete(_migrated(setup))
        loop.run_until_complete(setup.close())
        loop.run_until_complete(seed.write(timescale_url, now, n=250))
        conn: asyncpg.Connection = loop.run_until_complete(
            asyncpg.connect(timescale_url, statement_cache_size=0)
        )
        # compress what can be compressed: explore must read compressed chunks alike
        loop.run_until_complete(
            conn.execute(
                "SELECT compress_chunk(c, if_not_compressed => true)"
                " FROM show_chunks('analytics_events', older_than => now() - interval '2 days') c"
            )
        )
        rows = loop.run_until_complete(ref.raw_rows(conn))

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(q=questions(seed.start_of(now)))
        def agree(q: dict[str, Any]) -> None:
            loop.run_until_complete(check(conn, rows, **q))

        agree()
        loop.run_until_complete(conn.close())
    finally:
        loop.close()


async def _migrated(conn: asyncpg.Connection) -> dt.datetime:
    """The timescale tier's schema in a fresh server, and its clock."""
    await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    await lac.migrate(conn)
    now: dt.datetime = await conn.fetchval("SELECT now()")
    return now
