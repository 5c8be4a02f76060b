"""Threshold rules: a measure of any event type over the last ``over``, through explore.

The measure is explore's (``read/explore.py``: the same rows, filters and exact
definitions the API and dashboard show, so an alert and the chart it links to agree):
``count``, ``distinct_users`` (explore's ``users``), ``sum``/``avg``/``min``/``max``/
``p50``/``p95``/``p99`` of a numeric field (other percentiles, ``p90``, with explore's
definition and filters in one statement of their own), and ``error_rate``: the share of the rows
matching ``error_when`` (default ``status_code > 499``), two explore counts. A window
without rows has count 0 and error rate 0; a percentile of no values is ``None``, which
fires neither ``above`` nor ``below`` (no data is not a breach).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..read import _exec
from ..read.explore import MEASURES as EXPLORE_MEASURES
from ..read.explore import explore
from ..read.filters import number_sql, where_sql
from ..schema.facts import EVENTS_TABLE
from .rules import Threshold, percentile

__all__ = ["breached", "measure"]


def _explore_measure(rule: Threshold) -> str:
    if rule.measure in ("count", "error_rate"):
        return "count"
    if rule.measure == "distinct_users":
        return "users"
    return f"{rule.measure}:{rule.field}"


async def _total(
    conn: Any, rule: Threshold, at: _dt.datetime, extra: tuple[Any, ...] = ()
) -> int | float | None:
    result = await explore(
        conn,
        start=at - rule.over,
        end=at,
        event_type=rule.event_type,
        measures=[_explore_measure(rule)],
        filters=[*rule.filters, *extra],
        granularity="total",
    )
    if not result.rows:
        return 0 if rule.measure in ("count", "distinct_users", "error_rate") else None
    return result.rows[0].values[0]


async def _percentile(conn: Any, rule: Threshold, at: _dt.datetime, q: float) -> float | None:
    """A percentile explore does not offer (``p90``), with explore's definition (exact,
    nearest rank over the rows whose field is a JSON number) and filter language."""
    assert rule.field is not None
    params = _exec.Params(rule.event_type, at - rule.over, at)
    value = number_sql(rule.field, params)
    where = ["event_type = $1", '"timestamp" >= $2', '"timestamp" < $3']
    where += where_sql(rule.filters, params)
    row = await _exec.fetchrow(
        conn,
        "alerts.percentile",
        f"SELECT percentile_disc({params.add(q)}::float8) WITHIN GROUP (ORDER BY {value})"
        f" FROM {EVENTS_TABLE} WHERE {' AND '.join(where)}",
        *params.values,
    )
    return None if row is None or row[0] is None else float(row[0])


async def measure(conn: Any, rule: Threshold, at: _dt.datetime) -> float | None:
    """The rule's measure over ``[at - over, at)``."""
    q = percentile(rule.measure)
    if q is not None and rule.measure not in EXPLORE_MEASURES:
        return await _percentile(conn, rule, at, q)
    value = await _total(conn, rule, at)
    if rule.measure != "error_rate":
        return None if value is None else float(value)
    if not value:
        return 0.0
    assert rule.error_when is not None
    errors = await _total(conn, rule, at, (rule.error_when,))
    return float(errors or 0) / float(value)


def breached(rule: Threshold, value: float | None) -> bool:
    """Strictly above ``above`` or strictly below ``below``; never for no value."""
    if value is None:
        return False
    if rule.above is not None:
        return value > rule.above
    assert rule.below is not None
    return value < rule.below
