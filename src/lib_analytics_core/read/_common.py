"""What every question module shares: the accepted range of dates, limits, the simple
equality filters of the aggregates, and the fast construction of result rows.

Private to the read layer (the question modules import it; users import the functions
and constants from the question modules, or from :mod:`lib_analytics_core.read.queries`
as before). Statements run through :mod:`._exec`, never from here.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import gc
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

import asyncpg

from .._errors import QueryError
from . import _exec
from . import histogram as _histogram
from .window import EARLIEST, LATEST, MAX_WINDOW_DAYS

_T = TypeVar("_T")

#: Longest range of a daily series (two years): bounds the work per request. The same
#: number as the longest "last N days" (``window.MAX_WINDOW_DAYS``), written there once.
MAX_DAILY_RANGE: Final = _dt.timedelta(days=MAX_WINDOW_DAYS)
#: Longest range read from an hourly aggregate (three months, ~2,200 buckets per series).
MAX_HOURLY_RANGE: Final = _dt.timedelta(days=93)
#: Longest DAU/WAU/MAU series: each day's MAU is an exact distinct count over 30 days of
#: user rows, so this is the most expensive question per day of range.
MAX_ACTIVE_USERS_RANGE: Final = _dt.timedelta(days=400)
#: Rows returned by the multi-row queries when no limit is given, and the hard cap.
DEFAULT_LIMIT: Final = 10_000
MAX_LIMIT: Final = 100_000
#: Default and maximum rows of :func:`top_errors`.
DEFAULT_TOP_ERRORS: Final = 20
MAX_TOP_ERRORS: Final = 1_000
#: Filters compare against VARCHAR(100) columns; longer values can match nothing.
_MAX_FILTER_LEN: Final = 200

_UTC = _dt.UTC
_DAY = _dt.timedelta(days=1)
_HOUR = _dt.timedelta(hours=1)

# ----------------------------------------------------------------------- validation


def _as_utc(value: object, name: str) -> _dt.datetime:
    """``value`` as an aware UTC datetime inside ``[EARLIEST, LATEST]`` (``read.window``:
    the one pair of bounds the API and the library share)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise QueryError(
                f"{name} must be timezone-aware (the aggregates are bucketed in UTC), "
                f"got naive {value.isoformat()}"
            )
        try:
            out = value.astimezone(_UTC)
        except OverflowError as err:  # datetime.min/max with an offset
            raise QueryError(f"{name} {value.isoformat()} is out of range") from err
    elif isinstance(value, _dt.date):
        out = _dt.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    else:
        raise QueryError(f"{name} must be a date or a timezone-aware datetime, got {value!r}")
    if not EARLIEST <= out <= LATEST:
        raise QueryError(
            f"{name} {out.isoformat()} is outside the accepted window "
            f"[{EARLIEST.date().isoformat()}, {LATEST.date().isoformat()}]"
        )
    return out


def _range(
    start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime, maximum: _dt.timedelta
) -> tuple[_dt.datetime, _dt.datetime]:
    lo = _as_utc(start, "start")
    hi = _as_utc(end, "end")
    if lo >= hi:
        raise QueryError(f"start ({lo.isoformat()}) must be before end ({hi.isoformat()})")
    if hi - lo > maximum:
        raise QueryError(
            f"range of {_days(hi - lo)} is longer than the maximum of {_days(maximum)} "
            "for this query"
        )
    return lo, hi


def _days(delta: _dt.timedelta) -> str:
    days = delta.total_seconds() / 86_400
    return f"{days:g} days"


def _ceil(value: _dt.datetime, step: _dt.timedelta) -> _dt.datetime:
    """The first bucket start at or after ``value`` (buckets aligned on the UTC epoch)."""
    epoch = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
    n, rem = divmod(value - epoch, step)
    return epoch + (n + (1 if rem else 0)) * step


def _day_series(lo: _dt.datetime, hi: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime] | None:
    """First and last day bucket whose start lies in ``[lo, hi)``, or None if none does."""
    first = _ceil(lo, _DAY)
    last = _ceil(hi, _DAY) - _DAY
    return (first, last) if first <= last else None


def _limit(value: int, default_max: int, name: str = "limit") -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise QueryError(f"{name} must be an integer, got {value!r}")
    if not 1 <= value <= default_max:
        raise QueryError(f"{name} must be between 1 and {default_max}, got {value}")
    return value


def _filter(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_FILTER_LEN:
        raise QueryError(f"{name} must be a non-empty string of at most {_MAX_FILTER_LEN} chars")
    return value


# --------------------------------------------------------------------------- helpers


def _equals(where: list[str], params: _exec.Params, filters: dict[str, str | None]) -> None:
    """Append ``column = $n`` to ``where`` for every filter that is set: values only ever
    travel as bind parameters; the column names are the question module's own constants."""
    for column, value in filters.items():
        if value is not None:
            where.append(f"{column} = {params.add(value)}")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _value(key: object, cap: int | None = None) -> float | None:
    """A precomputed percentile bucket key as milliseconds, never above ``cap``.

    ``cap`` is the row's reported maximum: a bucket's representative can lie up to 1 %
    above every value the bucket holds, and an estimate above the observed maximum
    (a p95 of 376.21 ms next to a max of 374) is wrong on its face. Capping keeps the
    error bound: the true quantile is at most the maximum, so the capped estimate is
    nearer to it.
    """
    if key is None:
        return None
    value = _histogram.representative(int(key))  # type: ignore[call-overload]
    return value if cap is None or value <= cap else float(cap)


def _capped(value: float | None, cap: int | None) -> float | None:
    """``value`` no larger than ``cap`` (see :func:`_value`)."""
    return value if value is None or cap is None or value <= cap else float(cap)


def _max_ms(value: object) -> int | None:
    return None if value is None else round(value)  # type: ignore[call-overload]


async def _fetch_days(
    db: Any,
    question: str,
    sql: str,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    max_range: _dt.timedelta,
) -> list[asyncpg.Record]:
    """Rows of a one-row-per-day statement over the validated range ``[start, end)``
    (``$1``/``$2``: the first and last day bucket)."""
    lo, hi = _range(start, end, max_range)
    days = _day_series(lo, hi)
    if days is None:
        return []
    return await _exec.fetch(db, question, sql, *days)


def daily_sums_sql(table: str, columns: tuple[str, ...]) -> str:
    """One row per day of ``[$1, $2]`` with each of ``columns`` of ``table`` summed (zeros
    where the day has no row): the shape of every "counts per day" question."""
    sums = ", ".join(f"coalesce(sum(t.{c}), 0)::bigint AS {c}" for c in columns)
    return f"""
WITH days AS (
    SELECT d AS day FROM generate_series($1::timestamptz, $2::timestamptz, interval '24 hours') d
)
SELECT days.day, {sums}
FROM days LEFT JOIN {table} t ON t.day = days.day
GROUP BY days.day
ORDER BY days.day
"""


def _dt_or_none(value: object) -> _dt.datetime | None:
    return value if isinstance(value, _dt.datetime) else None


def build_rows(make: Callable[..., _T], records: Iterable[Any]) -> list[_T]:
    """``[make(*r) for r in records]`` with the cyclic garbage collector paused.

    Why: a long series allocates one tracked object per row (100,000 for an hourly
    endpoint series) and every 700 allocations trigger a collection that walks the
    young objects, the records and rows built so far among them: measured on the
    benchmark machine, 126-160 ms of building 100,000 rows became 53-71 ms with the
    collector paused. Rows hold no reference cycles, so nothing is left for it to
    find; the loop is synchronous (no other coroutine runs meanwhile), and the
    collector is re-enabled at once if it was enabled.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [make(*r) for r in records]
    finally:
        if enabled:
            gc.enable()


_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


def epoch_sql(column: str) -> str:
    """A bucket column sent as whole seconds since the epoch (``bigint``), for
    :func:`fast_rows` ``epoch=``: asyncpg builds a ``datetime`` for every
    ``timestamptz`` it decodes (measured: ~1 µs each, a third of the decoding of a
    100,000-row series), while a series has few distinct buckets (2,184 hours in 91
    days). Buckets are whole hours or days, so the seconds are exact."""
    return f"extract(epoch FROM {column})::bigint"


@functools.lru_cache(maxsize=1 << 16)
def from_epoch(seconds: int) -> _dt.datetime:
    """The UTC ``datetime`` of :func:`epoch_sql`'s seconds: the one asyncpg would have
    decoded, built once per distinct bucket (bounded cache)."""
    return _EPOCH + _dt.timedelta(seconds=seconds)


def fast_rows(cls: type[_T], *, epoch: str | None = None) -> Callable[..., _T]:
    """A positional constructor (fields in declaration order) for the frozen, slotted
    row dataclass ``cls``, about ten times cheaper than ``cls(**fields)``.

    Why: a frozen dataclass's ``__init__`` stores each field with a call to
    ``object.__setattr__``; a long series builds tens of thousands of rows per request,
    and that was the largest single cost of answering it (measured: 4.7 µs of a 14-field
    row on the shared benchmark machine). Here a private class with the same
    ``__slots__`` stores the fields with plain attribute stores, then hands the object
    to ``cls`` by ``__class__`` assignment (allowed: the layouts are identical). The
    result is an ordinary instance of ``cls``: equal, hashable, frozen and printed the
    same as one built by ``cls(...)`` (tests/unit check it).

    ``epoch``: the name of a field passed as :func:`epoch_sql` seconds and stored as
    its :func:`from_epoch` datetime.
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    slots = getattr(cls, "__slots__", None)
    if tuple(slots or ()) != tuple(names):
        raise TypeError(f"{cls.__name__} must be a slots dataclass")  # pragma: no cover
    params = ", ".join(names)
    body = "".join(f"    o.{n} = _ts({n})\n" if n == epoch else f"    o.{n} = {n}\n" for n in names)
    src = (
        f"def make({params}):\n    o = _Twin.__new__(_Twin)\n{body}"
        "    o.__class__ = _cls\n    return o\n"
    )
    twin = type(f"_{cls.__name__}Builder", (), {"__slots__": tuple(names)})
    namespace: dict[str, Any] = {"_Twin": twin, "_cls": cls, "_ts": from_epoch}
    exec(src, namespace)  # noqa: S102 - the source is built from the class's own field names
    make: Callable[..., _T] = namespace["make"]
    return make
