"""The questions the dashboards ask, under the names users import them by.

Before issue 25 this module answered eight questions itself; each now lives in the module
of its family (:mod:`.activity`, :mod:`.tasks`, :mod:`.latency`, :mod:`.integrations`,
:mod:`.auth`, :mod:`.cocoons`, :mod:`.errors`, :mod:`.catalog`), and this module
re-exports them so every ``from lib_analytics_core.read.queries import ...`` keeps
working. New code imports from the family module.

Conventions shared by every question (``read/__init__``'s docstring has them all):

* one signature: ``question(db, *, start, end, **filters)``; ``db`` is an asyncpg pool
  or connection (a read-only role is enough);
* ``start``/``end`` are a half-open range ``[start, end)``. A ``date`` means midnight
  UTC of that day; a ``datetime`` must be timezone-aware. A bucket belongs to the range
  when its *start* does. Dates lie in ``[EARLIEST, LATEST]`` (``read.window``);
* daily series return one row per day of the range, zeros included;
* percentiles of the aggregates are within 1 % of the exact nearest-rank value
  (:mod:`.histogram`);
* bad parameters raise :class:`QueryError` before any SQL runs; driver errors become
  :class:`DatabaseError` / :class:`DatabaseUnavailableError` (``read._exec``).
"""

from __future__ import annotations

from ._common import (
    DEFAULT_LIMIT,
    DEFAULT_TOP_ERRORS,
    MAX_ACTIVE_USERS_RANGE,
    MAX_DAILY_RANGE,
    MAX_HOURLY_RANGE,
    MAX_LIMIT,
    MAX_TOP_ERRORS,
)
from .activity import ActiveUsersRow, active_users
from .auth import AuthMetricsRow, auth_metrics
from .catalog import list_services
from .cocoons import CocoonActivityRow, cocoon_activity
from .errors import ErrorRow, TopErrorRow, errors, top_errors
from .integrations import IntegrationHealthRow, integration_health
from .latency import ApiLatencyRow, Granularity, LatencyGroupBy, api_latency
from .tasks import TaskStatsRow, task_stats
from .window import EARLIEST, LATEST

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_TOP_ERRORS",
    "EARLIEST",
    "LATEST",
    "MAX_ACTIVE_USERS_RANGE",
    "MAX_DAILY_RANGE",
    "MAX_HOURLY_RANGE",
    "MAX_LIMIT",
    "MAX_TOP_ERRORS",
    "ActiveUsersRow",
    "ApiLatencyRow",
    "AuthMetricsRow",
    "CocoonActivityRow",
    "ErrorRow",
    "Granularity",
    "IntegrationHealthRow",
    "LatencyGroupBy",
    "TaskStatsRow",
    "TopErrorRow",
    "active_users",
    "api_latency",
    "auth_metrics",
    "cocoon_activity",
    "errors",
    "integration_health",
    "list_services",
    "task_stats",
    "top_errors",
]
