"""The migration runner: versioned plain-SQL files shipped in the package, applied once.

Files live in ``lib_analytics_core/schema/migrations`` (loaded with ``importlib.resources`` so
they work from an installed wheel) and are named ``NNNN_<phase>_<name>.sql`` with phase
``pre`` (tables, indexes, policies that old code tolerates: run before deploying new
code) or ``post`` (aggregates: after). Where the tiers differ a migration is the pair
``NNNN_<phase>_<name>.timescale.sql`` + ``NNNN_<phase>_<name>.partitioned.sql``. Every
file is run verbatim: no templates, nothing generated, so the file a DBA reviews is the
SQL that runs (docs/schema.md, "Adding a migration").

Guarantees:

* **Once.** A session-level advisory lock serialises runners on one database; each
  re-reads the history after taking it, so N services starting at once apply each
  migration exactly once and all succeed.
* **Atomic.** Each migration and its history row commit in one transaction; a failure
  rolls back and the error names the migration and the failing statement.
* **Unchanged.** The history stores a SHA-256 of the migration's SQL for both tiers
  (:func:`checksum`); an applied migration whose file changed is refused
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
from .facts import HISTORY_TABLE, MIGRATION_LOCK_KEY
from .history import (
    CREATE_HISTORY,
    Applied,
    apply_migration,
    check_checksums,
    inspect,
    mark_filled,
    read_history,
    select,
    tier_for,
)
from .server import SchemaTier, ServerInfo, TierChoice, requested_tier
from .timescale import DEFAULT_RETRY, RefreshRetry, refresh_cagg

__all__ = [
    "HISTORY_TABLE",
    "Migration",
    "MigrationReport",
    "MigrationState",
    "MigrationStatus",
    "checksum",
    "load_migrations",
    "migrate",
    "migration_status",
    "split_statements",
]

logger = logging.getLogger("lib_analytics_core.migrate")

Phase = Literal["all", "pre", "post"]

_FILE_RE = re.compile(r"^(\d{4})_(pre|post)_([a-z0-9_]+?)(?:\.(timescale|partitioned))?\.sql$")
_CAGG_RE = re.compile(
    r"^CREATE MATERIALIZED VIEW (\w+)\s+WITH \(timescaledb\.continuous", re.MULTILINE
)


# ------------------------------------------------------------------------ loading


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    """One migration: the plain SQL it runs on each tier, and its checksum."""

    version: int
    phase: Literal["pre", "post"]
    name: str
    files: tuple[str, ...]
    """The file(s) it is read from: ``NAME.sql``, or ``NAME.timescale.sql`` and
    ``NAME.partitioned.sql`` when the tiers differ."""
    timescale_sql: str
    partitioned_sql: str
    checksum: str
    no_transaction: bool
    refresh_after: tuple[str, ...] = ()
    """Continuous aggregates to refresh over all raw rows once this migration committed
    (TimescaleDB only; ``-- analytics-migrate: refresh-aggregates-after`` in the file):
    a new cagg is created empty and the refresh cannot run inside the transaction."""

    def sql(self, tier: SchemaTier) -> str:
        """The SQL this migration runs on ``tier``: a file's text, verbatim."""
        return self.timescale_sql if tier is SchemaTier.TIMESCALE else self.partitioned_sql


def checksum(timescale_sql: str, partitioned_sql: str) -> str:
    """SHA-256 of the timescale SQL followed by the partitioned SQL.

    The rule every shipped migration has been recorded with: releases before the plain
    files hashed their template's rendering for each tier in this order, and the plain
    files of 0001-0005 are exactly those renderings, so their checksums did not change
    (``tests/test_schema_sql.py`` pins them). A migration written once for both tiers
    hashes its text twice.
    """
    return hashlib.sha256((timescale_sql + partitioned_sql).encode()).hexdigest()


def _refresh_after(timescale_sql: str) -> tuple[str, ...]:
    if "-- analytics-migrate: refresh-aggregates-after" not in timescale_sql:
        return ()
    return tuple(m.group(1) for m in _CAGG_RE.finditer(timescale_sql))


async def _fill(
    conn: asyncpg.Connection[Any],
    version: int,
    migration: str,
    names: tuple[str, ...],
    retry: RefreshRetry,
) -> None:
    """Fill the continuous aggregates a committed migration created, sources first, each
    from all raw rows, retrying while a policy job refreshes the same one; each filled
    aggregate comes off the migration's ``pending`` list in the history."""
    for name in names:
        try:
            await refresh_cagg(conn, name, None, None, retry)
        except asyncpg.PostgresError as err:
            raise MigrationError(
                f"migration {migration} is applied but filling {name} from the raw rows "
                f"failed ({type(err).__name__}: {err}) after {retry.attempts} attempt(s); "
                "rerun analytics-migrate: it finishes this before anything else"
            ) from err
        await mark_filled(conn, version, name)


async def _finish_pending(
    conn: asyncpg.Connection[Any], history: dict[int, Applied], retry: RefreshRetry
) -> tuple[str, ...]:
    """Finish the fills an earlier run left (it failed or was killed after a commit)."""
    done: list[str] = []
    for version in sorted(history):
        applied = history[version]
        if applied.pending:
            logger.info("finishing %s: filling %s", applied.name, ", ".join(applied.pending))
            await _fill(conn, version, applied.name, applied.pending, retry)
            done.append(applied.name)
    return tuple(done)


def load_migrations() -> list[Migration]:
    """All migrations shipped in the package, ordered by version.

    Files are named ``NNNN_<pre|post>_<name>.sql`` (one SQL for every tier) or come as
    the pair ``NNNN_<phase>_<name>.timescale.sql`` + ``.partitioned.sql`` (one SQL per
    tier); anything else in the folder is ignored. Each file is run verbatim.
    """
    root = importlib.resources.files("lib_analytics_core.schema") / "migrations"
    texts: dict[tuple[int, str, str], dict[str, str]] = {}
    for entry in root.iterdir():
        m = _FILE_RE.match(entry.name)
        if not m:
            continue
        key = (int(m.group(1)), m.group(2), m.group(3))
        texts.setdefault(key, {})[m.group(4) or "all"] = entry.read_text(encoding="utf-8")
    found: list[Migration] = []
    for (version, phase_text, base), by_tier in texts.items():
        name = f"{version:04d}_{phase_text}_{base}"
        if set(by_tier) == {"all"}:
            ts_sql = pt_sql = by_tier["all"]
            files: tuple[str, ...] = (f"{name}.sql",)
        elif set(by_tier) == {"timescale", "partitioned"}:
            ts_sql, pt_sql = by_tier["timescale"], by_tier["partitioned"]
            files = (f"{name}.timescale.sql", f"{name}.partitioned.sql")
        else:
            raise MigrationError(
                f"migration {name} must ship either {name}.sql or both {name}.timescale.sql "
                f"and {name}.partitioned.sql, not {sorted(by_tier)}"
            )
        phase: Literal["pre", "post"] = "pre" if phase_text == "pre" else "post"
        found.append(
            Migration(
                version=version,
                phase=phase,
                name=name,
                files=files,
                timescale_sql=ts_sql,
                partitioned_sql=pt_sql,
                checksum=checksum(ts_sql, pt_sql),
                no_transaction=any(
                    "-- analytics-migrate: no-transaction" in s for s in (ts_sql, pt_sql)
                ),
                refresh_after=_refresh_after(ts_sql),
            )
        )
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return found


async def _ensure_history(conn: asyncpg.Connection[Any]) -> None:
    create, add_pending = CREATE_HISTORY
    await conn.execute(create)
    missing = await conn.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1)"
        " AND attname = 'pending' AND NOT attisdropped)",
        HISTORY_TABLE,
    )
    if missing:  # only then: ALTER TABLE locks the table and needs its owner
        await conn.execute(add_pending)


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
    state: Literal["applied", "pending", "changed", "incomplete"]
    """``incomplete``: applied, but continuous aggregates it created are not filled yet
    (the refresh after its commit failed); the next ``migrate()`` fills them."""
    applied_at: dt.datetime | None = None
    tier: str | None = None
    unfilled: tuple[str, ...] = ()
    """For ``incomplete``: the aggregates still to fill."""


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

    @property
    def incomplete(self) -> tuple[MigrationState, ...]:
        """Applied migrations whose new aggregates are not filled yet (rerun migrate)."""
        return tuple(m for m in self.migrations if m.state == "incomplete")


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
    """(migration name, SQL) for each migration in ``applied``."""
    tier_reason: str = ""
    """Why this tier (the recorded one, the operator's choice, or what ``auto`` saw)."""
    completed: tuple[str, ...] = ()
    """Migrations applied by an earlier run whose aggregate fills this call finished."""


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
            state: Literal["applied", "changed", "incomplete"] = (
                "changed"
                if done.checksum != mig.checksum
                else "incomplete"
                if done.pending
                else "applied"
            )
            states.append(
                MigrationState(
                    mig.version,
                    mig.name,
                    mig.phase,
                    state,
                    done.applied_at,
                    done.tier,
                    done.pending,
                )
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
    retry: RefreshRetry = DEFAULT_RETRY,
) -> MigrationReport:
    """Apply the pending migrations of ``phase`` (``"all"``, ``"pre"`` or ``"post"``).

    Safe to call from every service at start-up: concurrent calls serialise on an
    advisory lock and each migration is applied once. ``dry_run`` returns the SQL that
    would run and changes nothing (not even the history table). ``tier`` is ``"auto"``
    (default, or ``$ANALYTICS_SCHEMA_TIER``), ``"timescale"`` or ``"partitioned"``; the
    first run records it and later runs asking for the other tier are refused.

    On TimescaleDB the continuous aggregates a migration creates are filled from all raw
    rows after its commit; a refresh that meets the server's policy job is retried
    (``retry``), and a fill that still fails fails the call, stays recorded in the history
    (``migration_status()``: ``incomplete``) and is finished first by the next call, so
    the call returns only when the schema *and* its aggregates are complete.
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
                sql=tuple((m.name, m.sql(choice.tier)) for m in todo),
                tier_reason=choice.reason,
            )
        async with advisory_lock(conn, MIGRATION_LOCK_KEY, step="migrating", error=MigrationError):
            with translate(f"creating {HISTORY_TABLE} in schema {schema}", MigrationError):
                await _ensure_history(conn)
                history = await read_history(conn) or {}
            check_checksums(migrations, history)
            choice = tier_for(server, history, tier)
            completed = await _finish_pending(conn, history, retry)
            todo = select(migrations, set(history), phase)
            done: list[tuple[str, str]] = []
            for mig in todo:
                sql = mig.sql(choice.tier)
                fill = mig.refresh_after if choice.tier is SchemaTier.TIMESCALE else ()
                await apply_migration(
                    conn, mig, split_statements(sql), choice.tier, pending=fill, retry=retry
                )
                await _fill(conn, mig.version, mig.name, fill, retry)
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
                completed=completed,
            )
