"""The migration runner: versioned SQL files shipped in the package, applied once.

Files live in ``lib_analytics_core/schema/migrations`` (loaded with ``importlib.resources`` so
they work from an installed wheel) and are named ``NNNN_<phase>_<name>.sql`` with phase
``pre`` (tables, indexes, policies that old code tolerates: run before deploying new
code) or ``post`` (aggregates: after). A file holds sections per schema tier and
``@aggregate`` blocks (see the header of ``0002_post_create_aggregates.sql``); the
runner renders the sections of the tier the database uses.

Guarantees:

* **Once.** A session-level advisory lock serialises runners on one database; each
  re-reads the history after taking it, so N services starting at once apply each
  migration exactly once and all succeed.
* **Atomic.** Each migration and its history row commit in one transaction; a failure
  rolls back and the error names the migration and the failing statement.
* **Unchanged.** The history stores a SHA-256 of the rendered file (all tiers, with the
  histogram boundaries expanded); an applied migration whose file changed is refused
  with :class:`ChecksumMismatchError` before anything runs.
* **Sticky tier.** The tier (timescale or partitioned) is chosen from the server on the
  first migration and recorded; later migrations keep using it even if the server
  changes (installing TimescaleDB later does not half-convert a partitioned schema).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib.resources
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import asyncpg

from .._errors import ChecksumMismatchError, DatabaseUnavailableError, MigrationError
from ..read import histogram_v1 as _histogram
from .server import SchemaTier, ServerInfo, detect_server

__all__ = [
    "HISTORY_TABLE",
    "AggregateBlock",
    "Migration",
    "MigrationReport",
    "MigrationState",
    "MigrationStatus",
    "PoolOrConnection",
    "acquire",
    "load_migrations",
    "migrate",
    "migration_status",
    "split_statements",
]

logger = logging.getLogger("lib_analytics_core.migrate")

HISTORY_TABLE = "analytics_schema_migrations"
MIGRATION_LOCK_KEY = 7236912001
"""Advisory lock key serialising migration runs (per database)."""

PoolOrConnection = "asyncpg.Pool[Any] | asyncpg.Connection[Any]"

Phase = Literal["all", "pre", "post"]

_FILE_RE = re.compile(r"^(\d{4})_(pre|post)_([a-z0-9_]+)\.sql$")
_TIER_RE = re.compile(r"^--\s*@tier\s+(timescale|partitioned|all)\s*$")
_AGG_RE = re.compile(r"^--\s*@aggregate\s+(\w+)\s+(.*)$")
_END_RE = re.compile(r"^--\s*@end\s*$")
_HIST_RE = re.compile(r"\{\{histogram:\s*(.+?)\s*\}\}")
_WIDTHS = {"day": "1 day", "hour": "1 hour"}
_ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"

REFRESH_WINDOW = dt.timedelta(days=3)
"""Aggregates are refreshed over the last 3 days (hourly), on every tier."""


@contextlib.asynccontextmanager
async def acquire(pool_or_conn: Any) -> AsyncIterator[asyncpg.Connection[Any]]:
    """One connection from a pool (returned afterwards) or the connection itself."""
    if isinstance(pool_or_conn, asyncpg.Pool):
        try:
            conn = await pool_or_conn.acquire()
        except (OSError, asyncpg.PostgresConnectionError) as err:
            raise DatabaseUnavailableError(f"cannot connect to the database: {err}") from err
        try:
            yield conn  # type: ignore[misc]  # a PoolConnectionProxy behaves as a Connection
        finally:
            await pool_or_conn.release(conn)
    else:
        yield pool_or_conn


# ------------------------------------------------------------------------ loading


@dataclasses.dataclass(frozen=True, slots=True)
class AggregateBlock:
    """One ``@aggregate`` block: a SELECT written once for every tier."""

    name: str
    bucket_column: str
    width: str
    source: str
    time_column: str
    body: str
    position: int

    def select(self, tier: SchemaTier, *, refresh: bool = False) -> str:
        """The SELECT rendered for a tier (``refresh``: restricted to ``$1 <= t < $2``)."""
        interval = f"INTERVAL '{_WIDTHS[self.width]}'"
        if tier is SchemaTier.TIMESCALE:
            bucket = f"time_bucket({interval}, {self.time_column})"
            rng = "TRUE"
        else:
            bucket = f"date_bin({interval}, {self.time_column}, {_ORIGIN})"
            rng = f"{self.time_column} >= $1 AND {self.time_column} < $2" if refresh else "FALSE"
        return self.body.replace("{{bucket}}", bucket).replace("{{range}}", rng)

    def ddl(self, tier: SchemaTier) -> str:
        """Statements creating this aggregate on a tier."""
        if tier is SchemaTier.TIMESCALE:
            window = f"INTERVAL '{REFRESH_WINDOW.days} days'"
            return (
                f"CREATE MATERIALIZED VIEW {self.name}\n"
                "WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS\n"
                f"{self.select(tier)}\nWITH NO DATA;\n\n"
                f"SELECT add_continuous_aggregate_policy('{self.name}',\n"
                f"    start_offset => {window}, end_offset => NULL,\n"
                "    schedule_interval => INTERVAL '1 hour');\n"
            )
        refresh_sql = self.select(tier, refresh=True)
        if "$agg$" in refresh_sql:  # pragma: no cover - guards our own files
            raise MigrationError(f"aggregate {self.name} body may not contain $agg$")
        return (
            f"CREATE TABLE {self.name} AS\n{self.select(tier)}\nWITH NO DATA;\n\n"
            "INSERT INTO analytics_aggregate_refresh\n"
            "    (name, position, bucket_column, bucket_width, refresh_sql)\n"
            f"VALUES ('{self.name}', {self.position}, '{self.bucket_column}', "
            f"INTERVAL '{_WIDTHS[self.width]}',\n$agg${refresh_sql}$agg$)\n"
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position,\n"
            "    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,\n"
            "    refresh_sql = excluded.refresh_sql;\n"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    """One migration file, parsed (not yet rendered for a tier)."""

    version: int
    phase: Literal["pre", "post"]
    name: str
    filename: str
    source: str
    checksum: str
    no_transaction: bool
    refresh_after: tuple[str, ...] = ()
    """Continuous aggregates to refresh over all raw rows once this migration committed
    (TimescaleDB only; ``-- analytics-migrate: refresh-aggregates-after`` in the file):
    a new cagg is created empty and the refresh cannot run inside the transaction."""

    def render(self, tier: SchemaTier) -> str:
        """The SQL this migration runs on ``tier``."""
        return _render(self.source, tier)


def _expand_histograms(text: str) -> str:
    text = _HIST_RE.sub(lambda m: _histogram.count_columns_sql(m.group(1), "       "), text)
    return text.replace("{{histogram_sum}}", _histogram.sum_columns_sql("       "))


def _render(source: str, tier: SchemaTier) -> str:
    out: list[str] = []
    section = "all"
    agg: list[str] | None = None
    agg_header: tuple[str, dict[str, str]] | None = None
    position = 0
    for line in source.splitlines():
        if agg is not None:
            if _END_RE.match(line):
                assert agg_header is not None
                name, opts = agg_header
                position += 1
                block = AggregateBlock(
                    name=name,
                    bucket_column=opts["bucket"],
                    width=opts["width"],
                    source=opts["source"],
                    time_column=opts["time"],
                    body=_expand_histograms("\n".join(agg)),
                    position=position,
                )
                if section in ("all", tier.value):
                    out.append(block.ddl(tier))
                agg = None
            else:
                agg.append(line)
            continue
        m = _TIER_RE.match(line)
        if m:
            section = m.group(1)
            continue
        m = _AGG_RE.match(line)
        if m:
            opts = dict(kv.split("=", 1) for kv in m.group(2).split())
            missing = {"bucket", "width", "source", "time"} - opts.keys()
            if missing or opts["width"] not in _WIDTHS:
                raise MigrationError(f"bad @aggregate header: {line!r}")
            agg_header = (m.group(1), opts)
            agg = []
            continue
        if section in ("all", tier.value):
            out.append(line)
    if agg is not None:
        raise MigrationError("unterminated @aggregate block")
    return "\n".join(out).strip() + "\n"


def _refresh_after(source: str) -> tuple[str, ...]:
    if "-- analytics-migrate: refresh-aggregates-after" not in source:
        return ()
    return tuple(m.group(1) for ln in source.splitlines() if (m := _AGG_RE.match(ln)))


async def _refresh_new_aggregates(conn: asyncpg.Connection[Any], mig: Migration) -> None:
    """Fill the continuous aggregates a committed migration created (sources first)."""
    for name in mig.refresh_after:
        try:
            await conn.execute("CALL refresh_continuous_aggregate($1::regclass, NULL, NULL)", name)
        except asyncpg.PostgresError as err:
            raise MigrationError(
                f"migration {mig.name} is applied but filling {name} from the raw rows "
                f"failed ({type(err).__name__}: {err}); run refresh_aggregates(conn, "
                "start=<oldest raw day>) to complete it"
            ) from err


def load_migrations() -> list[Migration]:
    """All migrations shipped in the package, ordered by version."""
    found: list[Migration] = []
    root = importlib.resources.files("lib_analytics_core.schema") / "migrations"
    for entry in root.iterdir():
        m = _FILE_RE.match(entry.name)
        if not m:
            continue
        source = entry.read_text(encoding="utf-8")
        # Checksum over every tier's rendering: a change to any variant, or to the
        # histogram boundaries the SQL is generated from, counts as a change.
        rendered = "".join(_render(source, t) for t in SchemaTier)
        phase: Literal["pre", "post"] = "pre" if m.group(2) == "pre" else "post"
        found.append(
            Migration(
                version=int(m.group(1)),
                phase=phase,
                name=entry.name.removesuffix(".sql"),
                filename=entry.name,
                source=source,
                checksum=hashlib.sha256(rendered.encode()).hexdigest(),
                no_transaction="-- analytics-migrate: no-transaction" in source,
                refresh_after=_refresh_after(source),
            )
        )
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return found


# ---------------------------------------------------------------------- splitting

_DOLLAR_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(sql: str) -> list[str]:
    """Split a script into statements at top-level semicolons.

    Understands quotes, double-quoted identifiers, ``--`` and ``/* */`` comments and
    dollar-quoting, which is all our files use. Statements that are only comments are
    dropped.
    """
    stmts: list[str] = []
    i, start, n = 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif c == "$" and (m := _DOLLAR_RE.match(sql, i)):
            tag = m.group(0)
            j = sql.find(tag, m.end())
            i = n if j < 0 else j + len(tag)
        elif c == ";":
            stmts.append(sql[start : i + 1])
            i += 1
            start = i
        else:
            i += 1
    stmts.append(sql[start:])
    return [s.strip() for s in stmts if _has_code(s)]


def _has_code(stmt: str) -> bool:
    for line in stmt.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            return True
    return False


# --------------------------------------------------------------------------- state


@dataclasses.dataclass(frozen=True, slots=True)
class MigrationState:
    """A migration and whether/how it is applied here."""

    version: int
    name: str
    phase: str
    state: Literal["applied", "pending", "changed"]
    applied_at: dt.datetime | None = None
    tier: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class MigrationStatus:
    """What ``analytics-migrate status`` shows."""

    server: ServerInfo
    tier: SchemaTier
    """The tier applied migrations used (or the one the next run would use)."""
    migrations: tuple[MigrationState, ...]

    @property
    def pending(self) -> tuple[MigrationState, ...]:
        return tuple(m for m in self.migrations if m.state == "pending")

    @property
    def applied(self) -> tuple[MigrationState, ...]:
        return tuple(m for m in self.migrations if m.state != "pending")


@dataclasses.dataclass(frozen=True, slots=True)
class MigrationReport:
    """What one ``migrate()`` call did (or, with ``dry_run``, would do)."""

    server: ServerInfo
    tier: SchemaTier
    phase: str
    dry_run: bool
    applied: tuple[str, ...]
    """Migrations applied by this call (would be applied, for a dry run)."""
    already_applied: tuple[str, ...]
    sql: tuple[tuple[str, str], ...] = ()
    """(migration name, rendered SQL) for each migration in ``applied``."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Applied:
    version: int
    name: str
    checksum: str
    applied_at: dt.datetime
    tier: str


async def _history(conn: asyncpg.Connection[Any]) -> dict[int, _Applied] | None:
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", HISTORY_TABLE)
    if not exists:
        return None
    rows = await conn.fetch(
        f"SELECT version, name, checksum, applied_at, tier FROM {HISTORY_TABLE}"
    )
    return {
        r["version"]: _Applied(r["version"], r["name"], r["checksum"], r["applied_at"], r["tier"])
        for r in rows
    }


def _tier_for(server: ServerInfo, history: dict[int, _Applied] | None) -> SchemaTier:
    if history:
        recorded = history[min(history)].tier
        tier = SchemaTier(recorded)
        if tier is not server.kind.tier:
            logger.warning(
                "schema uses the %s tier but the server is %s; keeping %s",
                tier.value,
                server.kind.value,
                tier.value,
            )
        return tier
    return server.kind.tier


def _check_checksums(migrations: Sequence[Migration], history: dict[int, _Applied]) -> None:
    for mig in migrations:
        done = history.get(mig.version)
        if done is not None and done.checksum != mig.checksum:
            raise ChecksumMismatchError(
                f"migration {mig.name} was applied with checksum {done.checksum[:12]}... but "
                f"the shipped file now has {mig.checksum[:12]}...: applied migrations must "
                "never change; add a new migration instead"
            )


async def migration_status(pool_or_conn: Any) -> MigrationStatus:
    """Applied/pending/changed state of every shipped migration, and the server kind."""
    migrations = load_migrations()
    async with acquire(pool_or_conn) as conn:
        server = await detect_server(conn)
        history = await _history(conn)
    tier = _tier_for(server, history)
    states: list[MigrationState] = []
    for mig in migrations:
        done = (history or {}).get(mig.version)
        if done is None:
            states.append(MigrationState(mig.version, mig.name, mig.phase, "pending"))
        else:
            state: Literal["applied", "changed"] = (
                "applied" if done.checksum == mig.checksum else "changed"
            )
            states.append(
                MigrationState(mig.version, mig.name, mig.phase, state, done.applied_at, done.tier)
            )
    return MigrationStatus(server=server, tier=tier, migrations=tuple(states))


def _select(migrations: Sequence[Migration], applied: set[int], phase: Phase) -> list[Migration]:
    pending = [m for m in migrations if m.version not in applied]
    if phase == "all":
        return pending
    chosen = [m for m in pending if m.phase == phase]
    if chosen:
        first = chosen[0].version
        blocking = [m for m in pending if m.phase != phase and m.version < first]
        if blocking:
            raise MigrationError(
                f"cannot run {phase}-deploy migration {chosen[0].name} before "
                f"{blocking[0].name}; run `analytics-migrate {blocking[0].phase}` first"
            )
    return chosen


_CREATE_HISTORY = f"""
CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
    version     INT PRIMARY KEY,
    name        TEXT NOT NULL,
    phase       TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    tier        TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    duration_ms INT NOT NULL
)
"""


async def migrate(
    pool_or_conn: Any, phase: Phase = "all", dry_run: bool = False
) -> MigrationReport:
    """Apply the pending migrations of ``phase`` (``"all"``, ``"pre"`` or ``"post"``).

    Safe to call from every service at start-up: concurrent calls serialise on an
    advisory lock and each migration is applied once. ``dry_run`` returns the SQL that
    would run and changes nothing (not even the history table).
    Raises :class:`ChecksumMismatchError` if an applied migration's file changed, and
    :class:`MigrationError` naming the failing statement if a migration fails.
    """
    if phase not in ("all", "pre", "post"):
        raise MigrationError(f"phase must be 'all', 'pre' or 'post', not {phase!r}")
    migrations = load_migrations()
    async with acquire(pool_or_conn) as conn:
        server = await detect_server(conn)
        schema = await conn.fetchval("SELECT current_schema()")
        if schema in (None, "pg_catalog", "information_schema"):
            raise MigrationError(
                f"no schema to create the analytics tables in (current schema: {schema}); "
                "set search_path, e.g. to public"
            )
        if dry_run:
            history = await _history(conn) or {}
            _check_checksums(migrations, history)
            tier = _tier_for(server, history)
            todo = _select(migrations, set(history), phase)
            return MigrationReport(
                server=server,
                tier=tier,
                phase=phase,
                dry_run=True,
                applied=tuple(m.name for m in todo),
                already_applied=tuple(history[v].name for v in sorted(history)),
                sql=tuple((m.name, m.render(tier)) for m in todo),
            )
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            await conn.execute(_CREATE_HISTORY)
            history = await _history(conn) or {}
            _check_checksums(migrations, history)
            tier = _tier_for(server, history)
            todo = _select(migrations, set(history), phase)
            done: list[tuple[str, str]] = []
            for mig in todo:
                sql = mig.render(tier)
                await _apply(conn, mig, sql, tier)
                if tier is SchemaTier.TIMESCALE and mig.refresh_after:
                    await _refresh_new_aggregates(conn, mig)
                done.append((mig.name, sql))
            return MigrationReport(
                server=server,
                tier=tier,
                phase=phase,
                dry_run=False,
                applied=tuple(name for name, _ in done),
                already_applied=tuple(history[v].name for v in sorted(history)),
                sql=tuple(done),
            )
        finally:
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def _apply(conn: asyncpg.Connection[Any], mig: Migration, sql: str, tier: SchemaTier) -> None:
    statements = split_statements(sql)
    logger.info(
        "applying migration %s (%s tier, %d statements)", mig.name, tier.value, len(statements)
    )
    started = dt.datetime.now(dt.UTC)
    tx = None if mig.no_transaction else conn.transaction()
    if tx is not None:
        await tx.start()
    try:
        for index, stmt in enumerate(statements, 1):
            try:
                await conn.execute(stmt)
            except asyncpg.PostgresError as err:
                code = [ln for ln in stmt.splitlines() if not ln.strip().startswith("--")]
                first = " ".join(" ".join(code).split())[:200]
                raise MigrationError(
                    f"migration {mig.name} failed at statement {index}/{len(statements)} "
                    f"[{first}]: {type(err).__name__}: {err}"
                ) from err
        elapsed = int((dt.datetime.now(dt.UTC) - started).total_seconds() * 1000)
        await conn.execute(
            f"INSERT INTO {HISTORY_TABLE} (version, name, phase, checksum, tier, duration_ms)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            mig.version,
            mig.name,
            mig.phase,
            mig.checksum,
            tier.value,
            elapsed,
        )
    except BaseException:
        if tx is not None:
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await tx.rollback()
        raise
    else:
        if tx is not None:
            await tx.commit()
