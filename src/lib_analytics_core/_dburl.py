"""Where the command-line tools and the demo find their database, and how they name it on screen.

One order for every console script (``analytics-migrate``, its ``forget-user``, and
``analytics-api``): ``--database-url``, else ``DATABASE_URL``, else
``PLATFORM_DATABASE_URL`` (the seed's variables). The exception is ``analytics-demo``,
which writes thirty days of simulated events: it writes only where ``--database-url``
says, never where an environment variable happens to point (an application's database),
and uses its embedded PostgreSQL otherwise.

Scripts print where they write, but never a password: :func:`describe_database_url`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["DATABASE_URL_VARIABLES", "describe_database_url", "resolve_database_url"]

#: Environment variables consulted, in this order, after ``--database-url``.
DATABASE_URL_VARIABLES = ("DATABASE_URL", "PLATFORM_DATABASE_URL")


def resolve_database_url(
    explicit: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """``--database-url``, else ``DATABASE_URL``, else ``PLATFORM_DATABASE_URL``."""
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    for name in DATABASE_URL_VARIABLES:
        value = env.get(name)
        if value:
            return value
    return None


def describe_database_url(url: str) -> str:
    """``user@host:port/database`` for messages: the password is never shown.

    Handles the forms asyncpg accepts: credentials in the authority, and ``host``,
    ``port``, ``user``, ``dbname`` as query parameters (Unix sockets).
    """
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        user = unquote(parts.username or "") or query.get("user", "")
        host = unquote(parts.hostname or "") or query.get("host", "") or "localhost"
        port = parts.port or query.get("port")
        database = unquote(parts.path.lstrip("/")) or query.get("dbname", "") or user
    except ValueError:
        return "(an unparsable database URL)"
    where = f"{host}:{port}" if port else host
    who = f"{user}@" if user else ""
    return f"{who}{where}/{database}"
