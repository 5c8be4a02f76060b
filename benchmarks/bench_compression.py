"""Compression of the demo's 30 days on the TimescaleDB tier, and the levers behind it.

``python benchmarks/bench_compression.py [--users 800] [--days 30] [--timescale-url URL]``

1. The demo's simulator (``lib_analytics_core.demo.simulate``, the real client and
   worker) writes its 30 days into a scratch database on the plain PostgreSQL server
   (``--database-url``, default ``$DATABASE_URL`` or the local server): the exact rows a
   deployment would hold.
2. The rows are copied to a TimescaleDB server (``--timescale-url``, default
   ``$TEST_TIMESCALE_URL``, else a PGlite + TimescaleDB server started for the run) into
   one staging table, then into one hypertable per variant, side by side in one run.
3. Per variant: ``hypertable_detailed_size`` (heap + indexes + TOAST, as TimescaleDB
   reports it) before and after compressing every chunk, and the same over only the
   chunks a 7-day compression policy would have compressed.

Variants (each a lever measured, not assumed):

* ``as shipped``: today's table (migrations 0001 + 0005 + 0010 + 0019: no duplicate
  ``"timestamp"`` index, segmentby ``event_type``, orderby ``user_id, "timestamp"
  DESC``, sparse indexes ``bloom(event_id)`` only, days compressed into chunks of up
  to 7 days) holding the rows exactly as the simulation's worker wrote them (``data``
  without the copies of the ``user_id``/``service`` columns);
* ``before 0019``: orderby ``"timestamp" DESC, event_id`` and ``bloom(user_id)`` (0010's);
* ``before 0010``: the same rows with the layout before migration 0010 (one compressed
  chunk per day, the sparse indexes TimescaleDB derives from every index);
* ``before: + column copies in data``: that layout with ``data`` as releases before
  2026-12 stored it (each event's full JSON, ``user_id`` and ``service`` included;
  rebuilt from the decoded events): what was shipped before both changes;
* ``0001 as first shipped``: the original table, with ``create_hypertable``'s default
  ``"timestamp"`` index, and the copies;
* ``+ segmentby service``: segmentby ``event_type, service``;
* ``orderby timestamp only``: orderby ``"timestamp" DESC``;
* ``no segmentby``: one segment per chunk (fuller batches, mixed JSON shapes);
* ``- _meta constants``: ``data`` without the per-client constants ``_meta.host``,
  ``_meta.env``, ``_meta.release`` (what moving them out of every row would save);
* ``- null values in data``: ``jsonb_strip_nulls(data)`` (absent = null for readers);
* ``best``: the combination of the levers that helped.

Prints a table and, as the last line, one JSON object (``compression_ratio_*`` keys are
``1 - after / before`` of the whole hypertable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _common import bench_database, database_url, emit, table  # noqa: E402

META_CONSTANTS = ("host", "env", "release")


@dataclass(frozen=True)
class Variant:
    name: str
    default_index: bool = False
    segmentby: str = "event_type"
    orderby: str = 'user_id, "timestamp" DESC'
    #: the explicit sparse indexes (0010 set bloom(user_id), 0019 bloom(event_id))
    sparse: str = "bloom(event_id)"
    strip_meta: bool = False
    old_payload: bool = False
    strip_nulls: bool = False
    #: migration 0010's layout: explicit sparse indexes, days merged into 7-day chunks
    layout_0010: bool = True


_TIME_ORDER = '"timestamp" DESC, event_id'  # the orderby before migration 0019
VARIANTS = (
    Variant("as shipped"),
    Variant(
        "before 0019 (orderby time, bloom(user_id))", orderby=_TIME_ORDER, sparse="bloom(user_id)"
    ),
    Variant(
        "before 0010 (daily chunks, derived sparse indexes)",
        orderby=_TIME_ORDER,
        layout_0010=False,
    ),
    Variant(
        "before: + column copies in data",
        orderby=_TIME_ORDER,
        old_payload=True,
        layout_0010=False,
    ),
    Variant(
        "0001 as first shipped (+ default index, + copies)",
        orderby=_TIME_ORDER,
        default_index=True,
        old_payload=True,
        layout_0010=False,
    ),
    Variant("+ segmentby service", segmentby="event_type, service"),
    Variant("no segmentby", segmentby=""),
    Variant("orderby timestamp only", orderby='"timestamp" DESC'),
    Variant("- _meta constants", strip_meta=True),
    Variant("- null values in data", strip_nulls=True),
)
SHIPPED, BEFORE_0019, BEFORE_0010, BEFORE, FIRST = VARIANTS[:5]
LEVERS = VARIANTS[5:]


@contextlib.contextmanager
def _timescale(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests._timescale import timescale_server

    with timescale_server() as dsn:
        yield dsn


@contextlib.asynccontextmanager
async def _ts_connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url, statement_cache_size=0, timeout=60, command_timeout=3600)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        yield conn
    finally:
        conn.terminate()  # PGlite does not answer the graceful Terminate in time


async def _simulate(admin_url: str, users: int, days: int) -> list[tuple[Any, ...]]:
    from lib_analytics_core.demo.simulate import SimulationConfig, simulate

    async with bench_database(admin_url) as url:
        await simulate(url, SimulationConfig(days=days, users=users, seed=42))
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                'SELECT "timestamp", event_id, event_type, service, user_id, data::text'
                ' FROM analytics_events ORDER BY "timestamp"'
            )
        finally:
            await conn.close()
    return [(*r, _with_copies(r)) for r in rows]


def _with_copies(row: Any) -> str:
    """``data`` as releases before 2026-12 stored it: the event's whole JSON + ``_meta``."""
    import msgspec

    from lib_analytics_core import EnrichedEvent

    record = dict(
        zip(("timestamp", "event_id", "event_type", "service", "user_id", "data"), row, strict=True)
    )
    event = EnrichedEvent.from_record(record).event
    meta = msgspec.json.encode(msgspec.json.decode(row[5]).get("_meta", {}))
    body = event.to_json()
    return (
        body[:-1] + b',"_meta":' + meta + b"}" if len(body) > 2 else b'{"_meta":' + meta + b"}"
    ).decode()


async def _stage(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    await conn.execute(
        "DROP TABLE IF EXISTS bench_stage;"
        ' CREATE TABLE bench_stage ("timestamp" timestamptz, event_id uuid,'
        " event_type varchar(100), service varchar(100), user_id uuid, data text, old text)"
    )
    for i in range(0, len(rows), 5000):
        chunk = rows[i : i + 5000]
        await conn.execute(
            "INSERT INTO bench_stage SELECT * FROM unnest($1::timestamptz[], $2::uuid[],"
            " $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[])",
            *[[r[k] for r in chunk] for k in range(7)],
        )


async def _measure(
    conn: asyncpg.Connection, v: Variant, policy_cutoff: dt.datetime
) -> dict[str, Any]:
    t = "bench_" + "".join(c if c.isalnum() else "_" for c in v.name.lower()).strip("_")[:40]
    await conn.execute(f"DROP TABLE IF EXISTS {t} CASCADE")
    await conn.execute(
        f"""CREATE TABLE {t} (
            id BIGSERIAL, "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(), event_id UUID NOT NULL,
            event_type VARCHAR(100) NOT NULL, service VARCHAR(100) NOT NULL, user_id UUID,
            data JSONB NOT NULL, PRIMARY KEY ("timestamp", event_id))"""
    )
    await conn.execute(
        f"SELECT create_hypertable('{t}', 'timestamp', chunk_time_interval => INTERVAL '1 day',"
        f" create_default_indexes => {str(v.default_index).lower()})"
    )
    await conn.execute(
        f"ALTER TABLE {t} SET (timescaledb.compress,"
        f" timescaledb.compress_segmentby = '{v.segmentby}',"
        f" timescaledb.compress_orderby = '{v.orderby}')"
    )
    if v.layout_0010:  # what migration 0010 sets (its file says why)
        version = await conn.fetchval(
            "SELECT string_to_array(split_part(extversion, '-', 1), '.')::int[]"
            " FROM pg_extension WHERE extname = 'timescaledb'"
        )
        if version >= [2, 22]:
            await conn.execute(f"ALTER TABLE {t} SET (timescaledb.compress_index = '{v.sparse}')")
        await conn.execute(
            f"ALTER TABLE {t} SET (timescaledb.compress_chunk_time_interval = '7 days')"
        )
    for col in ("user_id", "event_type", "service"):
        await conn.execute(f'CREATE INDEX ON {t} ({col}, "timestamp" DESC)')
    data = "old::jsonb" if v.old_payload else "d::jsonb"
    if v.strip_meta:
        keys = ", ".join(f"'{k}'" for k in META_CONSTANTS)
        meta = f"(({data}) -> '_meta') - ARRAY[{keys}]"
        data = (
            f"CASE WHEN ({data}) ? '_meta' AND {meta} <> '{{}}'::jsonb"
            f" THEN jsonb_set({data}, '{{_meta}}', {meta}) ELSE ({data}) - '_meta' END"
        )
    if v.strip_nulls:
        data = f"jsonb_strip_nulls({data})"
    await conn.execute(
        f'INSERT INTO {t} ("timestamp", event_id, event_type, service, user_id, data)'
        f' SELECT "timestamp", event_id, event_type, service, user_id, {data}'
        ' FROM bench_stage AS s("timestamp", event_id, event_type, service, user_id, d)'
        ' ORDER BY "timestamp"'
    )
    await conn.execute(f"ANALYZE {t}")
    size = f"SELECT total_bytes, index_bytes FROM hypertable_detailed_size('{t}')"
    before = await conn.fetchrow(size)
    started = time.perf_counter()
    await conn.execute(
        f"SELECT compress_chunk(c) FROM show_chunks('{t}', older_than => $1::timestamptz) c",
        policy_cutoff,
    )
    policy = await conn.fetchrow(size)
    await conn.execute(
        f"SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('{t}') c"
    )
    seconds = time.perf_counter() - started
    after = await conn.fetchrow(size)
    chunks = await conn.fetchval(f"SELECT count(*) FROM show_chunks('{t}')")
    await conn.execute(f"DROP TABLE {t} CASCADE")
    return {
        "variant": v.name,
        "before_bytes": before["total_bytes"],
        "before_index_bytes": before["index_bytes"],
        "policy_bytes": policy["total_bytes"],
        "after_bytes": after["total_bytes"],
        "after_index_bytes": after["index_bytes"],
        "ratio_all": 1 - after["total_bytes"] / before["total_bytes"],
        "ratio_policy": 1 - policy["total_bytes"] / before["total_bytes"],
        "compress_s": round(seconds, 1),
        "chunks_after": chunks,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="plain PostgreSQL admin DSN for the simulation")
    parser.add_argument("--timescale-url", default=os.environ.get("TEST_TIMESCALE_URL"))
    parser.add_argument("--users", type=int, default=800, help="demo users (default 800)")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()

    started = time.perf_counter()
    rows = await _simulate(database_url(args.database_url), args.users, args.days)
    emit(f"simulated {len(rows):,} events over {args.days} days ({args.users} users)")
    results: list[dict[str, Any]] = []
    with _timescale(args.timescale_url) as ts_url:
        async with _ts_connect(ts_url) as conn:
            await _stage(conn, rows)
            now: dt.datetime = await conn.fetchval("SELECT now()")
            cutoff = now - dt.timedelta(days=7)
            variants = list(VARIANTS)
            for v in variants:
                results.append(await _measure(conn, v, cutoff))
                emit(f"  measured {v.name}")
            base = {r["variant"]: r for r in results}
            shipped_after = base[SHIPPED.name]["after_bytes"]
            helped = [v for v in LEVERS if base[v.name]["after_bytes"] < shipped_after]
            seg = min(
                (v for v in (SHIPPED, *LEVERS) if v is SHIPPED or v.segmentby != "event_type"),
                key=lambda v: base[v.name]["after_bytes"],
            ).segmentby
            best = Variant(
                "best: as shipped" + "".join(", " + v.name for v in helped),
                segmentby=seg,
                orderby=next(
                    (v.orderby for v in helped if v.orderby != SHIPPED.orderby), SHIPPED.orderby
                ),
                strip_meta=any(v.strip_meta for v in helped),
                strip_nulls=any(v.strip_nulls for v in helped),
            )
            results.append(await _measure(conn, best, cutoff))
            server = await conn.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
            )

    mb = 1024 * 1024
    emit(
        table(
            f"Compression of the demo's {args.days} days ({len(rows):,} events, TimescaleDB "
            f"{server}): hypertable total incl. indexes",
            [
                "variant",
                "before MB",
                "7-day policy MB",
                "all compressed MB",
                "ratio (all)",
                "vs before, uncompressed",
                "ratio (policy)",
                "index MB before/after",
            ],
            [
                [
                    r["variant"],
                    f"{r['before_bytes'] / mb:.1f}",
                    f"{r['policy_bytes'] / mb:.1f}",
                    f"{r['after_bytes'] / mb:.1f}",
                    f"{r['ratio_all']:.1%}",
                    f"{1 - r['after_bytes'] / results[2]['before_bytes']:.1%}",
                    f"{r['ratio_policy']:.1%}",
                    f"{r['before_index_bytes'] / mb:.1f}/{r['after_index_bytes'] / mb:.1f}",
                ]
                for r in results
            ],
        )
    )
    out = {
        "events": len(rows),
        "days": args.days,
        "timescaledb": server,
        "variants": results,
        "compression_ratio_shipped": results[0]["ratio_all"],
        "compression_ratio_before_0010": results[1]["ratio_all"],
        "compression_ratio_before_column_copies_dropped": results[2]["ratio_all"],
        "compression_ratio_0001": results[3]["ratio_all"],
        "compression_ratio_best": results[-1]["ratio_all"],
        "compressed_bytes_shipped_vs_before": results[0]["after_bytes"] / results[2]["after_bytes"],
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
