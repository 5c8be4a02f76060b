"""``analytics-migrate``: apply, inspect and maintain the analytics schema.

Commands (the seed's, plus ``maintain``)::

    analytics-migrate all       # pre- then post-deploy migrations
    analytics-migrate pre       # pre-deploy only (tables, indexes, policies)
    analytics-migrate post      # post-deploy only (aggregates)
    analytics-migrate status    # migrations, tier, job health, aggregate staleness
    analytics-migrate status --check [--max-staleness 2h]   # for cron/Kubernetes probes
    analytics-migrate dry-run   # print the SQL that would run; change nothing
    analytics-migrate maintain  # refresh aggregates, compress, retention, partitions
    analytics-migrate forget-user UUID   # erase one user's events (see cli/forget.py)

``--tier auto|timescale|partitioned`` (or ``ANALYTICS_SCHEMA_TIER``) chooses the schema
tier on the first migration; ``auto`` prints why it chose. The database comes from
``--database-url``, else ``DATABASE_URL``, else ``PLATFORM_DATABASE_URL``.

Exit codes: 0 success (the schema *and* the aggregates its migrations created are
complete); 1 migration/maintenance failure (including a fill of new aggregates that
failed: rerun to finish it), an applied migration whose file changed (``status``), or an
unhealthy schema (``status --check``: no schema at all, pending migrations, an aggregate
whose oldest uncounted source row is older than ``--max-staleness``, counting late rows
no scheduled refresh covers, or a migration whose aggregates are not filled; jobs that
report failures while the data is current are WARNING lines only);
2 no database configured (or bad usage);
3 database unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
from collections.abc import Sequence
from typing import TextIO

import asyncpg

from .._connect import connect
from .._console import console_script
from .._dburl import describe_database_url, resolve_database_url
from .._errors import AnalyticsError, DatabaseUnavailableError
from ..schema.health import DEFAULT_MAX_STALENESS, SchemaHealth, schema_health
from ..schema.maintenance import maintain
from ..schema.migrate import MigrationStatus, Phase, migrate, migration_status
from .forget import forget_user_main

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
CONNECT_TIMEOUT = 10.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analytics-migrate",
        description="Apply and inspect the lib-analytics-core database schema.",
    )
    p.add_argument(
        "command",
        choices=["all", "pre", "post", "status", "dry-run", "maintain"],
        help="what to do (also: forget-user UUID, see 'analytics-migrate forget-user -h')",
    )
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: $DATABASE_URL, then $PLATFORM_DATABASE_URL)",
    )
    p.add_argument(
        "--tier",
        choices=["auto", "timescale", "partitioned"],
        default=None,
        help="schema tier for the first migration (default: $ANALYTICS_SCHEMA_TIER or auto); "
        "a schema already migrated keeps its tier and refuses the other",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="status: exit 1 if the schema is missing, a migration is pending, changed or "
        "incomplete, or an aggregate is stale (its oldest uncounted row older than "
        "--max-staleness; failing jobs whose data is current only warn)",
    )
    p.add_argument(
        "--max-staleness",
        type=_duration,
        default=DEFAULT_MAX_STALENESS,
        help="status --check: how long a row may wait to be counted by an aggregate "
        "(e.g. 30m, 2h, 1d; default 2h)",
    )
    return p


def _duration(text: str) -> dt.timedelta:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 30m, 2h, 1d)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return dt.timedelta(seconds=float(m.group(1)) * unit)


def _when(t: dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t is not None else "-"


def _write_status(out: TextIO, status: MigrationStatus) -> None:
    out.write(f"server: {status.server.describe()}\n")
    out.write(f"schema tier: {status.tier.value} ({status.tier_reason})\n")
    for m in status.migrations:
        when = f"  {m.applied_at.isoformat()}" if m.applied_at else ""
        unfilled = f"  (not filled yet: {', '.join(m.unfilled)})" if m.unfilled else ""
        out.write(f"{m.state:8} {m.phase:4} {m.name}{when}{unfilled}\n")
    pending = len(status.pending)
    out.write(f"{len(status.migrations) - pending} applied, {pending} pending\n")


def _write_health(out: TextIO, health: SchemaHealth, max_staleness: dt.timedelta) -> None:
    if health.tier.value == "timescale":
        out.write(f"jobs ({len(health.jobs)}):\n")
        out.write(
            "  id    kind          target                              schedule  last run"
            "             last success         fails  next start           status\n"
        )
        for j in health.jobs:
            state = "FAILING" if j.failing else "never run" if j.never_run else "ok"
            out.write(
                f"  {j.job_id:<5} {j.kind:<13} {j.target[:35]:<35} "
                f"{j.schedule_interval or '-'!s:<9} {_when(j.last_run_started_at):<20} "
                f"{_when(j.last_successful_finish):<20} {j.consecutive_failures:>5}  "
                f"{_when(j.next_start):<20} {state}\n"
            )
            if j.last_error:
                out.write(f"        last error: {j.last_error}\n")
    elif health.last_maintenance is not None:
        out.write(f"last maintain/refresh: {_when(health.last_maintenance)}\n")
    else:
        out.write("last maintain/refresh: never (run analytics-migrate maintain)\n")
    m = health.maintainer
    if m is None:
        out.write("maintainer: none elected yet (no worker/API/collector has run here)\n")
    else:
        state = "holds the lease" if m["live"] else "lease EXPIRED (no process maintains)"
        out.write(
            f"maintainer: {m['holder']} {state}; last refresh {_when(m['last_refresh_at'])}, "
            f"last whole pass {_when(m['last_maintain_at'])}\n"
        )
        if m["last_error"]:
            out.write(f"  last error ({_when(m['last_error_at'])}): {m['last_error']}\n")
    out.write("aggregates (newest materialised bucket / newest source bucket / staleness):\n")
    for a in health.aggregates:
        flag = "STALE" if a.staleness > max_staleness else "ok"
        out.write(
            f"  {a.name:<36} {_when(a.newest_bucket):<20} {_when(a.newest_source_bucket):<20} "
            f"{a.staleness}  {flag}\n"
        )


async def _connect(url: str) -> asyncpg.Connection:
    try:
        return await connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        raise DatabaseUnavailableError(
            f"cannot connect to {describe_database_url(url)}: {err}"
        ) from err


async def _status(
    conn: asyncpg.Connection,
    out: TextIO,
    tier: str | None,
    check: bool,
    max_staleness: dt.timedelta,
) -> int:
    status = await migration_status(conn, tier=tier)
    _write_status(out, status)
    problems = [f"migration {m.name} changed after it was applied" for m in status.changed]
    if not status.applied:
        problems.append(
            "the analytics schema is missing (no migration applied): run analytics-migrate"
        )
    elif status.pending:
        # A deploy half done (e.g. only `pre`): every read of a missing aggregate fails.
        names = ", ".join(m.name for m in status.pending)
        problems.append(
            f"{len(status.pending)} migration(s) pending ({names}): run analytics-migrate"
        )
    elif not status.changed:
        health = await schema_health(conn)
        _write_health(out, health, max_staleness)
        problems = list(health.problems(max_staleness))
        for warning in health.warnings(max_staleness):
            out.write(f"WARNING: {warning}\n")
    for problem in problems:
        out.write(f"PROBLEM: {problem}\n")
    if status.changed:
        return EXIT_FAILED
    return EXIT_FAILED if check and problems else 0


async def _maintain(conn: asyncpg.Connection, out: TextIO) -> int:
    report = await maintain(conn)
    out.write(f"schema tier: {report.tier.value}\n")
    out.write(f"partitions created: {report.partitions_created}\n")
    out.write(f"partitions dropped: {len(report.partitions_dropped)}\n")
    out.write(f"chunks compressed: {len(report.chunks_compressed)}\n")
    out.write(f"chunks dropped: {len(report.chunks_dropped)}\n")
    for lo, hi in report.refreshed_ranges:
        out.write(f"refreshed: {lo.isoformat()} .. {hi.isoformat()}\n")
    return 0


async def _migrate(conn: asyncpg.Connection, out: TextIO, command: str, tier: str | None) -> int:
    dry = command == "dry-run"
    phase: Phase = "all" if command in ("all", "dry-run") else command  # type: ignore[assignment]
    result = await migrate(conn, phase=phase, dry_run=dry, tier=tier)
    out.write(f"server: {result.server.describe()}\n")
    out.write(f"schema tier: {result.tier.value} ({result.tier_reason})\n")
    if dry:
        if not result.sql:
            out.write("-- nothing pending\n")
        for name, sql in result.sql:
            out.write(f"-- ===== {name} =====\n{sql}\n")
        return 0
    for name in result.completed:
        out.write(f"completed  {name} (its aggregates, left unfilled by an earlier run)\n")
    for name in result.applied:
        out.write(f"applied  {name}\n")
    if not result.applied and not result.completed:
        out.write("nothing to apply: schema is up to date\n")
    return 0


async def _run(
    command: str,
    url: str,
    out: TextIO,
    *,
    tier: str | None = None,
    check: bool = False,
    max_staleness: dt.timedelta = DEFAULT_MAX_STALENESS,
) -> int:
    conn = await _connect(url)
    try:
        if command == "status":
            return await _status(conn, out, tier, check, max_staleness)
        if command == "maintain":
            return await _maintain(conn, out)
        return await _migrate(conn, out, command, tier)
    finally:
        await conn.close()


@console_script
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``analytics-migrate`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "forget-user":
        return forget_user_main(argv[1:])
    args = _parser().parse_args(argv)
    url = resolve_database_url(args.database_url)
    if not url:
        sys.stderr.write(
            "analytics-migrate: no database configured: set DATABASE_URL or "
            "PLATFORM_DATABASE_URL, or pass --database-url\n"
        )
        return EXIT_USAGE
    try:
        return asyncio.run(
            _run(
                args.command,
                url,
                sys.stdout,
                tier=args.tier,
                check=args.check,
                max_staleness=args.max_staleness,
            )
        )
    except DatabaseUnavailableError as err:
        sys.stderr.write(f"analytics-migrate: database unreachable: {err}\n")
        return EXIT_UNREACHABLE
    except AnalyticsError as err:
        sys.stderr.write(f"analytics-migrate: {type(err).__name__}: {err}\n")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
