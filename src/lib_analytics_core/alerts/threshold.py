"""Threshold rules: a measure of any event type over the last ``over``, through explore.

The measure is explore's (``read/explore.py``: the same rows, filters and exact
definitions the API and dashboard show, so an alert and the chart it links to agree):
``count``, ``distinct_users`` (explore's ``users``), ``sum``/``avg``/``min``/``max``/
``p50``/``p95``/``p99`` of a numeric field, and ``error_rate``: the share of the rows
matching ``error_when`` (default ``status_code > 499``), two explore counts. A window
without rows has count 0 and error rate 0; a percentile of no values is ``None``, which
fires neither ``above`` nor ``below`` (no data is not a breach).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..read.explore import explore
from .rules import Threshold

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


async def measure(conn: Any, rule: Threshold, at: _dt.datetime) -> float | None:
    """The rule's measure over ``[at - over, at)``."""
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
