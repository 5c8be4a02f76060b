"""Plain-Python reference implementations of the raw-event questions (explore, the user
timeline), written from their definitions in ``read/filters.py``, ``read/explore.py`` and
``read/users.py``, never from their SQL. The tests compare the library's answers with
these over the same raw rows, read back from the database as stored (``data::text``).

Numbers are parsed as ``Decimal`` (and integers as ``int``) so that sums, minima, maxima
and percentiles are exact and a number's text is what PostgreSQL prints for it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

UTC = dt.UTC
ORIGIN = dt.datetime(2000, 1, 3, tzinfo=UTC)
META = {"host": "host", "release": "release", "environment": "env"}
NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
Q = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Raw:
    timestamp: dt.datetime
    event_id: uuid.UUID
    event_type: str
    service: str
    user_id: uuid.UUID | None
    data: dict[str, Any]


async def raw_rows(conn: asyncpg.Connection) -> list[Raw]:
    rows = await conn.fetch(
        'SELECT "timestamp", event_id, event_type, service, user_id, data::text AS d'
        " FROM analytics_events"
    )
    return [
        Raw(r[0], r[1], r[2], r[3], r[4], json.loads(r["d"], parse_float=Decimal)) for r in rows
    ]


# ----------------------------------------------------------------------- the values


def _value(field: str, row: Raw) -> Any:
    """The field's JSON value (None: absent or null), as the filter language resolves it."""
    if field == "service":
        return row.service
    if field == "user_id":
        return row.user_id
    if field in META:
        meta = row.data.get("_meta") or {}
        return meta.get(META[field])
    return row.data.get(field.removeprefix("data."))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | Decimal) and not isinstance(v, bool)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _num(x: Any) -> Decimal | None:
    """A filter value as a number, when it is one (JSON number literal, int, float)."""
    if isinstance(x, bool):
        return None
    if isinstance(x, int | Decimal):
        return Decimal(x)
    if isinstance(x, float):
        return Decimal(repr(x))
    if isinstance(x, str) and NUMBER.match(x):
        return Decimal(x)
    return None


def _equal(v: Any, x: Any, data_field: bool) -> bool:
    if isinstance(v, uuid.UUID):
        return v == uuid.UUID(str(x))
    if data_field and _is_number(v):
        n = _num(x)
        return n is not None and Decimal(v) == n
    return _text(v) == _text(x)


def matches(field: str, op: str, value: Any, row: Raw) -> bool:
    v = _value(field, row)
    data_field = field not in ("service", "user_id", *META)
    if op == "is null":
        return v is None
    if op == "is not null":
        return v is not None
    if v is None:
        return False
    if op == "=":
        return _equal(v, value, data_field)
    if op == "!=":
        return not _equal(v, value, data_field)
    if op == "in":
        return any(_equal(v, x, data_field) for x in value)
    n = _num(value)
    assert n is not None
    if not _is_number(v):
        return False
    return Decimal(v) < n if op == "<" else Decimal(v) > n


def group_text(field: str, row: Raw) -> str | None:
    v = _value(field, row)
    return None if v is None else str(v) if isinstance(v, uuid.UUID) else _text(v)


# ------------------------------------------------------------------------- explore


def _bucket(ts: dt.datetime, granularity: str) -> dt.datetime | None:
    if granularity == "total":
        return None
    width = dt.timedelta(hours=1) if granularity == "hour" else dt.timedelta(days=1)
    return ORIGIN + ((ts - ORIGIN) // width) * width


def _exact(v: Decimal | int) -> int | float:
    d = Decimal(v)
    return int(d) if d == d.to_integral_value() else float(d)


def _measure(kind: str, field: str | None, rows: list[Raw]) -> int | float | None:
    if kind == "count":
        return len(rows)
    if kind == "users":
        return len({r.user_id for r in rows if r.user_id is not None})
    assert field is not None
    values = sorted(Decimal(v) for v in (_value(field, r) for r in rows) if _is_number(v))
    if not values:
        return None
    if kind == "sum":
        return _exact(sum(values, Decimal(0)))
    if kind == "avg":
        return float(sum(values, Decimal(0)) / len(values))
    if kind == "min":
        return _exact(values[0])
    if kind == "max":
        return _exact(values[-1])
    rank = max(1, math.ceil(Q[kind] * len(values)))  # percentile_disc's row number
    return _exact(values[rank - 1])


Key = tuple[bool, dt.datetime | None, tuple[str | None, ...], tuple[bool, ...]]


def explore(
    rows: Sequence[Raw],
    *,
    start: dt.datetime,
    end: dt.datetime,
    event_type: str,
    measures: Sequence[str],
    filters: Sequence[tuple[str, str, Any]],
    group_by: Sequence[str],
    granularity: str,
    top: int,
    compare: bool,
) -> dict[Key, list[int | float | None]]:
    """``(current?, bucket, group values, other flags) -> measure values``."""
    p_start = start - (end - start)

    def chosen(lo: dt.datetime, hi: dt.datetime) -> list[Raw]:
        return [
            r
            for r in rows
            if r.event_type == event_type
            and lo <= r.timestamp < hi
            and all(matches(f, op, v, r) for f, op, v in filters)
        ]

    current = chosen(start, end)
    tops: list[set[str | None]] = []
    for d in group_by:
        counts = Counter(group_text(d, r) for r in current)
        ranked = sorted(counts, key=lambda v: (-counts[v], v is not None, v or ""))
        tops.append(set(ranked[:top]))

    parsed = [(m.partition(":")[0], m.partition(":")[2] or None) for m in measures]
    out: dict[Key, list[int | float | None]] = {}
    periods = [(True, current)] + ([(False, chosen(p_start, start))] if compare else [])
    for is_current, rs in periods:
        groups: dict[Key, list[Raw]] = {}
        for r in rs:
            values = [group_text(d, r) for d in group_by]
            other = tuple(v not in tops[i] for i, v in enumerate(values))
            shown = tuple(None if o else v for v, o in zip(values, other, strict=True))
            key = (is_current, _bucket(r.timestamp, granularity), shown, other)
            groups.setdefault(key, []).append(r)
        for key, members in groups.items():
            out[key] = [_measure(k, f, members) for k, f in parsed]
    return out


# ------------------------------------------------------------------------ timeline


def timeline(rows: Sequence[Raw], user_id: uuid.UUID, event_type: str | None) -> list[Raw]:
    """The user's events newest first, ties by event id descending."""
    mine = [
        r
        for r in rows
        if r.user_id == user_id and (event_type is None or r.event_type == event_type)
    ]
    return sorted(mine, key=lambda r: (r.timestamp, r.event_id), reverse=True)
