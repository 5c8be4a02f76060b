"""Funnels and retention at scale (issue 26), side by side with the straightforward SQL.

``python benchmarks/bench_funnels.py --database NAME [--load 10000000]``: on a database of
the read-scale benchmark's generated events (``_funnel_load``: the demo's event mix, 100k
skewed users, 91 days; loaded first with ``--load N`` when NAME does not exist), times

* the library's funnels (``read.funnels.funnel``): 3 steps over 7 and 30 days, 5 steps
  over 30 days, and the 5 steps with a breakdown by service (window 7 days);
* the library's weekly retention over 8 and 12 weekly cohorts (return event: the cohort
  event, and any event);
* the straightforward SQL of the same questions, once each under a time limit: the
  funnel as a self-join of the step events (each step joined to the previous one within
  the window, users counted per step; no times), retention as cohorts joined to every
  return event of their users;

``--reps`` runs after a warm-up (p50/p95). Questions whose p95 is over the target get their
statement's ``EXPLAIN (ANALYZE, BUFFERS)`` printed. Run under ``flock
/work/team/bench.lock``. The final JSON line carries ``funnel_p95_ms`` (the slowest
funnel without breakdown), ``funnel_breakdown_p95_ms``, ``retention_p95_ms`` (the
slowest retention) and every question's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _funnel_load
from _common import database_url, summarize, table, with_database

from lib_analytics_core.read import _exec, funnels, retention

_DAY = dt.timedelta(days=1)
FUNNEL_TARGET_MS = 1000.0
BREAKDOWN_TARGET_MS = 2000.0
RETENTION_TARGET_MS = 1000.0
STEPS3 = ["task_created", "task_started", "task_completed"]
STEPS5 = ["auth_login_attempt", "auth_code_verified", *STEPS3]
BASELINE_LIMIT_S = 20.0


def _baseline_funnel(steps: list[str]) -> str:
    """The straightforward funnel: step j joined to step j-1 of the same user, later and
    within W of the entry; distinct users per step."""
    k = len(steps)
    ctes = [
        f's1 AS (SELECT user_id, "timestamp" AS ts FROM analytics_events WHERE event_type ='
        f' \'{steps[0]}\' AND "timestamp" >= $1 AND "timestamp" < $2 AND user_id IS NOT NULL)'
    ]
    ctes += [
        f's{j} AS (SELECT user_id, "timestamp" AS ts FROM analytics_events WHERE'
        f' event_type = \'{steps[j - 1]}\' AND "timestamp" >= $1 AND "timestamp" < $3)'
        for j in range(2, k + 1)
    ]
    joins = " ".join(
        f"LEFT JOIN s{j} ON s{j}.user_id = s{j - 1}.user_id AND s{j}.ts > s{j - 1}.ts"
        f" AND s{j}.ts <= s1.ts + $4::interval"
        for j in range(2, k + 1)
    )
    counts = ", ".join(f"count(DISTINCT s{j}.user_id)" for j in range(1, k + 1))
    return f"WITH {', '.join(ctes)} SELECT {counts} FROM s1 {joins}"


_BASELINE_RETENTION = """
WITH c AS (
    SELECT user_id, date_trunc('week', min("timestamp"), 'UTC') AS cp
    FROM analytics_events
    WHERE event_type = $3 AND "timestamp" >= $1 AND "timestamp" < $2 AND user_id IS NOT NULL
    GROUP BY user_id
)
SELECT c.cp, floor(extract(epoch FROM date_trunc('week', e."timestamp", 'UTC') - c.cp)
       / 604800) AS k, count(DISTINCT e.user_id)
FROM c JOIN analytics_events e ON e.user_id = c.user_id AND e."timestamp" >= c.cp
WHERE ($4::text IS NULL OR e.event_type = $4)
GROUP BY 1, 2
"""


async def _time(call: Callable[[], Awaitable[Any]], reps: int) -> list[float]:
    await call()  # warm-up
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def _baseline(
    conn: asyncpg.Connection, sql: str, *args: object
) -> tuple[float | str, list[asyncpg.Record]]:
    t0 = time.perf_counter()
    try:
        rows = await conn.fetch(sql, *args, timeout=BASELINE_LIMIT_S)
    except (TimeoutError, asyncpg.QueryCanceledError):
        return f"> {BASELINE_LIMIT_S:g} s (cancelled)", []
    return round((time.perf_counter() - t0) * 1000, 1), rows


async def run(url: str, reps: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        tier = (
            "timescale"
            if await conn.fetchval(
                "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
            )
            else "partitioned"
        )
        rows = int(await conn.fetchval("SELECT count(*) FROM analytics_events"))
        compressed = None
        if tier == "timescale":  # the compressed tier is where a naive plan decompresses all
            compressed = str(
                await conn.fetchval(
                    "SELECT count(*) FILTER (WHERE is_compressed) || ' of ' || count(*)"
                    " FROM timescaledb_information.chunks"
                    " WHERE hypertable_name = 'analytics_events'"
                )
            )
        newest: dt.datetime = await conn.fetchval('SELECT max("timestamp") FROM analytics_events')
        # ranges end at yesterday 00:00 UTC of the data: complete days, W after them exists
        end = newest.replace(hour=0, minute=0, second=0, microsecond=0) - 7 * _DAY
        w = 7 * _DAY
        results: dict[str, Any] = {}
        lines = []
        explains: list[str] = []
        cases: list[tuple[str, Callable[[], Awaitable[Any]], float, str, tuple[object, ...]]] = []
        for name, steps, days, by in (
            ("funnel 3 steps 7 days", STEPS3, 7, None),
            ("funnel 3 steps 30 days", STEPS3, 30, None),
            ("funnel 5 steps 30 days", STEPS5, 30, None),
            ("funnel 5 steps 30 days by service", STEPS5, 30, "service"),
        ):
            start = end - days * _DAY

            def ask(s: list[str] = steps, lo: dt.datetime = start, b: str | None = by) -> Any:
                return funnels.funnel(conn, start=lo, end=end, steps=s, within=w, breakdown=b)

            target = BREAKDOWN_TARGET_MS if by else FUNNEL_TARGET_MS
            cases.append((name, ask, target, _baseline_funnel(steps), (start, end, end + w, w)))
        for weeks in (8, 12):
            for ret in ("task_created", None):
                r_end = retention.period_start(dt.datetime.now(dt.UTC), "week")  # this week
                r_start = r_end - weeks * 7 * _DAY

                def ask_r(
                    lo: dt.datetime = r_start, hi: dt.datetime = r_end, r: str | None = ret
                ) -> Any:
                    return retention.retention(
                        conn, start=lo, end=hi, cohort_event="task_created", return_event=r,
                        period="week",
                    )  # fmt: skip

                name = f"retention {weeks} weeks, return {ret or 'any event'}"
                cases.append(
                    (name, ask_r, RETENTION_TARGET_MS, _BASELINE_RETENTION,
                     (r_start, r_end, "task_created", ret))
                )  # fmt: skip
        for name, call, target, base_sql, args in cases:
            times = await _time(call, reps)
            s = summarize(times)
            base, base_rows = await _baseline(conn, base_sql, *args)
            answer = await call()
            agree = None  # like for like: the self-join's users per step are the library's
            if base_rows and name.startswith("funnel"):
                agree = list(base_rows[0]) == [st.users for st in answer.steps]
            results[name] = {
                "p50_ms": round(s.p50, 1),
                "p95_ms": round(s.p95, 1),
                "baseline_ms": base,
                "baseline_agrees": agree,
            }
            lines.append((name, s.p50, s.p95, base, "yes" if s.p95 <= target else "MISS"))
            if s.p95 > target:
                explains.append(
                    f"--- {name} ({tier}): EXPLAIN ANALYZE\n" + await _explain_sql(conn, call)
                )
        print(
            table(
                f"funnels and retention, {tier}, {rows:,} events",
                ["question", "p50 ms", "p95 ms", "straightforward SQL ms", "target met"],
                lines,
            )
        )
        for e in explains:
            print(e)
        funnel_p95 = max(
            v["p95_ms"] for k, v in results.items() if k.startswith("funnel") and "by" not in k
        )
        return {
            "tier": tier,
            "events": rows,
            "compressed_chunks": compressed,
            "funnel_p95_ms": funnel_p95,
            "funnel_breakdown_p95_ms": results["funnel 5 steps 30 days by service"]["p95_ms"],
            "retention_p95_ms": max(
                v["p95_ms"] for k, v in results.items() if k.startswith("retention")
            ),
            "questions": results,
        }
    finally:
        await conn.close()


async def _explain_sql(conn: asyncpg.Connection, call: Callable[[], Awaitable[Any]]) -> str:
    """The question's own statement and arguments (captured at the read layer's one
    execution point), explained with the settings the question runs with."""
    captured: list[tuple[str, tuple[object, ...]]] = []
    original = _exec.fetch

    async def spy(db: Any, question: str, sql: str, *args: object, **kw: Any) -> Any:
        captured.append((sql, args))
        return await original(db, question, sql, *args, **kw)

    _exec.fetch = spy  # type: ignore[assignment]
    try:
        await call()
    finally:
        _exec.fetch = original  # type: ignore[assignment]
    sql, args = captured[-1]
    async with conn.transaction(readonly=True):
        await conn.execute(_exec.HEAVY_SETTINGS)
        plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
    return "\n".join(r[0] for r in plan)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--database-url", help="admin DSN of the server (default: local)")
    p.add_argument("--database", required=True, help="the loaded database (kept)")
    p.add_argument("--load", type=int, help="load this many events first if it does not exist")
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args()
    admin = database_url(args.database_url)

    async def go() -> dict[str, Any]:
        loaded = None
        if not await _funnel_load.exists(admin, args.database):
            if not args.load:
                p.error(f"database {args.database} does not exist; pass --load N")
            loaded = await _funnel_load.load(admin, args.database, args.load, 100_000)
            print(json.dumps(loaded))
        out = await run(with_database(admin, args.database), args.reps)
        return {**out, "load": loaded}

    print(json.dumps(asyncio.run(go())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
