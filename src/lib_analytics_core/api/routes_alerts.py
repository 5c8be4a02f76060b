"""``/v1/alerts`` (alert states and their history) and ``/v1/slos`` (attainment and
remaining error budget of each SLO), from the tables ``analytics-alerts`` writes
(``alerts/status.py``; docs/alerts.md).

Declared the one way every route module declares them (``_routing.py``).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from ..alerts import status
from ._deps import Pool
from ._params import text
from ._responses import json_response
from ._routing import get, v1_router

__all__ = ["router"]

router = v1_router()


@get(router, "/alerts", model=status.AlertsStatus)
async def alerts(
    db: Pool,
    rule: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Only this rule's state and history."),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=status.MAX_HISTORY, description="Changes of the history, newest first."),
    ] = status.DEFAULT_HISTORY,
) -> Response:
    """Every alert rule's current state (ok, or firing as page or ticket, since when, its
    burn rates or measured value, as of the evaluator's last run) and the history of
    changes, newest first, each with its webhook deliveries (delivered, pending, failed)."""
    return json_response(await status.alerts_status(db, rule=text(rule, "rule"), limit=limit))


@get(router, "/slos", model=list[status.SloStatus])
async def slos(db: Pool) -> Response:
    """Each SLO's attainment and remaining error budget over its window (ending at the
    evaluator's last run), with its alert state and burn rates."""
    return json_response(await status.slo_status(db))
