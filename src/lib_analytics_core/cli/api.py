"""``analytics-api``: serve the read-only API and dashboard with uvicorn.

The database comes from ``--database-url``, else ``DATABASE_URL``, else
``PLATFORM_DATABASE_URL``, the order of every console script (use a login in the
``analytics_reader`` role); the bearer token from ``ANALYTICS_API_TOKEN``, never from the
command line, where it would show in ``ps`` and shell history.

``--workers N`` runs N uvicorn worker processes on one socket (uvicorn's supervisor
restarts one that dies). Each is a whole app: its own pool (``--pool-size``
connections at most, plus one for the ``/healthz`` probe), its own response cache and
its own probe, so the database sees up to ``N x (pool size + 1)`` sessions of the reader
login. The workers are spawned interpreters: they get their settings from the
environment (:data:`WORKER_SETTINGS`, set here) and build the app with
:func:`worker_app`, through the same :func:`~lib_analytics_core.api.create_app` call
as a single process. Sizing: ``docs/api.md``.

Each process also hosts a maintainer (``schema/maintainer.py``; ``--no-maintain`` or
``ANALYTICS_MAINTAINER=off`` to turn it off). It competes only where its login owns the
schema and the server is not a standby: with the usual ``analytics_reader`` login, or
pointed at a read replica, it never maintains (it asks, cheaply, once per tick).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Final

from .._console import console_script
from .._dburl import resolve_database_url
from .._errors import ConfigurationError
from .._extras import install_hint
from ._maintaining import MaintainedApp, add_no_maintain

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["WORKER_SETTINGS", "main", "worker_app"]

#: The environment variable the worker processes read their settings from (JSON).
WORKER_SETTINGS: Final = "LAC_API_WORKER_SETTINGS"
#: uvicorn's import string for the workers' app factory.
_FACTORY: Final = "lib_analytics_core.cli.api:worker_app"


def _defaults() -> tuple[int | None, float | None]:
    """The API's pool size and cache TTL, for ``--help``; None without the ``api`` extra
    (the ``api`` package imports FastAPI), where ``--help`` must still work."""
    try:
        from ..api._cache import DEFAULT_CACHE_TTL_S  # noqa: PLC0415
        from ..api._database import DEFAULT_POOL_MAX_SIZE  # noqa: PLC0415
    except ImportError:
        return None, None
    return DEFAULT_POOL_MAX_SIZE, DEFAULT_CACHE_TTL_S


def _parser() -> argparse.ArgumentParser:
    pool_size, cache_ttl = _defaults()
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
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes (default 1); each has its own pool, cache and health probe",
    )
    p.add_argument(
        "--pool-size",
        type=_positive,
        default=pool_size,
        help=f"database connections per worker at most (default {pool_size}; "
        "+1 per worker for the /healthz probe)",
    )
    p.add_argument(
        "--cache-ttl",
        type=float,
        default=cache_ttl,
        help=f"seconds a /v1 answer is served again (default {cache_ttl}; 0 = off)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_no_maintain(p)
    return p


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _app_from(settings: dict[str, Any], token: str) -> FastAPI | MaintainedApp:
    from ..api._app import create_app  # noqa: PLC0415 - imports FastAPI (optional extra)

    options = {k: settings[k] for k in ("pool_max_size", "cache_ttl_s") if settings[k] is not None}
    app = create_app(settings["database_url"], token, **options)
    if not settings.get("maintain", False):
        return app
    return MaintainedApp(app, settings["database_url"], host="api")


def _freeze_start_up_heap() -> None:
    """Move everything alive now (FastAPI, pydantic, the routes and their models: tens of
    thousands of objects) out of the garbage collector's reach.

    Why: a full collection walks every tracked object with the event loop stopped; in the
    load benchmark that was 100-170 ms on a busy 2-core machine, and the loop's longest
    stalls were the ``/healthz`` maxima (issue 20). These objects live as long as the
    process, so nothing is lost by never scanning them. Done in the served process only
    (here, not in ``create_app``: an application that mounts the API owns its own heap).
    """
    gc.collect()
    gc.freeze()


def worker_app() -> FastAPI | MaintainedApp:
    """The app of one worker process (uvicorn's factory for ``--workers N > 1``): the
    settings ``main`` put in :data:`WORKER_SETTINGS`, the token from
    ``ANALYTICS_API_TOKEN``; the start-up heap frozen (:func:`_freeze_start_up_heap`)."""
    settings = json.loads(os.environ[WORKER_SETTINGS])
    app = _app_from(settings, os.environ.get("ANALYTICS_API_TOKEN", ""))
    _freeze_start_up_heap()
    return app


@console_script
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
    if not token.strip():
        sys.stderr.write(
            "analytics-api: ANALYTICS_API_TOKEN is not set: the API answers only requests "
            "that carry 'Authorization: Bearer <token>'; choose a token of at least 16 "
            "characters, e.g. export ANALYTICS_API_TOKEN=$(python3 -c "
            "'import secrets; print(secrets.token_urlsafe(24))')\n"
        )
        return 2
    settings = {
        "database_url": database_url,
        "pool_max_size": args.pool_size,
        "cache_ttl_s": args.cache_ttl,
        "maintain": not args.no_maintain,
    }
    try:
        import uvicorn  # noqa: PLC0415 - optional extra: report it instead of a traceback

        app = _app_from(settings, token)  # checks the settings here, before any worker
    except ImportError as err:
        sys.stderr.write(f"analytics-api: {err.name} is missing: {install_hint('api')}\n")
        return 2
    except ConfigurationError as err:
        sys.stderr.write(f"analytics-api: {err} (set ANALYTICS_API_TOKEN)\n")
        return 2
    common: dict[str, Any] = {"host": args.host, "port": args.port, "log_level": args.log_level}
    if args.workers == 1:
        _freeze_start_up_heap()
        uvicorn.run(app, **common)
        return 0
    # The workers are spawned (a fresh interpreter each) and inherit the environment.
    os.environ[WORKER_SETTINGS] = json.dumps(settings)
    uvicorn.run(_FACTORY, factory=True, workers=args.workers, **common)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
