"""``forget-user``: erase one user's raw events from the command line.

Meant to be wired as a subcommand of ``analytics-migrate`` (``analytics-migrate
forget-user <uuid>``) by calling :func:`forget_user_main` with the remaining arguments.
The DSN comes from ``--database-url``, ``DATABASE_URL`` or ``PLATFORM_DATABASE_URL``
(the seed's variables) and is never printed. The schema is the DSN's search path (where
the migrations created the tables).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence

from .._dburl import resolve_database_url
from .._errors import AnalyticsError
from ..schema.erasure import forget_user

__all__ = ["forget_user_main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics-migrate forget-user",
        description="Delete every raw analytics event (and dead letter) of one user.",
    )
    parser.add_argument("user_id", help="the user's UUID")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL DSN (default: $DATABASE_URL or $PLATFORM_DATABASE_URL)",
    )
    return parser


def forget_user_main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand; returns the process exit code (0 ok, 1 failure, 2 usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        uid = uuid.UUID(args.user_id)
    except ValueError:
        parser.error(f"not a UUID: {args.user_id!r}")
    dsn = resolve_database_url(args.database_url)
    if not dsn:
        parser.error("no database: pass --database-url or set DATABASE_URL")
    try:
        removed = asyncio.run(forget_user(dsn, uid))
    except AnalyticsError as err:
        sys.stderr.write(f"forget-user failed: {err}\n")
        return 1
    sys.stdout.write(f"removed {removed} rows of user {uid}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(forget_user_main())
