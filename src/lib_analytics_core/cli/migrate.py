"""``analytics-migrate``: apply, inspect and maintain the analytics schema.

Commands (the seed's, plus ``maintain``)::

    analytics-migrate all       # pre- then post-deploy migrations
    analytics-migrate pre       # pre-deploy only (tables, indexes, policies)
    analytics-migrate post      # post-deploy only (aggregates)
    analytics-migrate status    # applied / pending, and the server kind detected
    analytics-migrate dry-run   # print the SQL that would run; change nothing
    analytics-migrate maintain  # partitions, aggregate refresh, retention (non-TimescaleDB)
    analytics-migrate forget-user UUID   # erase one user's events (see cli/forget.py)

The database comes from ``--database-url``, else ``DATABASE_URL``, else
``PLATFORM_DATABASE_URL``. Exit codes: 0 success, 1 migration/maintenance failure,
2 no database configured (or bad usage), 3 database unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

import asyncpg

from .._errors import AnalyticsError, DatabaseUnavailableError
from ..schema.maintenance import maintain
from ..schema.migrate import Phase, migrate, migration_status
from ._env import resolve_database_url
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
    return p


async def _connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        raise DatabaseUnavailableError(f"cannot connect to the database: {err}") from err


async def _run(command: str, url: str, out: TextIO) -> int:
    conn = await _connect(url)
    try:
        if command == "status":
            status = await migration_status(conn)
            out.write(f"server: {status.server.describe()}\n")
            out.write(f"schema tier: {status.tier.value}\n")
            for m in status.migrations:
                when = f"  {m.applied_at.isoformat()}" if m.applied_at else ""
                out.write(f"{m.state:8} {m.phase:4} {m.name}{when}\n")
            pending = len(status.pending)
            out.write(f"{len(status.migrations) - pending} applied, {pending} pending\n")
            return 0
        if command == "maintain":
            report = await maintain(conn)
            out.write(f"schema tier: {report.tier.value}\n")
            out.write(f"partitions created: {report.partitions_created}\n")
            out.write(f"partitions dropped: {len(report.partitions_dropped)}\n")
            for lo, hi in report.refreshed_ranges:
                out.write(f"refreshed: {lo.isoformat()} .. {hi.isoformat()}\n")
            return 0
        dry = command == "dry-run"
        phase: Phase = "all" if command in ("all", "dry-run") else command  # type: ignore[assignment]
        result = await migrate(conn, phase=phase, dry_run=dry)
        out.write(f"server: {result.server.describe()}\n")
        out.write(f"schema tier: {result.tier.value}\n")
        if dry:
            if not result.sql:
                out.write("-- nothing pending\n")
            for name, sql in result.sql:
                out.write(f"-- ===== {name} =====\n{sql}\n")
            return 0
        for name in result.applied:
            out.write(f"applied  {name}\n")
        if not result.applied:
            out.write("nothing to apply: schema is up to date\n")
        return 0
    finally:
        await conn.close()


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
        return asyncio.run(_run(args.command, url, sys.stdout))
    except DatabaseUnavailableError as err:
        sys.stderr.write(f"analytics-migrate: database unreachable: {err}\n")
        return EXIT_UNREACHABLE
    except AnalyticsError as err:
        sys.stderr.write(f"analytics-migrate: {type(err).__name__}: {err}\n")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
