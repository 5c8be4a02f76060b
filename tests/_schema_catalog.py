"""A normalised, readable dump of the analytics schema in a database, from its catalog.

``src/lib_analytics_core/schema/current_<tier>.sql`` are this dump of a database that
all shipped migrations were applied to; ``tests/test_schema_sql.py`` migrates an empty
database and checks that its dump equals the committed file, procrastinate-style
("fresh schema = baseline + all migrations"), so the files cannot drift from the
migrations. Regenerate them after adding a migration::

    .venv/bin/python -m tests._schema_catalog partitioned   # plain PostgreSQL
    TEST_TIMESCALE_URL=... .venv/bin/python -m tests._schema_catalog timescale

What is normalised away (it differs between databases migrated from the same files,
or between TimescaleDB/PostgreSQL versions, and says nothing about the schema):

* the daily partitions ``analytics_events_pYYYYMMDD`` (their dates are the migration
  day's; ``maintain()`` keeps creating them): listed as one line;
* TimescaleDB's internal objects: chunks, the ids in ``_materialized_hypertable_N``
  (shown as the continuous aggregate's name), job ids and ``hypertable_id`` /
  ``mat_hypertable_id`` in job configs, triggers TimescaleDB adds itself;
* the order of catalog rows (everything is sorted by name);
* how PostgreSQL deparses a view (before 16 it qualifies every column with its table),
  and ``'$user'`` in the search path a function was created with.

Everything else is what the catalog says: ``pg_get_functiondef``, ``pg_get_indexdef``,
``pg_get_constraintdef``, ``pg_get_triggerdef``, column types and defaults, grants to
``analytics_reader``, the rows of ``analytics_aggregate_refresh``, the hypertable's
dimension and compression settings, each continuous aggregate's definition, the jobs.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import asyncpg

__all__ = ["CURRENT_FILES", "dump_schema"]

_PACKAGE = Path(__file__).resolve().parent.parent / "src" / "lib_analytics_core" / "schema"
CURRENT_FILES = {
    "timescale": _PACKAGE / "current_timescale.sql",
    "partitioned": _PACKAGE / "current_partitioned.sql",
}
_DAILY = re.compile(r"^analytics_events_p\d{8}$")
_MAT = re.compile(r"(?:_timescaledb_internal\.)?_materialized_hypertable_\d+")

_QUALIFIED = re.compile(r"\banalytics_[a-z0-9_]+\.(?=[a-z_\"])")

_HEADER = """\
-- The current analytics schema, {tier} tier: what `analytics-migrate all` leaves in an
-- empty database. Generated from the catalog by tests/_schema_catalog.py (normalised:
-- see its docstring) and checked by tests/test_schema_sql.py; do not edit by hand, and
-- never apply it: the migrations in migrations/ are how a schema is created.
"""


async def _has(conn: asyncpg.Connection[Any], relation: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", relation))


class _Dump:
    """One dump: the connection, the lines so far, TimescaleDB's internal names."""

    def __init__(self, conn: asyncpg.Connection[Any]) -> None:
        self.conn = conn
        self.out: list[str] = []
        self.timescale = False
        self.matnames: dict[str, str] = {}

    def norm(self, text: str) -> str:
        def sub(m: re.Match[str]) -> str:
            key = m.group(0).rsplit(".", 1)[-1]
            return self.matnames.get(key, "<materialization>")

        return _MAT.sub(sub, text)

    async def tables(self) -> None:
        tables = await self.conn.fetch(
            """
            SELECT c.oid, c.relname, c.relkind, c.relispartition,
                   pg_get_expr(c.relpartbound, c.oid) AS bound,
                   pg_get_partkeydef(c.oid) AS partkey,
                   (SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                    WHERE i.inhrelid = c.oid) AS parent
            FROM pg_class c
            WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
            ORDER BY c.relname
            """
        )
        daily = sorted(r["relname"] for r in tables if _DAILY.match(r["relname"]))
        for t in tables:
            if _DAILY.match(t["relname"]):
                continue
            cols = await self.conn.fetch(
                """
                SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
                       pg_get_expr(d.adbin, d.adrelid) AS dflt
                FROM pg_attribute a
                LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
                WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum
                """,
                t["oid"],
            )
            name = t["relname"]
            if t["relispartition"]:
                self.out.append(f"CREATE TABLE {name} PARTITION OF {t['parent']} {t['bound']};")
            else:
                lines = []
                for c in cols:
                    line = f"    {c['attname']} {c['type']}"
                    if c["dflt"] is not None:
                        line += f" DEFAULT {c['dflt']}"
                    if c["attnotnull"]:
                        line += " NOT NULL"
                    lines.append(line)
                cons = await self.conn.fetch(
                    # contype 'n': PostgreSQL 18 lists NOT NULL as constraints too; the
                    # column lines above already say NOT NULL on every version.
                    "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint"
                    " WHERE conrelid = $1 AND contype <> 'n' ORDER BY conname",
                    t["oid"],
                )
                lines += [f"    CONSTRAINT {c['conname']} {c['def']}" for c in cons]
                tail = f" PARTITION BY {t['partkey']}" if t["relkind"] == "p" else ""
                self.out.append(f"CREATE TABLE {name} (\n" + ",\n".join(lines) + f"\n){tail};")
            self.out.append("")
        if daily:
            self.out.append(
                "-- plus the daily partitions analytics_events_pYYYYMMDD of analytics_events"
                " (yesterday .. 7 days ahead at migration time; maintain() keeps creating them)\n"
            )

    async def indexes(self) -> None:
        idx = await self.conn.fetch(
            """
            SELECT i.relname AS name, t.relname AS tbl, pg_get_indexdef(i.oid) AS def
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relnamespace = current_schema()::regnamespace
               OR (t.relnamespace = '_timescaledb_internal'::regnamespace
                   AND t.relname LIKE '\\_materialized\\_hypertable\\_%')
            """
            if self.timescale
            else """
            SELECT i.relname AS name, t.relname AS tbl, pg_get_indexdef(i.oid) AS def
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relnamespace = current_schema()::regnamespace
            """
        )
        defs = sorted(
            (self.norm(r["name"]), self.norm(r["def"]).replace(" public.", " ") + ";")
            for r in idx
            if not _DAILY.match(r["tbl"])
        )
        self.out += [d for _, d in defs]
        self.out.append("")

    async def views(self) -> None:
        if self.timescale:
            for r in await self.conn.fetch(
                "SELECT view_name, materialized_only, view_definition"
                " FROM timescaledb_information.continuous_aggregates"
                " WHERE view_schema = current_schema() ORDER BY view_name"
            ):
                body = "\n".join(ln.rstrip() for ln in r["view_definition"].strip().splitlines())
                # PostgreSQL < 16 qualifies every column of a one-table view with its table.
                body = _QUALIFIED.sub("", body)
                self.out.append(
                    f"CREATE MATERIALIZED VIEW {r['view_name']} WITH (timescaledb.continuous,"
                    f" timescaledb.materialized_only = {str(r['materialized_only']).lower()}) AS\n"
                    f"{self.norm(body).rstrip(';')};\n"
                )
        views = await self.conn.fetch(
            "SELECT c.relname, pg_get_viewdef(c.oid) AS def FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('v', 'm')"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d"
            "                 WHERE d.objid = c.oid AND d.deptype = 'e')"
            " ORDER BY c.relname"
        )
        caggs = set(self.matnames.values())
        for v in views:
            if v["relname"] not in caggs:
                self.out.append(f"CREATE VIEW {v['relname']} AS\n{v['def'].strip().rstrip(';')};\n")

    async def functions(self) -> None:
        for r in await self.conn.fetch(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'S'"
            " AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname"
        ):
            self.out.append(f"-- sequence {r['relname']}")
        self.out.append("")
        for r in await self.conn.fetch(
            "SELECT p.oid::regprocedure::text AS sig, pg_get_functiondef(p.oid) AS def"
            " FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d"
            "                 WHERE d.objid = p.oid AND d.deptype = 'e')"
            " ORDER BY 1"
        ):
            body = "\n".join(ln.rstrip() for ln in r["def"].strip().splitlines())
            # SET search_path FROM CURRENT records the migrating session's path.
            body = body.replace("SET search_path TO '$user', ", "SET search_path TO ")
            self.out.append(body.replace("public.", "") + ";\n")

    async def triggers(self) -> None:
        for r in await self.conn.fetch(
            """
            SELECT pg_get_triggerdef(g.oid) AS def
            FROM pg_trigger g
            JOIN pg_class t ON t.oid = g.tgrelid
            JOIN pg_proc p ON p.oid = g.tgfoid
            WHERE NOT g.tgisinternal AND t.relnamespace = current_schema()::regnamespace
              AND p.pronamespace = current_schema()::regnamespace
              AND NOT (t.relname ~ '^analytics_events_(p\\d{8}|default)$')
            ORDER BY g.tgname
            """
        ):
            self.out.append(r["def"].replace(" public.", " ") + ";")
        self.out.append("")

    async def grants(self) -> None:
        grants = await self.conn.fetch(
            """
            SELECT c.relname, a.privilege_type
            FROM pg_class c, aclexplode(c.relacl) a
            JOIN pg_roles r ON r.oid = a.grantee
            WHERE c.relnamespace = current_schema()::regnamespace AND r.rolname = 'analytics_reader'
            ORDER BY 1, 2
            """
        )
        for g in grants:
            if not _DAILY.match(g["relname"]):
                self.out.append(
                    f"GRANT {g['privilege_type']} ON {g['relname']} TO analytics_reader;"
                )
        self.out.append("")

    async def refresh_rows(self) -> None:
        if await _has(self.conn, "analytics_aggregate_refresh"):
            for r in await self.conn.fetch(
                "SELECT name, position, bucket_column, bucket_width::text AS width, refresh_sql"
                " FROM analytics_aggregate_refresh ORDER BY position"
            ):
                self.out.append(
                    "INSERT INTO analytics_aggregate_refresh"
                    " (name, position, bucket_column, bucket_width, refresh_sql) VALUES\n"
                    f"    ('{r['name']}', {r['position']}, '{r['bucket_column']}',"
                    f" '{r['width']}', $agg${r['refresh_sql']}$agg$);\n"
                )

    async def timescale_objects(self) -> None:
        if self.timescale:
            for r in await self.conn.fetch(
                "SELECT hypertable_name, column_name, time_interval::text AS iv"
                " FROM timescaledb_information.dimensions"
                " WHERE hypertable_schema = current_schema() ORDER BY 1, 2"
            ):
                self.out.append(
                    f"SELECT create_hypertable('{r['hypertable_name']}', '{r['column_name']}',"
                    f" chunk_time_interval => INTERVAL '{r['iv']}');"
                )
            settings = "timescaledb_information.hypertable_compression_settings"
            if await _has(self.conn, settings):
                columns = {
                    r["attname"]
                    for r in await self.conn.fetch(
                        "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass"
                        " AND attnum > 0 AND NOT attisdropped",
                        settings,
                    )
                }
                interval = (
                    "compress_interval_length::text"
                    if "compress_interval_length" in columns
                    else "NULL::text"
                )
                index = "index::text" if "index" in columns else "NULL::text"
                for r in await self.conn.fetch(
                    f"SELECT hypertable::text AS h, segmentby, orderby, {interval} AS iv,"
                    f" {index} AS idx FROM {settings} ORDER BY 1"
                ):
                    extra = ""
                    if r["iv"]:
                        extra += f", timescaledb.compress_chunk_time_interval = '{r['iv']}'"
                    # Only what a migration configured: the derived entries (orderby
                    # metadata, auto sparse indexes) differ between server versions.
                    configured = [
                        f"{i['type']}({i['column']})"
                        for i in json.loads(r["idx"] or "[]")
                        if i.get("source") == "config"
                    ]
                    if configured:
                        extra += f", timescaledb.compress_index = '{', '.join(configured)}'"
                    self.out.append(
                        f"ALTER TABLE {self.norm(r['h'])} SET (timescaledb.compress,"
                        f" timescaledb.compress_segmentby = '{r['segmentby'] or ''}',"
                        f" timescaledb.compress_orderby = '{r['orderby'] or ''}'{extra});"
                    )
            jobs = await self.conn.fetch(
                """
                SELECT j.proc_name, j.schedule_interval::text AS every, j.config,
                       coalesce(ca.view_name::text, j.hypertable_name::text, '') AS target
                FROM timescaledb_information.jobs j
                LEFT JOIN timescaledb_information.continuous_aggregates ca
                       ON (ca.view_schema, ca.view_name) = (j.hypertable_schema, j.hypertable_name)
                       OR (ca.materialization_hypertable_schema,
                           ca.materialization_hypertable_name)
                          = (j.hypertable_schema, j.hypertable_name)
                WHERE j.job_id >= 1000
                """
            )
            lines = []
            for j in jobs:
                config = json.loads(j["config"]) if isinstance(j["config"], str) else j["config"]
                config = {
                    k: v
                    for k, v in (config or {}).items()
                    if k not in ("hypertable_id", "mat_hypertable_id")
                }
                lines.append(
                    f"-- job {j['proc_name']} on {j['target'] or '-'} every {j['every']}"
                    f" config {json.dumps(config, sort_keys=True)}"
                )
            self.out += sorted(lines)
            self.out.append("")


async def dump_schema(conn: asyncpg.Connection[Any], tier: str) -> str:
    """The schema in ``conn``'s ``current_schema()`` as normalised SQL text."""
    d = _Dump(conn)
    d.out.append(_HEADER.format(tier=tier))
    d.timescale = await _has(conn, "timescaledb_information.hypertables")
    if d.timescale:
        for r in await conn.fetch(
            "SELECT view_name, materialization_hypertable_name AS mat"
            " FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = current_schema()"
        ):
            d.matnames[r["mat"]] = r["view_name"]
    await d.tables()
    await d.indexes()
    await d.views()
    await d.functions()
    await d.triggers()
    await d.grants()
    await d.refresh_rows()
    if d.timescale:
        await d.timescale_objects()
    return "\n".join(d.out).rstrip() + "\n"


async def _main(tier: str) -> None:
    import os
    import uuid

    from lib_analytics_core import migrate

    if tier == "timescale":
        from tests._timescale import timescale_server

        with timescale_server() as dsn:
            conn = await asyncpg.connect(dsn, statement_cache_size=0)
            try:
                await conn.execute("SET search_path = public")
                await migrate(conn, tier="timescale")
                text = await dump_schema(conn, tier)
            finally:
                await conn.close()
    else:
        admin = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        name = f"lac_catalog_{uuid.uuid4().hex[:8]}"
        a = await asyncpg.connect(admin)
        await a.execute(f'CREATE DATABASE "{name}"')
        try:
            conn = await asyncpg.connect(admin.rsplit("/", 1)[0] + "/" + name)
            try:
                await migrate(conn, tier="partitioned")
                text = await dump_schema(conn, tier)
            finally:
                await conn.close()
        finally:
            await a.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await a.close()
    CURRENT_FILES[tier].write_text(text, encoding="utf-8")
    print(f"wrote {CURRENT_FILES[tier]}")


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))
