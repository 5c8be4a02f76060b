"""What kind of server the schema lives on, and therefore which schema variant it gets.

Three kinds, one query surface (see docs/schema.md):

* ``TIMESCALEDB``: TimescaleDB with its community (``timescale``-licensed) features:
  hypertable, compression, continuous aggregates and background policies.
* ``TIMESCALEDB_APACHE``: TimescaleDB restricted to its Apache-2 features (many managed
  services): no compression, no continuous aggregates, no policies. It gets the same
  variant as plain PostgreSQL.
* ``POSTGRESQL``: no extension. Native daily partitions and aggregate tables that the
  library maintains (``maintain()``).

PGlite (PostgreSQL compiled to WASM, used by the test suite's TimescaleDB server) is
recognised by ``Emscripten`` in ``version()``; it is reported, not a kind of its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import asyncpg

__all__ = ["SchemaTier", "ServerInfo", "ServerKind", "detect_server", "detect_server_kind"]


class ServerKind(enum.Enum):
    """The three kinds of server the schema supports."""

    TIMESCALEDB = "timescaledb"
    TIMESCALEDB_APACHE = "timescaledb-apache"
    POSTGRESQL = "postgresql"

    @property
    def tier(self) -> SchemaTier:
        """The schema variant this kind of server gets."""
        return SchemaTier.TIMESCALE if self is ServerKind.TIMESCALEDB else SchemaTier.PARTITIONED


class SchemaTier(enum.Enum):
    """Which variant of the migrations is applied (recorded in the history table)."""

    TIMESCALE = "timescale"
    """Hypertable + continuous aggregates + policies."""
    PARTITIONED = "partitioned"
    """Native daily partitions + aggregate tables refreshed by ``maintain()``."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """The facts detection is based on (shown by ``analytics-migrate status``)."""

    kind: ServerKind
    version: str
    server_version_num: int
    timescaledb_version: str | None
    """Installed extension version, or None (also None when only available)."""
    timescaledb_license: str | None
    is_pglite: bool

    def describe(self) -> str:
        """One line for humans: kind, versions, PGlite."""
        pg = f"PostgreSQL {self.server_version_num // 10000}"
        parts = [self.kind.value, pg]
        if self.timescaledb_version:
            parts.append(f"timescaledb {self.timescaledb_version}")
        if self.timescaledb_license:
            parts.append(f"license={self.timescaledb_license}")
        if self.is_pglite:
            parts.append("PGlite")
        return ", ".join(parts)


async def detect_server(conn: asyncpg.Connection[Any]) -> ServerInfo:
    """Inspect the server behind ``conn`` (read-only; a few catalog queries).

    TimescaleDB counts as present when the extension is installed in this database, or
    when it is preloaded and available (the timescale variant then creates it). The
    license comes from the ``timescaledb.license`` setting, which only exists once the
    library is loaded.
    """
    row = await conn.fetchrow(
        """
        SELECT version() AS version,
               current_setting('server_version_num')::int AS num,
               (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ext,
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
                   AS available,
               coalesce(current_setting('shared_preload_libraries', true), '') AS preload,
               current_setting('timescaledb.license', true) AS license
        """
    )
    assert row is not None
    version = str(row["version"])
    ext = row["ext"]
    license_ = row["license"] or None
    timescale = ext is not None or (row["available"] and "timescaledb" in str(row["preload"]))
    if not timescale:
        kind = ServerKind.POSTGRESQL
        license_ = None
    elif license_ == "apache":
        kind = ServerKind.TIMESCALEDB_APACHE
    else:
        kind = ServerKind.TIMESCALEDB
    return ServerInfo(
        kind=kind,
        version=version,
        server_version_num=int(row["num"]),
        timescaledb_version=str(ext) if ext is not None else None,
        timescaledb_license=license_,
        is_pglite="emscripten" in version.lower(),
    )


async def detect_server_kind(conn: asyncpg.Connection[Any]) -> ServerKind:
    """The :class:`ServerKind` of the server behind ``conn``."""
    return (await detect_server(conn)).kind
