"""What kind of server the schema lives on, and which schema tier it gets.

Three kinds, one query surface (see docs/schema.md):

* ``TIMESCALEDB``: TimescaleDB with its community (``timescale``-licensed) features:
  hypertable, compression, continuous aggregates and background policies.
* ``TIMESCALEDB_APACHE``: TimescaleDB restricted to its Apache-2 features (many managed
  services): no compression, no continuous aggregates, no policies. It gets the same
  variant as plain PostgreSQL.
* ``POSTGRESQL``: no extension. Native daily partitions and aggregate tables that the
  library maintains (``maintain()``).

Detection reads only what any role may read (``version()``, ``pg_extension``,
``pg_available_extensions`` and the ``timescaledb.license`` setting, which exists once
the TimescaleDB library is loaded, i.e. preloaded or installed): a database owner
without superuser or ``pg_read_all_settings`` can migrate.

The detected kind only *suggests* a tier: :func:`choose_tier` applies the operator's
choice (``auto``, ``timescale`` or ``partitioned``) and says why, so a server that
happens to preload TimescaleDB does not force the timescale tier on anyone.

This is the library's one server detection; the write path needs only
:attr:`ServerInfo.supports_copy` from it.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from .._errors import ConfigurationError, DatabaseError, MigrationError
from .facts import HISTORY_TABLE

__all__ = [
    "TIER_ENV",
    "SchemaTier",
    "ServerInfo",
    "ServerKind",
    "TierChoice",
    "TierRequest",
    "choose_tier",
    "detect_server",
    "detect_server_kind",
    "recorded_tier",
    "requested_tier",
]

TIER_ENV = "ANALYTICS_SCHEMA_TIER"
"""Environment variable read when ``migrate()`` gets no ``tier`` (default ``auto``)."""

TierRequest = Literal["auto", "timescale", "partitioned"]


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
    timescaledb_available: bool
    """The extension can be created here (``pg_available_extensions``)."""
    supports_copy: bool
    """``COPY ... FROM STDIN`` works (not on WASM builds such as PGlite, whose socket
    server cannot take it): what the write path needs to know."""

    def describe(self) -> str:
        """One line for humans: kind, versions."""
        pg = f"PostgreSQL {self.server_version_num // 10000}"
        parts = [self.kind.value, pg]
        if self.timescaledb_version:
            parts.append(f"timescaledb {self.timescaledb_version}")
        if self.timescaledb_license:
            parts.append(f"license={self.timescaledb_license}")
        return ", ".join(parts)


async def detect_server(conn: asyncpg.Connection[Any]) -> ServerInfo:
    """Inspect the server behind ``conn`` (read-only; one catalog query, any role).

    TimescaleDB counts as usable when the extension is installed in this database, or
    when it is available and its library is loaded (the ``timescaledb.license`` setting
    exists: preloaded), so the timescale tier's ``CREATE EXTENSION`` can succeed.
    """
    row = await conn.fetchrow(
        """
        SELECT version() AS version,
               current_setting('server_version_num')::int AS num,
               (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ext,
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
                   AS available,
               current_setting('timescaledb.license', true) AS license
        """
    )
    assert row is not None
    version = str(row["version"])
    ext = row["ext"]
    license_ = row["license"] or None
    timescale = ext is not None or (bool(row["available"]) and license_ is not None)
    if not timescale:
        kind = ServerKind.POSTGRESQL
    elif license_ == "apache":
        kind = ServerKind.TIMESCALEDB_APACHE
    else:
        kind = ServerKind.TIMESCALEDB
    return ServerInfo(
        kind=kind,
        version=version,
        server_version_num=int(row["num"]),
        timescaledb_version=str(ext) if ext is not None else None,
        timescaledb_license=license_ if timescale else None,
        timescaledb_available=bool(row["available"]),
        supports_copy="emscripten" not in version.lower(),
    )


async def detect_server_kind(conn: asyncpg.Connection[Any]) -> ServerKind:
    """The :class:`ServerKind` of the server behind ``conn``."""
    return (await detect_server(conn)).kind


@dataclass(frozen=True, slots=True)
class TierChoice:
    """The tier a migration run uses, and the sentence that explains it."""

    tier: SchemaTier
    requested: TierRequest
    reason: str


def requested_tier(tier: str | None) -> TierRequest:
    """``tier`` if given, else ``$ANALYTICS_SCHEMA_TIER``, else ``auto``; validated."""
    value = tier if tier is not None else (os.environ.get(TIER_ENV) or "auto")
    value = value.strip().lower()
    if value not in ("auto", "timescale", "partitioned"):
        source = "tier" if tier is not None else TIER_ENV
        raise ConfigurationError(
            f"{source} must be 'auto', 'timescale' or 'partitioned', not {value!r}"
        )
    return value  # type: ignore[return-value]


def choose_tier(server: ServerInfo, requested: TierRequest) -> TierChoice:
    """The tier for a schema not yet migrated on ``server``, given the operator's wish.

    ``auto`` takes the timescale tier exactly when community TimescaleDB is usable
    (compression and continuous aggregates need its licence); ``partitioned`` works on
    every server; ``timescale`` is refused where it cannot work, rather than silently
    falling back.
    """
    if requested == "partitioned":
        why = "requested (--tier partitioned / ANALYTICS_SCHEMA_TIER)"
        if server.kind is ServerKind.TIMESCALEDB:
            why += "; TimescaleDB is available but not used"
        return TierChoice(SchemaTier.PARTITIONED, requested, why)
    if server.kind is ServerKind.TIMESCALEDB:
        why = (
            "requested (--tier timescale / ANALYTICS_SCHEMA_TIER)"
            if requested == "timescale"
            else f"auto: TimescaleDB {server.timescaledb_version or '(preloaded)'} with "
            f"license={server.timescaledb_license or 'timescale'} allows compression and "
            "continuous aggregates"
        )
        return TierChoice(SchemaTier.TIMESCALE, requested, why)
    if server.kind is ServerKind.TIMESCALEDB_APACHE:
        detail = "TimescaleDB's Apache-only licence has no compression or continuous aggregates"
    elif server.timescaledb_available:
        detail = "TimescaleDB is available but not loaded (not in shared_preload_libraries)"
    else:
        detail = "TimescaleDB is not available on this server"
    if requested == "timescale":
        raise MigrationError(f"the timescale tier was requested but {detail}")
    return TierChoice(SchemaTier.PARTITIONED, requested, f"auto: {detail}")


async def recorded_tier(conn: asyncpg.Connection[Any]) -> SchemaTier:
    """The tier the schema in ``conn``'s search path was migrated with (from the
    history); raises :class:`DatabaseError` when it is not migrated."""
    tier = None
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", HISTORY_TABLE):
        tier = await conn.fetchval(f"SELECT tier FROM {HISTORY_TABLE} ORDER BY version LIMIT 1")
    if tier is None:
        raise DatabaseError("the analytics schema is not migrated here; run analytics-migrate")
    return SchemaTier(tier)
