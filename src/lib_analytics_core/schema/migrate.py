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
* **Deliberate, sticky tier.** The tier (timescale or partitioned) is chosen on the
  first migration (``tier=`` / ``--tier`` / ``ANALYTICS_SCHEMA_TIER``; ``auto`` detects
  and says why, see :func:`~.server.choose_tier`) and recorded in the history; later
  runs keep it, and a run that explicitly asks for the other tier is refused
  (installing TimescaleDB later does not half-convert a partitioned schema).
* **Any owner.** Nothing needs superuser; every failure is a :class:`MigrationError`
  naming the step (and the missing privilege, when that is the cause).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.resources
import logging
import re
from typing import Any, Literal

import asyncpg

from .._db import Connectable, acquire, advisory_lock, translate
from .._errors import MigrationError
from ..read import histogram_v1 as _histogram
from .facts import BUCKET_ORIGIN_SQL, HISTORY_TABLE, MIGRATION_LOCK_KEY, REFRESH_WINDOW
from .history import (
    CREATE_HISTORY,
    apply_migration,
    check_checksums,
    inspect,
    read_history,
    select,
    tier_for,
)
from .server import SchemaTier, ServerInfo, TierChoice, requested_tier

__all__ = [
    "HISTORY_TABLE",
    "AggregateBlock",
    "Migration",
    "MigrationReport",
    "MigrationState",
    "MigrationStatus",
    "load_migrations",
    "migrate",
    "migration_status",
    "split_statements",
]

logger = logging.getLogger("lib_analytics_core.migrate")

Phase = Literal["all", "pre", "post"]

_FILE_RE = re.compile(r"^(\d{4})_(pre|post)_([a-z0-9_]+)\.sql$")
_TIER_RE = re.compile(r"^--\s*@tier\s+(timescale|partitioned|all)\s*$")
_AGG_RE = re.compile(r"^--\s*@aggregate\s+(\w+)\s+(.*)$")
_END_RE = re.compile(r"^--\s*@end\s*$")
_HIST_RE = re.compile(r"\{\{histogram:\s*(.+?)\s*\}\}")
_WIDTHS = {"day": "1 day", "hour": "1 hour"}
_ORIGIN = BUCKET_ORIGIN_SQL


# ------------------------------------------------------------------------ loading


@dataclasses.dataclass(frozen=True, slots=True)
class AggregateBlock:
    """One ``@aggregate`` block: a SELECT written once for every tier."""

    name: str
    bucket_column: str
    width: str
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
            # ``source=`` is still accepted (0002 carries it and is checksummed) but
            # unused: the SELECT names its source itself.
            missing = {"bucket", "width", "time"} - opts.keys()
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
    tier_reason: str = ""
    """Why that tier: "recorded in the history", or the choice ``auto`` would make."""

    @property
    def pending(self) -> tuple[MigrationState, ...]:
        return tuple(m for m in self.migrations if m.state == "pending")

    @property
    def applied(self) -> tuple[MigrationState, ...]:
        return tuple(m for m in self.migrations if m.state != "pending")

    @property
    def changed(self) -> tuple[MigrationState, ...]:
        """Applied migrations whose shipped file no longer matches (never acceptable)."""
        return tuple(m for m in self.migrations if m.state == "changed")


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
    tier_reason: str = ""
    """Why this tier (the recorded one, the operator's choice, or what ``auto`` saw)."""


async def migration_status(
    pool_or_conn: Connectable, *, tier: str | None = None
) -> MigrationStatus:
    """Applied/pending/changed state of every shipped migration, and the server kind.

    Read-only (any role that can read the catalog and the history table). ``tier`` is
    the choice the next migration run would get (default: ``$ANALYTICS_SCHEMA_TIER`` or
    ``auto``); a tier already recorded wins.
    """
    migrations = load_migrations()
    async with acquire(pool_or_conn, step="migration status: connecting") as conn:
        server, history = await inspect(conn)
    try:
        choice = tier_for(server, history, tier)
    except MigrationError as err:  # status reports, it does not refuse
        recorded = SchemaTier(history[min(history)].tier) if history else server.kind.tier
        choice = TierChoice(recorded, requested_tier(tier), str(err))
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
    return MigrationStatus(
        server=server, tier=choice.tier, migrations=tuple(states), tier_reason=choice.reason
    )


async def migrate(
    pool_or_conn: Connectable,
    phase: Phase = "all",
    dry_run: bool = False,
    *,
    tier: str | None = None,
) -> MigrationReport:
    """Apply the pending migrations of ``phase`` (``"all"``, ``"pre"`` or ``"post"``).

    Safe to call from every service at start-up: concurrent calls serialise on an
    advisory lock and each migration is applied once. ``dry_run`` returns the SQL that
    would run and changes nothing (not even the history table). ``tier`` is ``"auto"``
    (default, or ``$ANALYTICS_SCHEMA_TIER``), ``"timescale"`` or ``"partitioned"``; the
    first run records it and later runs asking for the other tier are refused.
    Raises :class:`ChecksumMismatchError` if an applied migration's file changed, and
    :class:`MigrationError` naming the failing step or statement otherwise (a lost
    connection is a :class:`~lib_analytics_core.DatabaseUnavailableError`).
    """
    if phase not in ("all", "pre", "post"):
        raise MigrationError(f"phase must be 'all', 'pre' or 'post', not {phase!r}")
    requested_tier(tier)  # validate before touching the database
    migrations = load_migrations()
    async with acquire(pool_or_conn, step="migrate: connecting") as conn:
        server, history = await inspect(conn)
        with translate("reading the current schema", MigrationError):
            schema = await conn.fetchval("SELECT current_schema()")
        if schema in (None, "pg_catalog", "information_schema"):
            raise MigrationError(
                f"no schema to create the analytics tables in (current schema: {schema}); "
                "set search_path, e.g. to public"
            )
        if dry_run:
            history = history or {}
            check_checksums(migrations, history)
            choice = tier_for(server, history, tier)
            todo = select(migrations, set(history), phase)
            return MigrationReport(
                server=server,
                tier=choice.tier,
                phase=phase,
                dry_run=True,
                applied=tuple(m.name for m in todo),
                already_applied=tuple(history[v].name for v in sorted(history)),
                sql=tuple((m.name, m.render(choice.tier)) for m in todo),
                tier_reason=choice.reason,
            )
        async with advisory_lock(conn, MIGRATION_LOCK_KEY, step="migrating", error=MigrationError):
            with translate(f"creating {HISTORY_TABLE} in schema {schema}", MigrationError):
                await conn.execute(CREATE_HISTORY)
                history = await read_history(conn) or {}
            check_checksums(migrations, history)
            choice = tier_for(server, history, tier)
            todo = select(migrations, set(history), phase)
            done: list[tuple[str, str]] = []
            for mig in todo:
                sql = mig.render(choice.tier)
                await apply_migration(conn, mig, split_statements(sql), choice.tier)
                if choice.tier is SchemaTier.TIMESCALE and mig.refresh_after:
                    await _refresh_new_aggregates(conn, mig)
                done.append((mig.name, sql))
            return MigrationReport(
                server=server,
                tier=choice.tier,
                phase=phase,
                dry_run=False,
                applied=tuple(name for name, _ in done),
                already_applied=tuple(history[v].name for v in sorted(history)),
                sql=tuple(done),
                tier_reason=choice.reason,
            )
