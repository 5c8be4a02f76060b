"""Funnels and retention (read/funnels.py, read/retention.py) against the plain reference
of tests/_funnel_reference.py, over hypothesis-generated histories written to a real
database: events at the same instant, a step type repeated, rows inserted out of order,
late rows after ``maintain`` (compressed chunks on the timescale tier), a user erased
with ``forget_user``. On plain PostgreSQL and on the timescale tier (PGlite, or the
native TimescaleDB of ``TEST_TIMESCALE_URL``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lib_analytics_core as lac
from lib_analytics_core import QueryError
from lib_analytics_core.api import create_app
from lib_analytics_core.read import _raw
from lib_analytics_core.read import funnels as fn
from lib_analytics_core.read import retention as rt
from lib_analytics_core.read.filters import Filter
from lib_analytics_core.schema.facts import (
    DAILY_ACTIVE_USERS,
    WEEKLY_ACTIVE_USERS,
    WEEKLY_PENDING_TABLE,
)
from tests import _funnel_reference as ref
from tests._explore_reference import Raw

DAY = dt.timedelta(days=1)
USERS = [uuid.UUID(int=0xF0000 + i, version=4) for i in range(5)]
TYPES = ["a", "b", "c"]
SERVICES = ["web", "api", "ios"]
WITHIN = [dt.timedelta(minutes=90), dt.timedelta(hours=6), 3 * DAY, 14 * DAY]
STEP_FILTERS: list[tuple[str, str, Any]] = [
    ("plan", "=", "pro"),
    ("n", ">", 2),
    ("service", "=", "web"),
    ("plan", "is null", None),
    ("user_id", "!=", str(USERS[0])),  # a column the funnel's own join must not shadow
]


@dataclass(frozen=True)
class Ev:
    user: int | None
    type: str
    slot: int  # 90-minute slots: same-instant events are common
    service: str
    plan: str | None
    n: int
    late: bool


events = st.builds(
    Ev,
    user=st.one_of(st.integers(0, len(USERS) - 1), st.none()),
    type=st.sampled_from(TYPES),
    slot=st.integers(0, 200),
    service=st.sampled_from(SERVICES),
    plan=st.sampled_from(["pro", "free", None]),
    n=st.integers(0, 5),
    late=st.booleans(),
)


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[str, list[tuple[str, str, Any]]]]:
    k = draw(st.integers(2, 4))
    out = []
    for _ in range(k):
        fs = draw(st.lists(st.sampled_from(STEP_FILTERS), max_size=1))
        out.append((draw(st.sampled_from(TYPES)), fs))
    return out


@dataclass
class History:
    early: list[Raw]
    late: list[Raw]
    forget: uuid.UUID | None


def to_raw(e: Ev, base: dt.datetime, i: int) -> Raw:
    data: dict[str, Any] = {"n": e.n}
    if e.plan is not None:
        data["plan"] = e.plan
    return Raw(
        base + e.slot * dt.timedelta(minutes=90),
        uuid.UUID(int=0xA0000 + i, version=4),
        e.type,
        e.service,
        None if e.user is None else USERS[e.user],
        data,
    )


async def write(conn: asyncpg.Connection, rows: list[Raw]) -> None:
    shuffled = list(rows)
    random.Random(len(rows)).shuffle(shuffled)  # arrival order is not time order
    for r in shuffled:
        await conn.execute(
            'INSERT INTO analytics_events ("timestamp", event_id, event_type, service,'
            " user_id, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            r.timestamp,
            r.event_id,
            r.event_type,
            r.service,
            r.user_id,
            json.dumps(r.data),
        )


async def clear(conn: asyncpg.Connection, timescale: bool) -> None:
    """An empty history, the per-user daily and weekly rollups included: retention with
    "any event" reads them for the days and weeks they have current, and neither
    TRUNCATE nor drop_chunks (which production never runs on raw rows of the retained
    range) tells them that the raw rows went away."""
    if timescale:
        for rel in ("analytics_events", DAILY_ACTIVE_USERS, WEEKLY_ACTIVE_USERS):
            await conn.execute(
                f"SELECT drop_chunks('{rel}', older_than => now() + interval '10 years')"
            )
    else:
        await conn.execute(
            f"TRUNCATE analytics_events, {DAILY_ACTIVE_USERS}, {WEEKLY_ACTIVE_USERS},"
            f" {WEEKLY_PENDING_TABLE}"
        )


async def load(conn: asyncpg.Connection, h: History, timescale: bool) -> list[Raw]:
    """The history as production would have it: rows, maintenance (compression on the
    timescale tier), late rows, an erasure. Returns the rows that must count."""
    await clear(conn, timescale)
    await write(conn, h.early)
    await lac.maintain(conn, compress_after=DAY)
    if timescale and h.early:  # the funnels read compressed chunks, and late rows go there
        compressed = await conn.fetchval(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'analytics_events' AND is_compressed"
        )
        assert compressed >= 1
    await write(conn, h.late)
    rows = h.early + h.late
    if h.forget is not None:
        await lac.forget_user(conn, h.forget)
        rows = [r for r in rows if r.user_id != h.forget]
    assert await conn.fetchval("SELECT count(*) FROM analytics_events") == len(rows)
    return rows


def close(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12))


def funnel_normalized(r: fn.FunnelResult) -> dict[Any, list[tuple[int, Any, Any]]]:
    def rows(steps: list[fn.FunnelStep]) -> list[tuple[int, Any, Any]]:
        return [
            (s.users, s.median_seconds_from_previous, s.p95_seconds_from_previous) for s in steps
        ]

    out: dict[Any, Any] = {None: rows(r.steps)}
    for g in r.groups or []:
        out[g.value, g.other] = rows(g.steps)
    return out


def assert_funnel(got: fn.FunnelResult, want: dict[Any, Any]) -> None:
    have = funnel_normalized(got)
    assert set(have) == set(want), (have, want)
    for key, rows in want.items():
        for (gu, gm, gp), (wu, wm, wp) in zip(have[key], rows, strict=True):
            assert gu == wu and close(gm, wm) and close(gp, wp), (key, have[key], rows)
    top = got.steps[0].users
    for i, s in enumerate(got.steps):
        assert s.conversion_from_first == (s.users / top if top else None)
        if i:
            prev = got.steps[i - 1].users
            assert s.conversion_from_previous == (s.users / prev if prev else None)


def retention_normalized(r: rt.RetentionResult) -> dict[Any, Any]:
    out: dict[Any, Any] = {None: [(c.period_start, c.returned) for c in r.cohorts]}
    for g in r.groups or []:
        out[g.value, g.other] = [(c.period_start, c.returned) for c in g.cohorts]
    for c in r.cohorts:
        assert c.size == c.returned[0]
    return out


@st.composite
def cases(draw: st.DrawFn, base: dt.datetime) -> dict[str, Any]:
    evs = draw(st.lists(events, min_size=1, max_size=40))
    rows = [to_raw(e, base, i) for i, e in enumerate(evs)]
    forget = draw(st.one_of(st.none(), st.sampled_from(USERS)))
    history = History(
        [r for r, e in zip(rows, evs, strict=True) if not e.late],
        [r for r, e in zip(rows, evs, strict=True) if e.late],
        forget,
    )
    start = (
        base
        + draw(st.integers(0, 10)) * DAY
        + draw(st.sampled_from([0, 45])) * dt.timedelta(minutes=1)
    )
    return {
        "history": history,
        "start": start,
        "end": start + draw(st.integers(1, 12)) * DAY,
        "steps": draw(steps()),
        "within": draw(st.sampled_from(WITHIN)),
        "breakdown": draw(st.sampled_from([None, "service", "plan"])),
        "top": draw(st.integers(1, 3)),
        "cohort": draw(st.sampled_from(TYPES)),
        "return": draw(st.sampled_from([None, *TYPES])),
        "period": draw(st.sampled_from(["day", "week", "month"])),
        "periods": draw(st.one_of(st.none(), st.integers(1, 20))),
        "by_service": draw(st.booleans()),
    }


async def check_case(conn: asyncpg.Connection, c: dict[str, Any], timescale: bool) -> None:
    rows = await load(conn, c["history"], timescale)
    steps_ = [fn.Step(t, tuple(Filter(f, op, v) for f, op, v in fs)) for t, fs in c["steps"]]
    got = await fn.funnel(
        conn,
        start=c["start"],
        end=c["end"],
        steps=steps_,
        within=c["within"],
        breakdown=c["breakdown"],
        top=c["top"],
    )
    want = ref.funnel(
        rows,
        start=c["start"],
        end=c["end"],
        steps=c["steps"],
        within=c["within"],
        breakdown=c["breakdown"],
        top=c["top"],
    )
    assert_funnel(got, want)
    ret = await rt.retention(
        conn,
        start=c["start"],
        end=c["end"],
        cohort_event=c["cohort"],
        return_event=c["return"],
        period=c["period"],
        periods=c["periods"],
        breakdown="service" if c["by_service"] else None,
        top=c["top"],
    )
    want_r = ref.retention(
        rows,
        start=c["start"],
        end=c["end"],
        cohort_event=c["cohort"],
        return_event=c["return"],
        period=c["period"],
        now=ret.as_of,
        periods=ret.periods,
        breakdown=c["by_service"],
        top=c["top"],
    )
    assert retention_normalized(ret) == want_r


#: Hypothesis settings of the generated-history tests (a database round trip per example).
GENERATED: Final = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def on_loop(
    url: str,
    timescale: bool,
    body: Callable[[asyncio.AbstractEventLoop, asyncpg.Connection, dt.datetime], None],
) -> None:
    """``body(loop, conn, today)`` with a connection and an event loop of its own
    (hypothesis's tests are synchronous), the extension and schema first on the
    timescale tier; ``today`` is the server's current UTC day."""
    loop = asyncio.new_event_loop()
    try:
        conn: asyncpg.Connection = loop.run_until_complete(
            asyncpg.connect(url, statement_cache_size=0)
        )
        if timescale:
            loop.run_until_complete(conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb"))
            loop.run_until_complete(lac.migrate(conn))
        now: dt.datetime = loop.run_until_complete(conn.fetchval("SELECT now()"))
        body(loop, conn, now.replace(hour=0, minute=0, second=0, microsecond=0))
        loop.run_until_complete(conn.close())
    finally:
        loop.close()


def run_generated(url: str, timescale: bool, examples: int) -> None:
    def body(loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection, today: dt.datetime) -> None:
        @settings(GENERATED, max_examples=examples)
        @given(c=cases(today - 20 * DAY))
        def agree(c: dict[str, Any]) -> None:
            loop.run_until_complete(check_case(conn, c, timescale))

        agree()

    on_loop(url, timescale, body)


def test_generated_histories_equal_the_reference(database_url: str) -> None:
    """Hypothesis writes histories and questions; the reference answers them from the
    rows that must count; funnels and retention must agree exactly."""
    run_generated(database_url, timescale=False, examples=60)


@pytest.mark.timescale
def test_generated_histories_equal_the_reference_on_the_timescale_tier(
    timescale_url: str,
) -> None:
    run_generated(timescale_url, timescale=True, examples=15)


# ---------------------------------------------------------------------- named cases


async def test_named_funnel_same_instant_repeats_and_window(db: asyncpg.Connection) -> None:
    now: dt.datetime = await db.fetchval("SELECT now()")
    t0 = now.replace(hour=0, minute=0, second=0, microsecond=0) - 10 * DAY
    u1, u2, u3 = USERS[:3]
    h = [
        # u1: a, b at the same instant (no step), then b later, then a (repeated) later
        (u1, "a", 0), (u1, "b", 0), (u1, "b", 60), (u1, "a", 120),
        # u2: the first entry reaches 2 steps, a later one all 3 within the window
        (u2, "a", 0), (u2, "b", 30), (u2, "a", 3000), (u2, "b", 3001), (u2, "a", 3002),
        # u3: b before a only
        (u3, "b", 0), (u3, "a", 10),
    ]  # fmt: skip
    rows = [
        Raw(t0 + m * dt.timedelta(minutes=1), uuid.UUID(int=i + 1, version=4), t, "web", u, {})
        for i, (u, t, m) in enumerate(h)
    ]
    await write(db, rows)
    got = await fn.funnel(
        db, start=t0, end=t0 + 5 * DAY, steps=["a", "b", "a"], within=dt.timedelta(hours=1)
    )
    # u1: a@0 -> b@60 (not b@0: same instant) -> a@120 is 2 h after entry: depth 2;
    # u2: a@0 -> b@30 reaches 2, a@3000 -> b@3001 -> a@3002 reaches 3; u3: entered only
    assert [s.users for s in got.steps] == [3, 2, 1]
    want = ref.funnel(
        rows,
        start=t0,
        end=t0 + 5 * DAY,
        steps=[("a", []), ("b", []), ("a", [])],
        within=dt.timedelta(hours=1),
    )
    assert_funnel(got, want)
    assert got.steps[1].median_seconds_from_previous == 60.0  # nearest rank of 60 s, 3600 s
    assert got.steps[2].median_seconds_from_previous == 60.0


async def test_bad_questions_are_query_errors_that_say_why(db: asyncpg.Connection) -> None:
    now: dt.datetime = await db.fetchval("SELECT now()")
    base = {"start": now - 7 * DAY, "end": now}
    cases_: list[tuple[Callable[..., Any], dict[str, Any], str]] = [
        (fn.funnel, {"steps": ["a"]}, "2 to 10 steps"),
        (fn.funnel, {"steps": ["a"] * 11}, "2 to 10 steps"),
        (fn.funnel, {"steps": ["a", ""]}, "step 2"),
        (fn.funnel, {"steps": ["a", "b"], "within": "7y"}, "within"),
        (fn.funnel, {"steps": ["a", "b"], "within": "0d"}, "within"),
        (fn.funnel, {"steps": ["a", "b"], "within": "91d"}, "within"),
        (fn.funnel, {"steps": ["a", "b"], "breakdown": "no such"}, "invalid field name"),
        (fn.funnel, {"steps": ["a", fn.Step("b", ("x:gt:y",))]}, "need a number"),  # type: ignore[arg-type]
        (rt.retention, {"cohort_event": "a", "period": "year"}, "period"),
        (rt.retention, {"cohort_event": "a", "periods": 0}, "periods"),
        (rt.retention, {"cohort_event": "a", "breakdown": "plan"}, "service"),
        (rt.retention, {"cohort_event": ""}, "cohort_event"),
    ]
    for call, extra, reason in cases_:
        with pytest.raises(QueryError, match=reason):
            await call(db, **{**base, **extra})


@pytest.mark.parametrize("question", ["funnel", "retention"])
async def test_a_range_older_than_raw_retention_is_refused_not_undercounted(
    db: asyncpg.Connection, question: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    start, end = now - 91 * DAY, now - 80 * DAY
    ask: Callable[[], Any] = (
        (lambda: fn.funnel(db, start=start, end=end, steps=["a", "b"]))
        if question == "funnel"
        else (lambda: rt.retention(db, start=start, end=end, cohort_event="a"))
    )
    with pytest.raises(QueryError, match="kept for 90 days"):
        await ask()
    # at the horizon itself it answers
    assert _raw.clock() - now < DAY
    await fn.funnel(db, start=now - 89 * DAY, end=now, steps=["a", "b"])


# ------------------------------------------------------------------ the HTTP routes

TOKEN = "funnels-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Connection]]:
    conn = await asyncpg.connect(database_url)
    now: dt.datetime = await conn.fetchval("SELECT now()")
    base = now.replace(hour=0, minute=0, second=0, microsecond=0) - 20 * DAY
    rng = random.Random(7)
    evs = [
        Ev(rng.randrange(5), rng.choice(TYPES), rng.randrange(200), rng.choice(SERVICES),
           rng.choice(["pro", "free", None]), rng.randrange(6), False)
        for _ in range(300)
    ]  # fmt: skip
    await write(conn, [to_raw(e, base, i) for i, e in enumerate(evs)])
    app = create_app(database_url, TOKEN, cache_ttl_s=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c, conn
    await conn.close()


async def test_routes_answer_the_typed_queries(
    client: tuple[httpx.AsyncClient, asyncpg.Connection],
) -> None:
    c, conn = client
    now: dt.datetime = await conn.fetchval("SELECT now()")
    start, end = now - 20 * DAY, now
    r = await c.get(
        "/v1/funnel",
        params=[
            ("steps", "a,b,a"),
            ("within", "3d"),
            ("start", start.isoformat()),
            ("end", end.isoformat()),
            ("step_filter", "2:plan:eq:pro"),
            ("step_filter", "1:n:gt:1"),
            ("breakdown", "service"),
            ("top", "2"),
        ],
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    typed = await fn.funnel(
        conn,
        start=start,
        end=end,
        steps=[fn.Step("a", ("n:gt:1",)), fn.Step("b", ("plan:eq:pro",)), "a"],  # type: ignore[arg-type]
        within="3d",
        breakdown="service",
        top=2,
    )
    body = r.json()
    assert [s["users"] for s in body["steps"]] == [s.users for s in typed.steps]
    assert body["steps"][0]["users"] > 0 and body["breakdown"] == "service"
    assert [(g["value"], g["other"]) for g in body["groups"]] == [
        (g.value, g.other) for g in typed.groups or []
    ]
    assert set(body["steps"][1]) == {
        "event_type", "users", "conversion_from_previous", "conversion_from_first",
        "median_seconds_from_previous", "p95_seconds_from_previous",
    }  # fmt: skip
    r = await c.get(
        "/v1/retention",
        params={"cohort_event": "a", "return_event": "b", "period": "day",
                "start": start.isoformat(), "end": end.isoformat()},
        headers=AUTH,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    ret = await rt.retention(
        conn, start=start, end=end, cohort_event="a", return_event="b", period="day"
    )
    assert [(x["size"], x["returned"]) for x in r.json()["cohorts"]] == [
        (x.size, x.returned) for x in ret.cohorts
    ]
    assert r.json()["cohorts"][0]["size"] > 0
    assert (await c.get("/v1/funnel", params={"steps": "a,b"})).status_code == 401
    spec = (await c.get("/openapi.json")).json()
    described = {p["name"] for p in spec["paths"]["/v1/funnel"]["get"]["parameters"]}
    assert {"steps", "within", "step_filter", "breakdown", "top", "start", "end"} <= described
    assert "90 days" in spec["paths"]["/v1/retention"]["get"]["description"]


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/v1/funnel", {"steps": "a"}, "2 to 10 steps"),
        ("/v1/funnel", {"steps": ",".join("abcdefghijk")}, "2 to 10 steps"),
        ("/v1/funnel", {"steps": "a,,b"}, "step 2"),
        ("/v1/funnel", {"steps": "a,b", "within": "1y"}, "within"),
        ("/v1/funnel", {"steps": "a,b", "step_filter": "3:plan:eq:x"}, "step number"),
        ("/v1/funnel", {"steps": "a,b", "step_filter": "1:plan:like:x"}, "unknown operator"),
        ("/v1/funnel", {"steps": "a,b", "breakdown": "bad name"}, "invalid field name"),
        ("/v1/funnel", {"steps": "a,b", "start": "2020-01-01", "end": "2020-02-01"}, "90 days"),
        (
            "/v1/retention",
            {"cohort_event": "a", "start": "2020-01-01", "end": "2020-02-01"},
            "90 days",
        ),
    ],
)
async def test_routes_bad_input_is_a_400_with_the_reason(
    client: tuple[httpx.AsyncClient, asyncpg.Connection],
    path: str,
    params: dict[str, str],
    reason: str,
) -> None:
    c, _ = client
    r = await c.get(path, params=params, headers=AUTH)
    assert r.status_code == 400, r.text
    assert reason in r.json()["message"], r.text


async def test_the_worked_examples_of_docs_api_md(db: asyncpg.Connection) -> None:
    """The funnel and retention examples a product manager reads in docs/api.md."""
    now: dt.datetime = await db.fetchval("SELECT now()")
    day = now.replace(hour=0, minute=0, second=0, microsecond=0) - 30 * DAY
    monday = day - dt.timedelta(days=day.weekday())
    ana, ben, cleo = USERS[:3]

    def at(h: float) -> dt.datetime:
        return day + dt.timedelta(hours=h)

    h = [
        (ana, "signup", at(9)), (ana, "invite", at(9)), (ana, "invite", at(9 + 20 / 60)),
        (ana, "invite", at(9 + 50 / 60)),
        (ben, "signup", at(9)), (ben, "signup", at(14)), (ben, "invite", at(9 + 10 / 60)),
        (ben, "invite", at(16)),
        (cleo, "invite", at(8)), (cleo, "signup", at(8.5)),
        # retention: first task_created in week 1 (Tue / Sun), back in weeks 2 and 3
        (ana, "task_created", monday + 1 * DAY), (ana, "task_created", monday + 11 * DAY),
        (ben, "task_created", monday + 6 * DAY), (ben, "task_created", monday + 15 * DAY),
    ]  # fmt: skip
    rows = [
        Raw(t, uuid.UUID(int=0xD000 + i, version=4), e, "web", u, {})
        for i, (u, e, t) in enumerate(h)
    ]
    await write(db, rows)
    got = await fn.funnel(
        db, start=day, end=day + DAY, steps=["signup", "invite", "invite"], within="1h"
    )
    assert [s.users for s in got.steps] == [3, 2, 1]
    assert [s.conversion_from_previous for s in got.steps] == [None, 2 / 3, 0.5]
    assert got.steps[2].conversion_from_first == 1 / 3
    assert got.steps[2].median_seconds_from_previous == 30 * 60.0  # Ana: 9:20 -> 9:50
    assert got.steps[1].median_seconds_from_previous == 10 * 60.0  # Ben 10 min, Ana 20
    ret = await rt.retention(
        db,
        start=monday,
        end=monday + 7 * DAY,
        cohort_event="task_created",
        period="week",
        periods=3,
    )
    assert [(c.period_start, c.returned) for c in ret.cohorts] == [(monday, [2, 1, 1, 0])]
