"""``analytics-api``: serve the read-only API and dashboard with uvicorn.

The database comes from ``--database-url``, else ``DATABASE_URL``, else
``PLATFORM_DATABASE_URL``, the order of every console script (use a login in the
``analytics_reader`` role); the bearer token from ``ANALYTICS_API_TOKEN``, never from the
command line, where it would show in ``ps`` and shell history.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._dburl import resolve_database_url
from .._errors import ConfigurationError
from .._extras import install_hint

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="analytics-api",
        description="Serve the read-only analytics API (/v1/...) and dashboard (/).",
        epilog="Environment: DATABASE_URL, then PLATFORM_DATABASE_URL (if --database-url is "
        "not given), "
        "ANALYTICS_API_TOKEN (required; clients send it as 'Authorization: Bearer ...').",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: $DATABASE_URL, then $PLATFORM_DATABASE_URL)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    database_url = resolve_database_url(args.database_url)
    if not database_url:
        sys.stderr.write(
            "analytics-api: no database: pass --database-url or set DATABASE_URL "
            "(or PLATFORM_DATABASE_URL)\n"
        )
        return 2
    token = os.environ.get("ANALYTICS_API_TOKEN", "")
    try:
        import uvicorn  # noqa: PLC0415 - optional extra: report it instead of a traceback

        from ..api._app import create_app  # noqa: PLC0415 - imports FastAPI (optional extra)

        app = create_app(database_url, token)
    except ImportError as err:
        sys.stderr.write(f"analytics-api: {err.name} is missing: {install_hint('api')}\n")
        return 2
    except ConfigurationError as err:
        sys.stderr.write(f"analytics-api: {err} (set ANALYTICS_API_TOKEN)\n")
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
