"""``/v1/funnel`` and ``/v1/retention``: the funnel and cohort questions of
``read/funnels.py`` and ``read/retention.py`` (their definitions are the contract).

Declared the one way every route module declares them (``_routing.py``).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
from collections.abc import Iterator
from typing import Annotated, Final, Literal

from fastapi import Query
from fastapi.responses import Response

from .._errors import QueryError
from ..read import _raw, funnels, retention
from ..read.filters import parse_filter
from ._csv import csv_response, rows_chunk
from ._deps import Pool
from ._params import CsvFormat, End, Start, resolve, text
from ._responses import json_response
from ._routing import get, v1_router

__all__ = ["router"]

router = v1_router()

_HORIZON = (
    "Both read raw events, which are kept for 90 days: a range starting earlier is a 400 "
    "(an answer there would silently miss the users whose events were dropped)."
)
_Top = Annotated[
    int,
    Query(
        ge=1,
        le=_raw.MAX_TOP,
        description="Breakdown values kept (ranked by users); the rest are one group with "
        "`other` true.",
    ),
]


#: The CSV columns of ``/v1/funnel``: one row per step of all users (``total`` true,
#: no group) and, with a breakdown, per step of each group (``group`` its value).
FUNNEL_CSV: Final = (
    "total", "group", "other", "step", "event_type", "users", "conversion_from_previous",
    "conversion_from_first", "median_seconds_from_previous", "p95_seconds_from_previous",
)  # fmt: skip
#: The CSV columns of ``/v1/retention``: one row per cohort and period ``k`` (0: the
#: cohort itself), of all users (``total`` true) and of each group of the breakdown;
#: ``fraction`` is ``returned / size``.
RETENTION_CSV: Final = (
    "total", "group", "other", "period_start", "size", "k", "returned", "fraction",
)  # fmt: skip


@get(
    router,
    "/funnel",
    model=funnels.FunnelResult,
    csv=True,
    note=f"Ranges up to {funnels.MAX_RANGE.days} days. {_HORIZON} A bad step, window, "
    "filter or breakdown is a 400 that says which and why. With `format=csv`: one row "
    "per step, of all users (`total` true) and of each breakdown group (`group`, "
    f"`other`), columns {', '.join(f'`{c}`' for c in FUNNEL_CSV)}.",
)
async def funnel(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    steps: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1100,
            description=f"{funnels.MIN_STEPS}-{funnels.MAX_STEPS} event types, "
            "comma-separated, in order (`task_created,task_started,task_completed`); a "
            "type may repeat.",
        ),
    ],
    start: Start = None,
    end: End = None,
    within: Annotated[
        str,
        Query(
            max_length=12,
            description="Conversion window from the entry to the last step reached: a "
            "whole number of `s`, `m`, `h`, `d` or `w` (`7d`), at most "
            f"{funnels.MAX_WITHIN.days} days.",
        ),
    ] = "14d",
    step_filter: Annotated[
        list[str] | None,
        Query(
            max_length=50,
            description="Repeatable, all of a step's must hold: `<step number>:field:op:"
            "value` (`2:amount_cents:gt:100`), the filter syntax of `/v1/explore` after "
            "the step number (1 is the entry step).",
        ),
    ] = None,
    breakdown: Annotated[
        str | None,
        Query(
            max_length=105,
            description="`service` or any field of the entering event (as in `/v1/explore`"
            "): each user counts in the group of their earliest deepest entry.",
        ),
    ] = None,
    top: _Top = _raw.DEFAULT_TOP,
    fmt: CsvFormat = "json",
) -> Response:
    """Of the users who did the first step in the range, how many went on to each next
    step, in order, within the window: per step the users (each counted once, at the
    deepest step any of their entries reached), the conversion from the previous and the
    first step, and the median and p95 seconds from the previous step (along the
    earliest path of each user's earliest deepest entry; exact nearest rank)."""
    lo, hi = resolve(start, end)
    names = [s.strip() for s in (text(steps, "steps") or "").split(",")]
    filters: dict[int, list[str]] = {}
    for raw in step_filter or []:
        number, sep, rest = (text(raw, "step_filter") or "").partition(":")
        if not sep or not number.isdigit() or not 1 <= int(number) <= len(names):
            raise QueryError(
                f"step_filter {raw!r}: expected <step number 1-{len(names)}>:field:op:value"
            )
        filters.setdefault(int(number), []).append(rest)
    result = await funnels.funnel(
        db,
        start=lo,
        end=hi,
        steps=[
            funnels.Step(name, tuple(parse_filter(f) for f in filters.get(i, [])))
            for i, name in enumerate(names, 1)
        ],
        within=within,
        breakdown=text(breakdown, "breakdown"),
        top=top,
    )
    if fmt == "csv":
        return await csv_response(rows_chunk(FUNNEL_CSV, _funnel_rows(result)), filename="funnel")
    return json_response(result)


@get(
    router,
    "/retention",
    model=retention.RetentionResult,
    csv=True,
    note=f"Ranges up to {retention.MAX_RANGE.days} days. {_HORIZON} With `format=csv`: "
    "one row per cohort and period `k` (0: the cohort), of all users (`total` true) and "
    "of each breakdown group, columns "
    f"{', '.join(f'`{c}`' for c in RETENTION_CSV)} (`fraction`: `returned / size`).",
)
async def cohorts(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    cohort_event: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            description="The event type whose first occurrence in the range puts a user "
            "in the cohort of its period.",
        ),
    ],
    return_event: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="The event type that counts as coming back (default: any event).",
        ),
    ] = None,
    period: Annotated[
        Literal["day", "week", "month"],
        Query(description="UTC days, weeks starting Monday, or calendar months."),
    ] = "week",
    periods: Annotated[
        int | None,
        Query(
            ge=1,
            le=retention.MAX_PERIODS,
            description="Periods followed after each cohort (default: as many as the range "
            "has); periods that have not begun are omitted.",
        ),
    ] = None,
    start: Start = None,
    end: End = None,
    breakdown: Annotated[
        Literal["service"] | None,
        Query(description="`service`: cohorts per service of the cohort event."),
    ] = None,
    top: _Top = _raw.DEFAULT_TOP,
    fmt: CsvFormat = "json",
) -> Response:
    """Cohorts by the period of each user's first `cohort_event` in the range:
    `returned[0]` is the cohort's size, `returned[k]` how many of its users did
    `return_event` (any event by default) in the k-th period after."""
    lo, hi = resolve(start, end)
    result = await retention.retention(
        db,
        start=lo,
        end=hi,
        cohort_event=text(cohort_event, "cohort_event") or "",
        return_event=text(return_event, "return_event"),
        period=period,
        periods=periods,
        breakdown=breakdown,
        top=top,
    )
    if fmt == "csv":
        return await csv_response(
            rows_chunk(RETENTION_CSV, _retention_rows(result)), filename="retention"
        )
    return json_response(result)


def _funnel_rows(result: funnels.FunnelResult) -> Iterator[tuple[object, ...]]:
    """The rows of :data:`FUNNEL_CSV`: all users' steps, then each group's."""
    parts: list[tuple[bool, str | None, bool, list[funnels.FunnelStep]]]
    parts = [(True, None, False, result.steps)]
    parts += [(False, g.value, g.other, g.steps) for g in result.groups or []]
    for total, value, other, steps in parts:
        for number, s in enumerate(steps, 1):
            yield (
                total, value, other, number, s.event_type, s.users,
                s.conversion_from_previous, s.conversion_from_first,
                s.median_seconds_from_previous, s.p95_seconds_from_previous,
            )  # fmt: skip


def _retention_rows(result: retention.RetentionResult) -> Iterator[tuple[object, ...]]:
    """The rows of :data:`RETENTION_CSV`: all users' cohorts, then each group's."""
    parts: list[tuple[bool, str | None, bool, list[retention.Cohort]]]
    parts = [(True, None, False, result.cohorts)]
    parts += [(False, g.value, g.other, g.cohorts) for g in result.groups or []]
    for total, value, other, cohorts in parts:
        for c in cohorts:
            for k, n in enumerate(c.returned):
                fraction = n / c.size if c.size else None
                yield (total, value, other, c.period_start, c.size, k, n, fraction)
