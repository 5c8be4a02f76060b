"""The write connections' ``timestamptz`` codec (``ingest.sinks.pg_codecs.fast_row_codecs``)
stores and reads exactly what asyncpg's own C codec does: the same instant for every
value asyncpg accepts (aware datetimes in any offset, naive ones, dates, its
infinities), the same error for what it refuses, and the same Python value read back
(an aware UTC datetime, or its naive infinities). Compared on a real server, one
connection with each codec, through parameters and through the binary COPY the sink
writes with."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib_analytics_core.ingest.pipeline import fast_row_codecs
from lib_analytics_core.ingest.sinks.pg_codecs import _encode_timestamptz

_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
# Aware datetimes in any offset (kept inside what both codecs can convert to UTC),
# naive ones (local time to both), dates, and the edges asyncpg treats as infinities.
_values = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=_offsets
    ),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.dates(),
    st.sampled_from(
        [
            dt.datetime.max,
            dt.datetime.min,
            dt.datetime.max.replace(tzinfo=dt.UTC),
            dt.datetime.min.replace(tzinfo=dt.UTC),
            dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
            dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
            dt.datetime(2026, 12, 7, 21, 0, 0, 123456, tzinfo=dt.UTC),
        ]
    ),
)


async def _both(url: str) -> tuple[asyncpg.Connection[Any], asyncpg.Connection[Any]]:
    default = await asyncpg.connect(url)
    fast = await asyncpg.connect(url)
    await fast_row_codecs(fast)
    return default, fast


async def _stored(conn: asyncpg.Connection[Any], value: object) -> tuple[str, str]:
    """The instant stored (as text, in UTC) or the error's class and message."""
    try:
        text = await conn.fetchval("SELECT ($1::timestamptz AT TIME ZONE 'UTC')::text", value)
    except Exception as err:
        return ("error", type(err).__name__)
    return ("ok", str(text))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.lists(_values, min_size=1, max_size=40))
def test_the_fast_codec_stores_and_reads_what_asyncpgs_does(
    database_url: str, values: list[Any]
) -> None:
    async def go() -> None:
        default, fast = await _both(database_url)
        try:
            for value in values:
                assert await _stored(fast, value) == await _stored(default, value), value
                # Read back: the same Python value, of the same kind (aware or the
                # naive infinities).
                want = await default.fetchval("SELECT $1::timestamptz", value)
                got = await fast.fetchval("SELECT $1::timestamptz", value)
                assert got == want and got.tzinfo == want.tzinfo, (value, got, want)
        finally:
            await default.close()
            await fast.close()

    asyncio.run(go())


async def test_the_fast_codec_refuses_what_asyncpg_refuses(database_url: str) -> None:
    default, fast = await _both(database_url)
    try:
        for value in ("2026-12-07", 1765141200, None):
            assert await _stored(fast, value) == await _stored(default, value), value
        with pytest.raises(TypeError):
            _encode_timestamptz("2026-12-07")
    finally:
        await default.close()
        await fast.close()


async def test_a_binary_copy_with_the_fast_codec_stores_the_same_rows(database_url: str) -> None:
    """The sink's write: binary COPY of rows whose timestamps are aware datetimes."""
    default, fast = await _both(database_url)
    base = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)
    berlin = dt.timezone(dt.timedelta(hours=1))
    stamps = [base + dt.timedelta(microseconds=37 * i) for i in range(500)] + [
        base.astimezone(berlin),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    ]
    try:
        tables = []
        for conn in (default, fast):
            table = f"copy_{uuid.uuid4().hex[:8]}"
            await conn.execute(f"CREATE TABLE {table} (n int, ts timestamptz)")
            await conn.copy_records_to_table(table, records=list(enumerate(stamps)))
            tables.append(table)
        read = [await default.fetch(f"SELECT n, ts FROM {table} ORDER BY n") for table in tables]
        assert read[0] == read[1]
        assert [r["ts"] for r in read[1]] == stamps
    finally:
        await default.close()
        await fast.close()
