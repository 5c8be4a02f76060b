"""The PostgreSQL sink's wire codecs for its write connections.

``timestamptz`` in asyncpg's ``tuple`` format (microseconds since 2000), the same values
as asyncpg's own C codec writes and reads, for less CPU per row of a COPY (a row's
aware datetime needs one subtraction, where asyncpg also converts it to UTC, a new
object per row, and compares it with its infinity). Installed as a pool's ``init`` on
the connections the sink owns and on the collector's (``ingest.pipeline``);
``tests/test_pg_codecs.py`` checks the stored values against asyncpg's codec.

Apart from ``postgres`` (the sink's writes and retries) because it is a different
concern: what one value looks like on the wire. asyncpg is only a type here, so the
pipeline can hand this to a pool without importing the driver.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

__all__ = ["fast_row_codecs"]

logger = logging.getLogger("lib_analytics_core")

_UTC = _dt.UTC
#: PostgreSQL's epoch, and asyncpg's: what its binary ``timestamptz`` counts from.
_PG_EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_UTC)
_MICROSECOND = _dt.timedelta(microseconds=1)
#: asyncpg's infinities: ``datetime.max``/``datetime.min`` (naive) both ways, and the
#: microseconds that stand for them in the wire format.
_INFINITY, _NEGATIVE_INFINITY = _dt.datetime.max, _dt.datetime.min
_PG_INFINITY, _PG_NEGATIVE_INFINITY = 2**63 - 1, -(2**63)
#: Microseconds since 2000 of ``datetime.max`` and ``datetime.min`` read as UTC, which
#: asyncpg also writes as the infinities.
_MAX_MICROS, _MIN_MICROS = 252_455_615_999_999_999, -63_082_281_600_000_000


def _timestamptz_slow(value: Any) -> tuple[int]:
    """asyncpg's own ``timestamptz`` encoding for what is not an aware ``datetime``: a
    naive one (its local time, as ``astimezone`` reads it), a ``date`` (its midnight in
    the local time zone); anything else raises TypeError, as asyncpg does."""
    if not isinstance(value, _dt.datetime):
        if not isinstance(value, _dt.date):
            raise TypeError(
                f"expected a datetime.date or datetime.datetime instance, "
                f"got {type(value).__name__!r}"
            )
        local = _dt.datetime.now(_UTC).astimezone().utcoffset()
        value = _dt.datetime(
            value.year, value.month, value.day, tzinfo=_dt.timezone(local or _dt.timedelta())
        )
    if value == _INFINITY:
        return (_PG_INFINITY,)
    if value == _NEGATIVE_INFINITY:
        return (_PG_NEGATIVE_INFINITY,)
    return _timestamptz_micros((value.astimezone(_UTC) - _PG_EPOCH) // _MICROSECOND)


def _timestamptz_micros(micros: int) -> tuple[int]:
    if micros == _MAX_MICROS:
        return (_PG_INFINITY,)
    if micros == _MIN_MICROS:
        return (_PG_NEGATIVE_INFINITY,)
    return (micros,)


def _encode_timestamptz(value: Any) -> tuple[int]:
    """``timestamptz`` as microseconds since 2000 (asyncpg's ``tuple`` format).

    The same value asyncpg's C codec writes, for what it accepts, cheaper for the rows'
    aware datetimes: one subtraction where asyncpg also converts to UTC (``astimezone``,
    a new object per row) and compares with its infinity: 0.84 against 1.23 µs of CPU
    per row of a binary COPY (``tests/test_pg_codecs.py`` checks the stored values)."""
    try:
        micros: int = (value - _PG_EPOCH) // _MICROSECOND
    except TypeError:  # not an aware datetime
        return _timestamptz_slow(value)
    if _MIN_MICROS < micros < _MAX_MICROS:
        return (micros,)
    return _timestamptz_micros(micros)


def _decode_timestamptz(value: tuple[int]) -> _dt.datetime:
    """What asyncpg's C codec returns: an aware UTC datetime, or its naive infinities."""
    micros = value[0]
    if micros == _PG_INFINITY:
        return _INFINITY
    if micros == _PG_NEGATIVE_INFINITY:
        return _NEGATIVE_INFINITY
    return _PG_EPOCH + _dt.timedelta(microseconds=micros)


async def fast_row_codecs(conn: asyncpg.Connection[Any]) -> None:
    """A write connection's ``timestamptz`` codec: :func:`_encode_timestamptz` (a pool's
    ``init``). Same values both ways as asyncpg's own; a server that cannot introspect
    the type keeps asyncpg's codec (slower, equal)."""
    try:
        await conn.set_type_codec(
            "timestamptz",
            schema="pg_catalog",
            encoder=_encode_timestamptz,
            decoder=_decode_timestamptz,
            format="tuple",
        )
    except Exception as err:  # pragma: no cover - a server without the catalogue
        logger.debug("analytics writer: asyncpg's timestamptz codec kept: %r", err)
