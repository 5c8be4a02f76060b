"""Funnels: how many users who do S1 go on to do S2, ..., Sk, exactly, from raw events.

The definition (issue 26; ``docs/api.md`` and the tests' reference implementation,
``tests/_funnel_reference.py``, say the same):

* steps S1...Sk (2 <= k <= 10), each an event type with optional field filters
  (:mod:`.filters`, the syntax of ``/v1/explore``), a range ``[start, end)`` and a
  conversion window W (default 14 days);
* a user **enters** with an S1 event whose timestamp is in the range; the user
  **reaches step j** when there are events e1...ej of S1...Sj with t(e1) in the range,
  t(e1) < t(e2) < ... < t(ej) (strictly: events at the same instant never follow one
  another; later steps may fall after ``end``) and t(ej) - t(e1) <= W;
* each user counts once, at the deepest step any of their entries reaches (``users`` of
  step j: the users whose deepest step is j or deeper);
* the time from the previous step is measured along the **earliest path** (each step
  the first matching event after the previous one) of the user's **earliest deepest
  entry** (the first entry that reaches their deepest step); median and p95 are exact
  nearest-rank values over the users at that step (``percentile_disc``, as explore);
* a **breakdown** by ``service`` or any field (:func:`.filters.dimension`) takes the
  value of that entry event; the ``top`` values by entered users keep their name, every
  other value is one group with ``other`` true.

How it is computed: one statement over the raw rows of the step types in
``[start, end + W)`` of the users who entered (index on ``event_type, "timestamp"``;
segment-by ``event_type`` in compressed chunks), in one ordered pass per user: a stack of
k-1 window functions over one sort by time descending (no join, no recursion, linear in
the rows read). For a row of step j and each later step m, ``r{j}_{m}`` is the earliest
time a chain from that row reaches step m: the minimum of the strictly later rows' of
step j+1 (a frame that only grows). For an entry, ``r1_2 ... r1_k`` is then exactly its
earliest path (each step the first matching event after the previous one makes every
step as early as it can be), and its depth is how many of them lie within W of it (an
entry that cannot reach step m that way cannot reach it at all: a later step only leaves
less of W). The deepest entries' earliest one is the user's.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .._errors import QueryError
from ..schema.facts import EVENTS_TABLE
from . import _exec
from ._common import _filter, _range
from ._raw import DEFAULT_TOP, check_raw_horizon, top_n, tops_sql
from .filters import Filter, dimension, parse_filter, text_sql, where_sql

__all__ = [
    "DEFAULT_WITHIN",
    "MAX_RANGE",
    "MAX_STEPS",
    "MAX_WITHIN",
    "MIN_STEPS",
    "FunnelGroup",
    "FunnelResult",
    "FunnelStep",
    "Step",
    "funnel",
    "parse_within",
]

MIN_STEPS: Final = 2
MAX_STEPS: Final = 10
#: The conversion window when none is given, and the longest accepted.
DEFAULT_WITHIN: Final = _dt.timedelta(days=14)
MAX_WITHIN: Final = _dt.timedelta(days=90)
#: Longest range of entries: what raw retention keeps (older starts are refused anyway).
MAX_RANGE: Final = _dt.timedelta(days=92)
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_WITHIN = re.compile(r"^([1-9][0-9]{0,6})([smhdw])$")


@dataclass(frozen=True, slots=True)
class Step:
    """One step: an event type, and the filters its events must also match."""

    event_type: str
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """One step's answer. Conversions are fractions (0.25), None where the denominator
    is 0; the times are seconds from the previous step (None for the first step and
    where nobody reached the step)."""

    event_type: str
    users: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    median_seconds_from_previous: float | None
    p95_seconds_from_previous: float | None


@dataclass(frozen=True, slots=True)
class FunnelGroup:
    """The funnel of the users whose entry event has breakdown ``value`` (None: the field
    is absent or null), or, with ``other``, of every value outside the top ones."""

    value: str | None
    other: bool
    steps: list[FunnelStep]


@dataclass(frozen=True, slots=True)
class FunnelResult:
    """The funnel over ``[start, end)`` with window ``within_seconds``; ``groups`` when a
    breakdown was asked (ranked by entered users, "other" last)."""

    start: _dt.datetime
    end: _dt.datetime
    within_seconds: float
    steps: list[FunnelStep]
    breakdown: str | None = None
    groups: list[FunnelGroup] | None = None


def parse_within(value: str | _dt.timedelta) -> _dt.timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"`` (or a timedelta) as a window in
    ``(0, MAX_WITHIN]``, else :class:`QueryError`."""
    if isinstance(value, str):
        m = _WITHIN.match(value)
        if m is None:
            raise QueryError(
                f"within must be a positive whole number of s, m, h, d or w (7d), got {value!r}"
            )
        value = _dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if not isinstance(value, _dt.timedelta) or not _dt.timedelta(0) < value <= MAX_WITHIN:
        raise QueryError(f"within must be between 1 second and {MAX_WITHIN.days} days")
    return value


def _steps(steps: Sequence[str | Step]) -> list[Step]:
    if isinstance(steps, str) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise QueryError(f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps")
    out: list[Step] = []
    for i, s in enumerate(steps, 1):
        step = s if isinstance(s, Step) else Step(s)
        etype = _filter(step.event_type, f"step {i}'s event type")
        fs = tuple(f if isinstance(f, Filter) else parse_filter(f) for f in step.filters)
        out.append(Step(etype or "", fs))
    return out


async def funnel(
    db: _exec.Db,
    *,
    start: _dt.date | _dt.datetime,
    end: _dt.date | _dt.datetime,
    steps: Sequence[str | Step],
    within: str | _dt.timedelta = DEFAULT_WITHIN,
    breakdown: str | None = None,
    top: int = DEFAULT_TOP,
) -> FunnelResult:
    """The funnel of ``steps`` (event types, or :class:`Step` with filters) entered in
    ``[start, end)`` within ``within`` (module docstring), optionally by ``breakdown``."""
    lo, hi = _range(start, end, MAX_RANGE)
    check_raw_horizon(lo, "funnels")
    ss = _steps(steps)
    w = parse_within(within)
    if breakdown is not None:
        dimension(breakdown)
        top = top_n(top)
    sql, params = _sql(ss, lo, hi, w, breakdown, top)
    records = await _exec.fetch(db, "funnels.funnel", sql, *params.values, heavy=True)
    overall: list[FunnelStep] = []
    groups: list[FunnelGroup] = []
    for r in records:
        answer = _answer(ss, r)
        if r["total"]:
            overall = answer
        else:
            groups.append(FunnelGroup(r["g"], bool(r["o"]), answer))
    if not overall:
        overall = _answer(ss, None)
    groups.sort(key=lambda g: (g.other, -g.steps[0].users, _key(g.value)))
    return FunnelResult(
        start=lo,
        end=hi,
        within_seconds=w.total_seconds(),
        steps=overall,
        breakdown=breakdown,
        groups=groups if breakdown is not None else None,
    )


def _key(value: str | None) -> tuple[int, bytes]:
    return (0, b"") if value is None else (1, value.encode("utf-8", "surrogatepass"))


def _answer(ss: list[Step], r: object) -> list[FunnelStep]:
    out: list[FunnelStep] = []
    first = prev = 0
    for j, step in enumerate(ss, 1):
        users = 0 if r is None else int(r[f"n{j}"])  # type: ignore[index]
        q = None if r is None or j == 1 else r[f"p{j}"]  # type: ignore[index]
        if j == 1:
            first = users
        out.append(
            FunnelStep(
                event_type=step.event_type,
                users=users,
                conversion_from_previous=None if j == 1 or not prev else users / prev,
                conversion_from_first=users / first if first else None,
                median_seconds_from_previous=None if q is None else float(q[0]),
                p95_seconds_from_previous=None if q is None else float(q[1]),
            )
        )
        prev = users
    return out


_AFTER: Final = "RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL '1 microsecond' PRECEDING"


def _sql(  # noqa: PLR0917 - one statement's parts
    ss: list[Step],
    lo: _dt.datetime,
    hi: _dt.datetime,
    w: _dt.timedelta,
    breakdown: str | None,
    top: int,
) -> tuple[str, _exec.Params]:
    """The statement (module docstring): rows, the backward pass, each entry's depth,
    each user's earliest deepest entry, the answer per group."""
    k = len(ss)
    types = sorted({s.event_type for s in ss})
    params = _exec.Params(lo, hi, hi + w, w, types, ss[0].event_type)
    flags: list[str] = []
    for j, s in enumerate(ss, 1):
        conds = [f"event_type = {params.add(s.event_type)}", *where_sql(s.filters, params)]
        if j == 1:
            conds.append('"timestamp" < $2')
        flags.append(f"coalesce({' AND '.join(conds)}, false)")
    group = (
        f"CASE WHEN {flags[0]} THEN {text_sql(breakdown, params)} END"
        if breakdown is not None
        else "NULL::text"
    )
    # the raw rows: one user's events of the step types, entries in range, the rest
    # until end + W (a chain's last step is at most W after its entry)
    sql = (
        'SELECT e.user_id AS u, e."timestamp" AS ts,'
        f" {'e.event_id' if breakdown is not None else 'NULL::uuid'} AS eid,"
        f" {', '.join(f'{c} AS f{j}' for j, c in enumerate(flags, 1))}, {group} AS g"
        f" FROM {EVENTS_TABLE} AS e"
        # only users who entered (their S1 rows in range, read twice: a hash join), and
        # of theirs only the rows from their first entry to W after their last: no
        # chain starts before an entry or ends later than W after one
        # (its columns named so that no filter's unqualified column can mean them)
        f' JOIN (SELECT user_id AS entered_user, min("timestamp") AS entered_lo,'
        f' max("timestamp") + $4::interval AS entered_hi'
        f" FROM {EVENTS_TABLE} WHERE event_type = $6"
        f' AND "timestamp" >= $1 AND "timestamp" < $2 AND user_id IS NOT NULL'
        f" AND {flags[0]} GROUP BY user_id) AS entered ON entered_user = e.user_id"
        f' WHERE e.event_type = ANY($5::text[]) AND e."timestamp" >= $1 AND e."timestamp" < $3'
        ' AND e."timestamp" >= entered_lo AND e."timestamp" <= entered_hi'
    )
    sql = f"SELECT * FROM ({sql}) AS r WHERE {' OR '.join(f'f{j}' for j in range(1, k + 1))}"
    # backward, by time descending: r{j}_{m} = for a row of step j, the earliest time a
    # chain from it reaches step m (the minimum over strictly later rows of step j+1)
    after = f"PARTITION BY u ORDER BY ts DESC {_AFTER}"
    for j in range(k - 1, 0, -1):
        earliest = [
            f"CASE WHEN f{j} THEN min("
            + (f"CASE WHEN f{m} THEN ts END" if m == j + 1 else f"r{j + 1}_{m}")
            + f") OVER w END AS r{j}_{m}"
            for m in range(j + 1, k + 1)
        ]
        sql = f"SELECT x.*, {', '.join(earliest)} FROM ({sql}) AS x WINDOW w AS ({after})"
    # each entry's depth: its earliest times are its earliest path, within W or not
    depth = " + ".join(
        ["1", *(f"coalesce(r1_{m} - ts <= $4::interval, false)::int" for m in range(2, k + 1))]
    )
    path = ", ".join(["ts", *(f"r1_{m}" for m in range(2, k + 1))])
    sql = (
        f"SELECT x.*, max(e) OVER (PARTITION BY u) AS d FROM"
        f" (SELECT y.*, {depth} AS e,"
        f" ARRAY[{path}] AS q FROM ({sql}) AS y WHERE f1) AS x"
    )
    # the user's earliest deepest entry: its path and its breakdown value
    pick = "(array_agg(g ORDER BY ts, eid) FILTER (WHERE e = d))[1]"
    users = (
        "SELECT u, max(d) AS d, min(q) FILTER (WHERE e = d) AS best,"
        f" {pick if breakdown is not None else 'NULL::text'} AS g"
        f" FROM ({sql}) AS x GROUP BY u"
    )
    counts = [f"count(*) FILTER (WHERE d >= {j}) AS n{j}" for j in range(1, k + 1)]
    pcts = [
        "percentile_disc(ARRAY[0.5, 0.95]::float8[]) WITHIN GROUP (ORDER BY"
        f" CASE WHEN d >= {j} THEN extract(epoch FROM best[{j}] - best[{j - 1}])::float8 END)"
        f" AS p{j}"
        for j in range(2, k + 1)
    ]
    measures = ", ".join([*counts, *pcts])
    if breakdown is None:
        return (
            f"WITH users AS ({users}) SELECT true AS total, NULL::text AS g, false AS o,"
            f" {measures} FROM users",
            params,
        )
    n = params.add(top)
    return (
        f"""
WITH users AS MATERIALIZED ({users}),
tops AS ({tops_sql("users", "g", n)}),
labelled AS (
    SELECT users.*, CASE WHEN array_position(tops.t, g) IS NOT NULL THEN g END AS lg,
           array_position(tops.t, g) IS NULL AS o
    FROM users, tops
)
SELECT GROUPING(lg, o) = 3 AS total, lg AS g, o, {measures}
FROM labelled GROUP BY GROUPING SETS ((), (lg, o))
""",
        params,
    )
