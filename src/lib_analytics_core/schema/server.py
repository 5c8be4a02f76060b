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
``pg_available_extensions``, and ``pg_settings`` for the settings TimescaleDB defines
once its library is loaded; never the superuser-only ``shared_preload_libraries``): a
database owner without superuser or ``pg_read_all_settings`` can migrate. On a native
server that preloads TimescaleDB, a database without the extension does not know the
licence yet; the migration runner then creates the extension in a transaction it rolls
back, which tells the licence and whether this role may create it (see
:func:`detect_server`).

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

from .._errors import ConfigurationError, MigrationError, NotMigratedError
from .facts import HISTORY_TABLE

__all__ = [
    "TIER_ENV",
    "DetectionFacts",
    "SchemaTier",
    "ServerInfo",
    "ServerKind",
    "TierChoice",
    "TierRequest",
    "choose_tier",
    "classify",
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
    timescaledb_preloaded: bool = False
    """TimescaleDB's library is loaded in this session (``shared_preload_libraries``, or
    built in as on PGlite): only then can ``CREATE EXTENSION timescaledb`` succeed."""
    timescaledb_available_version: str | None = None
    extension_creatable: bool | None = None
    """Whether this role could create the extension here (probed in a transaction that
    was rolled back); None when not probed or already installed."""
    extension_error: str | None = None
    """Why the probe's ``CREATE EXTENSION`` failed, when it did."""

    def describe(self) -> str:
        """One line for humans: kind, versions."""
        pg = f"PostgreSQL {self.server_version_num // 10000}"
        parts = [self.kind.value, pg]
        if self.timescaledb_version:
            parts.append(f"timescaledb {self.timescaledb_version}")
        elif self.timescaledb_preloaded:
            parts.append(
                f"timescaledb {self.timescaledb_available_version or ''} preloaded, "
                "extension not created in this database".replace("  ", " ")
            )
        if self.timescaledb_license:
            parts.append(f"license={self.timescaledb_license}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class DetectionFacts:
    """What one catalog query, readable by any role, tells about the server."""

    version: str
    server_version_num: int
    installed_version: str | None
    """``pg_extension``: the extension exists in this database."""
    available_version: str | None
    """``pg_available_extensions``: the server has its files."""
    loaded: bool
    """TimescaleDB has defined its settings in this session (``pg_settings`` lists only
    defined settings, never the placeholders a configuration file creates), i.e. its
    library is preloaded or built in."""
    license_setting: str | None
    """``current_setting('timescaledb.license', true)``: the effective licence once the
    library is loaded in the database; before ``CREATE EXTENSION`` on a native server it
    is NULL, or the configured value as a placeholder."""


_FACTS_SQL = """
SELECT version() AS version,
       current_setting('server_version_num')::int AS num,
       (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS installed,
       (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb')
           AS available,
       EXISTS (SELECT 1 FROM pg_settings
               WHERE name IN ('timescaledb.disable_load', 'timescaledb.license',
                              'timescaledb.max_background_workers')) AS loaded,
       current_setting('timescaledb.license', true) AS license
"""


def classify(facts: DetectionFacts, probe: tuple[str | None, str | None] | None) -> ServerInfo:
    """The server kind from ``facts`` and, when the extension was probed, ``probe`` =
    (licence the created extension reported, or None; the error creating it, or None).

    Pure: every case (native preloaded with or without the extension, Apache licence,
    installed but not preloaded, plain PostgreSQL, PGlite, a role that may not create the
    extension) is a row in ``tests/test_server_detection.py``.
    """
    installed = facts.installed_version
    license_ = facts.license_setting or None
    creatable: bool | None = None
    error: str | None = None
    if installed is None and facts.available_version is not None and facts.loaded and probe:
        probed_license, error = probe
        creatable = error is None
        if probed_license:
            license_ = probed_license
    usable = installed is not None or (facts.available_version is not None and facts.loaded)
    if not usable:
        kind = ServerKind.POSTGRESQL
    elif license_ == "apache":
        kind = ServerKind.TIMESCALEDB_APACHE
    else:
        kind = ServerKind.TIMESCALEDB
    return ServerInfo(
        kind=kind,
        version=facts.version,
        server_version_num=facts.server_version_num,
        timescaledb_version=installed,
        timescaledb_license=license_ if usable else None,
        timescaledb_available=facts.available_version is not None,
        supports_copy="emscripten" not in facts.version.lower(),
        timescaledb_preloaded=facts.loaded,
        timescaledb_available_version=facts.available_version,
        extension_creatable=creatable,
        extension_error=error,
    )


async def _probe_extension(conn: asyncpg.Connection[Any]) -> tuple[str | None, str | None]:
    """Create the extension in a transaction that is always rolled back; return the
    licence it reports, or the error. Only called when the library is loaded: without
    the preload, ``CREATE EXTENSION timescaledb`` is FATAL and ends the session."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        license_ = await conn.fetchval("SELECT current_setting('timescaledb.license', true)")
        return (str(license_) if license_ else "timescale"), None
    except asyncpg.PostgresError as err:
        return None, f"{type(err).__name__}: {err}"
    finally:
        await tx.rollback()


async def detect_server(conn: asyncpg.Connection[Any], *, probe: bool = False) -> ServerInfo:
    """Inspect the server behind ``conn`` (one catalog query any role may run).

    With ``probe`` and TimescaleDB loaded but not created in this database (a native
    server that preloads it: its licence is not readable before ``CREATE EXTENSION``),
    the extension is created in a transaction that is rolled back, which tells the
    licence and whether this role may create it. The migration runner probes; the
    write path and health checks do not need to.
    """
    row = await conn.fetchrow(_FACTS_SQL)
    assert row is not None
    facts = DetectionFacts(
        version=str(row["version"]),
        server_version_num=int(row["num"]),
        installed_version=str(row["installed"]) if row["installed"] is not None else None,
        available_version=str(row["available"]) if row["available"] is not None else None,
        loaded=bool(row["loaded"]),
        license_setting=row["license"],
    )
    result = None
    if (
        probe
        and facts.installed_version is None
        and facts.available_version is not None
        and facts.loaded
    ):
        result = await _probe_extension(conn)
    return classify(facts, result)


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

    ``auto`` takes the timescale tier exactly when community TimescaleDB is usable by
    this role (compression and continuous aggregates need its licence, and the first
    migration creates the extension); ``partitioned`` works on every server;
    ``timescale`` is refused where it cannot work, rather than silently falling back.
    """
    if requested == "partitioned":
        why = "requested (--tier partitioned / ANALYTICS_SCHEMA_TIER)"
        if server.kind is ServerKind.TIMESCALEDB:
            why += "; TimescaleDB is available but not used"
        return TierChoice(SchemaTier.PARTITIONED, requested, why)
    detail = _not_usable(server)
    if detail is None:
        if requested == "timescale":
            why = "requested (--tier timescale / ANALYTICS_SCHEMA_TIER)"
        elif server.timescaledb_version:
            why = (
                f"auto: TimescaleDB {server.timescaledb_version} (installed in this database) "
                f"with license={server.timescaledb_license or 'timescale'} allows compression "
                "and continuous aggregates"
            )
        else:
            version = server.timescaledb_available_version or ""
            why = (
                f"auto: TimescaleDB {version} is preloaded and the first migration creates "
                f"the extension (license={server.timescaledb_license or 'timescale'}): "
                "compression and continuous aggregates".replace("  ", " ")
            )
        return TierChoice(SchemaTier.TIMESCALE, requested, why)
    if requested == "timescale":
        raise MigrationError(f"the timescale tier was requested but {detail}")
    return TierChoice(SchemaTier.PARTITIONED, requested, f"auto: {detail}")


def _not_usable(server: ServerInfo) -> str | None:
    """Why the timescale tier cannot work here, or None when it can."""
    if server.kind is ServerKind.TIMESCALEDB:
        if server.extension_creatable is False:
            return (
                "TimescaleDB is preloaded but this role may not create the extension in this "
                f"database ({server.extension_error}); a superuser's CREATE EXTENSION "
                "timescaledb before the first migration gives the timescale tier"
            )
        return None
    if server.kind is ServerKind.TIMESCALEDB_APACHE:
        return (
            "TimescaleDB runs with license=apache (Apache-only licence): no compression or "
            "continuous aggregates"
        )
    if server.timescaledb_available:
        return (
            "TimescaleDB is installed on this server but its library is not loaded (not in "
            "shared_preload_libraries), so the extension cannot be created"
        )
    return "TimescaleDB is not available on this server"


async def recorded_tier(conn: asyncpg.Connection[Any]) -> SchemaTier:
    """The tier the schema in ``conn``'s search path was migrated with (from the
    history); raises :class:`NotMigratedError` when it is not migrated."""
    tier = None
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", HISTORY_TABLE):
        tier = await conn.fetchval(f"SELECT tier FROM {HISTORY_TABLE} ORDER BY version LIMIT 1")
    if tier is None:
        raise NotMigratedError("the analytics schema is not migrated here; run analytics-migrate")
    return SchemaTier(tier)
