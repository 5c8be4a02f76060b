"""Explore: any question over any event type, from the raw events, exact.

One event type (the seed's or a custom one: nothing here knows any event class), rows in
``[start, end)``, narrowed by :mod:`.filters`, grouped by up to two dimensions (any event
field, ``service``, ``user_id``, ``host``/``release``/``environment``), measured, per hour,
per day or over the whole range, and optionally the same for the previous period of equal
length. The definitions (what the tests' reference implementation computes too):

* **rows**: events of ``event_type`` with ``start <= timestamp < end`` matching every
  filter. Buckets are UTC hours or days on the aggregates' origin (``facts.BUCKET_ORIGIN``);
  a range that does not start on a bucket boundary has a partial first bucket.
* **measures** (:data:`MEASURES`): ``count`` (rows), ``users`` (distinct non-null
  ``user_id``), and ``sum``/``avg``/``min``/``max``/``p50``/``p95``/``p99`` of a numeric
  event field, written ``"p95:duration_ms"``: over the rows whose field is a JSON number
  (others are ignored; None when there is none). Percentiles are **exact** nearest-rank
  (``percentile_disc``: the smallest value with at least ``q`` of the values at or below
  it), not estimates: explore reads raw rows (:mod:`._explore_sql` says how the
  statement keeps that cheap).
  Sums, minima and maxima are exact decimals (integers stay integers).
* **group-by** (``top`` N per dimension): a dimension's values are ranked by their number
  of rows in the range (ties: the value's text in code-point order, null first); the top
  N keep their value, every other value becomes one group with ``other`` true. A missing
  or null field is a value of its own (``None``). The previous period is grouped by the
  *current* period's top values, so its rows line up with the current ones.
* **previous period** (``compare=True``): ``[start - (end - start), start)``
  (:func:`.overview.previous_period`), the same question.

Cost: one statement reading the type's rows in the range (index on ``event_type``,
``"timestamp"``; migration 0013 and BENCHMARKS.md say what keeps it proportional to
them). The statement has the read layer's time limit and runs as a heavy read (JIT off,
a larger ``work_mem``: :data:`._exec.HEAVY_SETTINGS` says why), with parallel workers
when it reads more than two days of rows (:data:`._exec.PARALLEL_SETTINGS`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, get_args

from .._errors import QueryError
from ..schema.facts import BUCKET_ORIGIN, BUCKET_ORIGIN_SQL, EVENTS_TABLE
from . import _exec, _explore_sql
from ._common import _DAY, _HOUR, MAX_DAILY_RANGE, MAX_HOURLY_RANGE, _filter, _range
from .filters import Filter, dimension, number_sql, parse_filter, text_sql, where_sql
from .overview import previous_period
from .window import EARLIEST

__all__ = [
    "DEFAULT_TOP",
    "MAX_GROUP_BY",
    "MAX_MEASURES",
    "MAX_TOP",
    "MEASURES",
    "ExploreGranularity",
    "ExploreResult",
    "ExploreRow",
    "Measure",
    "explore",
    "parse_measure",
]

ExploreGranularity = Literal["hour", "day", "total"]
#: The measures, by name: ``count`` and ``users`` take no field, the others one.
MEASURES: Final = ("count", "users", "sum", "avg", "min", "max", "p50", "p95", "p99")
#: Group-by dimensions at most, measures per question at most.
MAX_GROUP_BY: Final = 2
MAX_MEASURES: Final = 6
#: Values kept per group-by dimension (the rest are "other") by default, and at most.
DEFAULT_TOP: Final = 10
MAX_TOP: Final = 100

Value = int | float | None


@dataclass(frozen=True, slots=True)
class Measure:
    """``kind`` of :data:`MEASURES` and, for the numeric ones, the event ``field``."""

    kind: str
    field: str | None = None

    def __str__(self) -> str:
        return self.kind if self.field is None else f"{self.kind}:{self.field}"


def parse_measure(text: str | Measure) -> Measure:
    """``"count"``, ``"users"`` or ``"<kind>:<field>"`` (``"p95:duration_ms"``)."""
    if isinstance(text, Measure):
        text = str(text)
    if not isinstance(text, str):
        raise QueryError(f"a measure is a string such as 'count' or 'sum:amount', got {text!r}")
    kind, sep, field = text.partition(":")
    if kind not in MEASURES:
        raise QueryError(f"unknown measure {text!r}: use one of {', '.join(MEASURES)}")
    if kind in ("count", "users"):
        if sep:
            raise QueryError(f"measure {kind!r} takes no field")
        return Measure(kind)
    if not field:
        raise QueryError(f"measure {kind!r} needs a numeric field: {kind}:<field>")
    if dimension(field).kind != "data":
        raise QueryError(f"measure {text!r}: {field} holds text; measures need an event field")
    return Measure(kind, field)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExploreRow:
    """One group in one bucket. ``group``: the values of the group-by dimensions (None:
    the field is missing or null); ``other``: per dimension, whether this row stands for
    every value outside the top N; ``values``: one per measure, in the asked order."""

    bucket: _dt.datetime | None
    group: list[str | None]
    other: list[bool]
    values: list[Value]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExploreResult:
    """The answer: the question as resolved, every bucket of the range (for a chart's
    x axis and zero-filling; empty for ``total``), and the rows; ``previous_*`` when the
    previous period was asked for."""

    event_type: str
    start: _dt.datetime
    end: _dt.datetime
    granularity: ExploreGranularity
    measures: list[str]
    group_by: list[str]
    filters: list[str]
    buckets: list[_dt.datetime]
    rows: list[ExploreRow]
    previous_start: _dt.datetime | None = None
    previous_end: _dt.datetime | None = None
    previous_buckets: list[_dt.datetime] | None = None
    previous_rows: list[ExploreRow] | None = None


_WIDTH: Final[dict[str, _dt.timedelta]] = {"hour": _HOUR, "day": _DAY}
#: Questions reading more than this many days of rows run with parallel workers
#: (:data:`._exec.PARALLEL_SETTINGS` says why not for fewer).
_PARALLEL_AFTER: Final = 2 * _DAY


def _buckets(lo: _dt.datetime, hi: _dt.datetime, granularity: str) -> list[_dt.datetime]:
    """Every bucket start from the one holding ``lo`` up to before ``hi``."""
    width = _WIDTH.get(granularity)
    if width is None:
        return []
    first = BUCKET_ORIGIN + ((lo - BUCKET_ORIGIN) // width) * width
    n = -((first - hi) // width)  # ceil((hi - first) / width)
    return [first + i * width for i in range(n)]


def _number(value: object) -> Value:
    """A numeric result as Python's exact type: integral decimals as int, others float."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return float(value)  # type: ignore[arg-type]


async def explore(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    event_type: str,
    measures: Sequence[str | Measure] = ("count",),
    filters: Sequence[Filter | str] = (),
    group_by: Sequence[str] = (),
    granularity: ExploreGranularity = "day",
    top: int = DEFAULT_TOP,
    compare: bool = False,
) -> ExploreResult:
    """The explore question (module docstring): ``measures`` of ``event_type``'s rows in
    ``[start, end)`` matching ``filters`` (:class:`~.filters.Filter` or their
    ``field:op:value`` text), per ``granularity`` and ``group_by``, with the previous
    period when ``compare``. Ranges: :data:`MAX_HOURLY_RANGE` hourly, else
    :data:`MAX_DAILY_RANGE`."""
    etype = _filter(event_type, "event_type")
    assert etype is not None
    if granularity not in get_args(ExploreGranularity):
        raise QueryError(f"granularity must be 'hour', 'day' or 'total', not {granularity!r}")
    lo, hi = _range(start, end, MAX_HOURLY_RANGE if granularity == "hour" else MAX_DAILY_RANGE)
    ms = [parse_measure(m) for m in measures]
    if not 1 <= len(ms) <= MAX_MEASURES or len(set(ms)) != len(ms):
        raise QueryError(f"ask for 1 to {MAX_MEASURES} different measures")
    fs = [f if isinstance(f, Filter) else parse_filter(f) for f in filters]
    dims = list(group_by)
    if len(dims) > MAX_GROUP_BY or len(set(dims)) != len(dims):
        raise QueryError(f"group by at most {MAX_GROUP_BY} different dimensions")
    for d in dims:
        dimension(d)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise QueryError(f"top must be an integer between 1 and {MAX_TOP}, got {top!r}")
    p_lo, p_hi = previous_period(lo, hi)
    if compare and p_lo < EARLIEST:
        raise QueryError(f"the previous period would start before {EARLIEST.date()}")

    sql, params = _sql(etype, lo, hi, p_lo if compare else None, ms, fs, dims, granularity, top)
    span = hi - (p_lo if compare else lo)
    records = await _exec.fetch(
        db, "explore.explore", sql, *params.values, heavy=True, parallel=span > _PARALLEL_AFTER
    )
    current: list[ExploreRow] = []
    previous: list[ExploreRow] = []
    for r in records:
        row = ExploreRow(
            bucket=r["b"],
            group=[r[f"g{i}"] for i in range(len(dims))],
            other=[bool(r[f"o{i}"]) for i in range(len(dims))],
            values=[_number(r[f"m{j}"]) for j in range(len(ms))],
        )
        (current if r["cur"] else previous).append(row)
    return ExploreResult(
        event_type=etype,
        start=lo,
        end=hi,
        granularity=granularity,
        measures=[str(m) for m in ms],
        group_by=dims,
        filters=[str(f) for f in fs],
        buckets=_buckets(lo, hi, granularity),
        rows=current,
        previous_start=p_lo if compare else None,
        previous_end=p_hi if compare else None,
        previous_buckets=_buckets(p_lo, p_hi, granularity) if compare else None,
        previous_rows=previous if compare else None,
    )


def _sql(  # noqa: PLR0917 - one statement's parts
    event_type: str,
    lo: _dt.datetime,
    hi: _dt.datetime,
    p_lo: _dt.datetime | None,
    ms: list[Measure],
    fs: list[Filter],
    dims: list[str],
    granularity: str,
    top: int,
) -> tuple[str, _exec.Params]:
    """One statement over the rows of both periods, read once (``cur`` tells them
    apart): here the rows' SELECT (event type, range, filters, the group-by values, the
    user, the measured fields as numbers); :class:`._explore_sql.Plan` the ranking of
    the top values over the current period and the aggregation (its module docstring
    says which shape for which measures, and why)."""
    params = _exec.Params(event_type, lo, hi)
    first = "$2" if p_lo is None else params.add(p_lo)
    where = [
        "event_type = $1",
        f'"timestamp" >= {first}',
        '"timestamp" < $3',
        *where_sql(fs, params),
    ]
    width = {"hour": "1 hour", "day": "1 day"}.get(granularity)
    bucket = (
        f"date_bin(INTERVAL '{width}', \"timestamp\", {BUCKET_ORIGIN_SQL})"
        if width
        else "NULL::timestamptz"
    )
    fields = list(dict.fromkeys(m.field for m in ms if m.field is not None))
    columns = {f: f"n{i}" for i, f in enumerate(fields)}
    cur = '"timestamp" >= $2' if p_lo is not None else "TRUE"
    select = [
        f"{cur} AS cur",
        f"{bucket} AS b",
        *(f"{text_sql(d, params)} AS k{i}" for i, d in enumerate(dims)),
        "user_id AS u",
        *(f"{number_sql(f, params)} AS {c}" for f, c in columns.items()),
    ]
    base = f"SELECT {', '.join(select)} FROM {EVENTS_TABLE} WHERE {' AND '.join(where)}"
    plan = _explore_sql.Plan(
        measures=[(m.kind, columns.get(m.field or "")) for m in ms],
        dims=len(dims),
    )
    return plan.sql(base, params.add(top) if dims else ""), params
