"""``/v1/explore``: any measure of any event type, filtered and grouped (``read/explore.py``),
and ``/v1/events/fields``: what an event type's rows carry (for the explore view's pickers).

Declared the one way every route module declares them (``_routing.py``).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response

from ..read import _common as limits
from ..read import catalog, explore
from ._csv import csv_response, iso, rows_chunk
from ._deps import Pool
from ._params import CsvFormat, End, Since, Start, bounded, resolve, text
from ._responses import json_response
from ._routing import get, v1_router

__all__ = ["router"]

router = v1_router()

_EventType = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        description="The stored event type (`invoice_paid`): any, custom ones included.",
    ),
]


@get(
    router,
    "/explore",
    model=explore.ExploreResult,
    csv=True,
    note=f"Ranges up to {limits.MAX_HOURLY_RANGE.days} days with `granularity=hour`, "
    f"{limits.MAX_DAILY_RANGE.days} days otherwise; longer is a 400. A bad field name, "
    "operator, value or measure is a 400 that says which and why.",
)
async def explore_events(  # noqa: PLR0917 - FastAPI query parameters
    db: Pool,
    event_type: _EventType,
    start: Start = None,
    end: End = None,
    granularity: Annotated[
        Literal["hour", "day", "total"],
        Query(description="Buckets of one hour or day (UTC), or one row per group."),
    ] = "day",
    measure: Annotated[
        list[str] | None,
        Query(
            max_length=explore.MAX_MEASURES,
            description="Repeatable, 1-6: `count`, `users` (distinct user ids), or "
            "`sum|avg|min|max|p50|p95|p99:<numeric field>` (`p95:duration_ms`). "
            "Percentiles are exact (nearest rank). Default: `count`.",
        ),
    ] = None,
    filter_: Annotated[
        list[str] | None,
        Query(
            alias="filter",
            max_length=50,
            description="Repeatable, all must hold: `field:op:value` with op `eq`, `ne`, "
            "`in` (values comma-separated), `lt`, `gt` (numbers), `is_null`, `is_not_null` "
            "(no value). Fields: any event field, `service`, `user_id`, `host`, `release`, "
            "`environment` (`data.<name>` for an event field named like those).",
        ),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        Query(
            max_length=explore.MAX_GROUP_BY,
            description="Repeatable, at most 2: any field (as in `filter`). The `top` "
            "values by rows keep their name, the rest are one group with `other` true.",
        ),
    ] = None,
    top: Annotated[
        int, Query(ge=1, le=explore.MAX_TOP, description="Values kept per group-by.")
    ] = explore.DEFAULT_TOP,
    compare: Annotated[
        bool,
        Query(description="Also the previous period of equal length (`previous_rows`)."),
    ] = False,
    fmt: CsvFormat = "json",
) -> Response:
    """Any measure of any event type over a range: filtered by any field, grouped by up
    to two, per hour, day or the whole range, optionally beside the previous period."""
    lo, hi = resolve(start, end)
    result = await explore.explore(
        db,
        start=lo,
        end=hi,
        event_type=text(event_type, "event_type") or "",
        measures=[text(m, "measure") or "" for m in measure or ["count"]],
        filters=[text(f, "filter") or "" for f in filter_ or []],
        group_by=[text(g, "group_by") or "" for g in group_by or []],
        granularity=granularity,
        top=top,
        compare=compare,
    )
    if fmt == "csv":
        return await csv_response(
            rows_chunk(_columns(result), _csv_rows(result)), filename="explore"
        )
    return json_response(result)


def _columns(result: explore.ExploreResult) -> list[str]:
    groups = [f"{g}" for g in result.group_by]
    others = [f"{g} (other)" for g in result.group_by]
    return ["period", "bucket", *groups, *others, *result.measures]


def _csv_rows(result: explore.ExploreResult) -> Iterator[tuple[object, ...]]:
    for period, rows in (("current", result.rows), ("previous", result.previous_rows or [])):
        for r in rows:
            yield (
                period,
                None if r.bucket is None else iso(r.bucket),
                *r.group,
                *("true" if o else "false" for o in r.other),
                *r.values,
            )


@get(router, "/events/fields", model=list[catalog.EventField])
async def event_fields(db: Pool, event_type: _EventType, since: Since = None) -> Response:
    """The top-level fields of an event type's newest 1,000 rows (since `since`), with
    their JSON types and how many of those rows carry each: what explore can filter,
    group and measure by (`service`, `user_id`, `host`, `release` and `environment` always
    exist)."""
    fields = await catalog.event_fields(
        db, event_type=text(event_type, "event_type") or "", since=bounded(since, "since")
    )
    return json_response(fields)
