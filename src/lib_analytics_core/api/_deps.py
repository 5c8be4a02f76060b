"""The API's dependencies: the database and the bearer token, from the app's state.

Routes live at module level (``routes_v1.py``, ``routes_ops.py``, and any router a
later module adds) and get what they need through these, so ``create_app`` only
assembles: it puts the :class:`ReadOnlyDatabase` and the token on ``app.state`` and
includes the routers. A router for ``/v1`` declares
``dependencies=[Depends(require_token)]`` and its routes take a :data:`Pool`.
Every dependency is ``async``: none may run in the thread pool.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
import hmac
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .._errors import AnalyticsError
from ._database import ReadOnlyDatabase

__all__ = ["Database", "Pool", "Unauthorized", "database", "pool", "require_token"]

_bearer = HTTPBearer(auto_error=False, description="The value of ANALYTICS_API_TOKEN.")


class Unauthorized(AnalyticsError):
    """Raised by :func:`require_token`; the app turns it into a 401 with WWW-Authenticate."""


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The request carries ``Authorization: Bearer <the app's token>`` (constant time)."""
    expected: bytes = request.app.state.token
    if (
        credentials is None
        or credentials.scheme.lower() != "bearer"
        or not hmac.compare_digest(credentials.credentials.encode(), expected)
    ):
        raise Unauthorized


async def database(request: Request) -> ReadOnlyDatabase:
    """The app's read-only database (created by ``create_app``).

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in
    anyio's thread pool, a thread hop and two GIL hand-offs on every request (and on
    ``/healthz``), which the load profile showed as a tenth of the server's CPU and as
    ``/healthz`` waiting behind the busy event loop (issue 20, ``tests/test_api_serving.py``).
    """
    db: ReadOnlyDatabase = request.app.state.db
    return db


Database = Annotated[ReadOnlyDatabase, Depends(database)]


async def pool(db: Database) -> Any:  # asyncpg.Pool: not subscriptable at runtime
    """The read-only pool, created on first use (503 while the database is down)."""
    return await db.pool()


#: A route parameter receiving the pool (asyncpg's Pool is not subscriptable at runtime).
Pool = Annotated[asyncpg.Pool, Depends(pool)]
