"""``/v1/users/{user_id}``: one user's summary, and their events newest first
(``read/users.py``). A user with no stored events (never seen, or erased with
``forget-user``) is a 404.

Declared the one way every route module declares them (``_routing.py``).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
from typing import Annotated, Any, Final

from fastapi import Path, Query
from fastapi.responses import JSONResponse, Response

from .._http_errors import error_body
from ..read import users
from ._deps import Pool
from ._params import ErrorBody, Text, text
from ._responses import json_response
from ._routing import get, v1_router

__all__ = ["router"]

router = v1_router()

_NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ErrorBody, "description": "No stored events of this user (or erased)."}
}
_UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The user's id (a UUID). Erased users have no events: 404.",
    ),
]


def _not_found() -> Response:
    return JSONResponse(error_body("not_found", "no events stored for this user"), status_code=404)


@get(router, "/users/{user_id}", model=users.UserSummary, responses=_NOT_FOUND)
async def user_summary(db: Pool, user_id: _UserId) -> Response:
    """When the user was first and last seen, and their events per type (raw events:
    the last 90 days)."""
    summary = await users.user_summary(db, user_id=text(user_id, "user_id") or "")
    if summary.first_seen is None:
        return _not_found()
    return json_response(summary)


@get(router, "/users/{user_id}/events", model=users.TimelinePage, responses=_NOT_FOUND)
async def user_events(
    db: Pool,
    user_id: _UserId,
    before: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=80,
            description="Continue after this cursor (`next_before` of the previous page), "
            "or start strictly before this ISO 8601 date-time.",
        ),
    ] = None,
    event_type: Text = None,
    limit: Annotated[int, Query(ge=1, le=users.MAX_PAGE)] = users.DEFAULT_PAGE,
) -> Response:
    """The user's events newest first, `limit` per page; `next_before` of the answer
    continues it (null on the last page). Events whose type is registered in the API
    process are decoded as that class (`typed` true); others are shown as stored."""
    page = await users.user_timeline(
        db,
        user_id=text(user_id, "user_id") or "",
        before=text(before, "before"),
        event_type=text(event_type, "event_type"),
        limit=limit,
    )
    if not page.events and before is None and event_type is None:
        return _not_found()
    return json_response(page)
