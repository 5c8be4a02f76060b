"""``/healthz`` and the dashboard page: public, no token, no data.

The static assets are mounted by ``create_app`` (a mount belongs to the app, not to a
router).
"""

# No `from __future__ import annotations`: FastAPI resolves these annotations at runtime.
from importlib.resources import files
from typing import Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from ._deps import Database
from ._responses import Health, json_response

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/healthz",
    response_model=Health,
    tags=["ops"],
    responses={
        503: {
            "model": Health,
            "description": "The database does not answer (`unreachable`) or is not "
            "migrated (`not_migrated`: run analytics-migrate).",
        }
    },
)
async def healthz(db: Database) -> Response:
    """Liveness, database reachability and schema presence (no token needed; reveals no
    data), from the last background probe (``ReadOnlyDatabase.healthy``): no database
    round trip here. A database without the analytics schema is not "ok": every
    ``/v1`` answer would fail."""
    if not await db.healthy():
        return json_response(Health(status="degraded", database="unreachable"), status=503)
    if db.migrated is False:
        return json_response(Health(status="degraded", database="not_migrated"), status=503)
    return json_response(Health(status="ok", database="ok"))


@router.get("/", include_in_schema=False)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_index_html(), headers=PAGE_HEADERS)


#: The page loads only its own scripts; ECharts sets inline styles on its tooltips.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_INDEX: str | None = None


def _index_html() -> str:
    global _INDEX  # noqa: PLW0603 - read the packaged page once
    if _INDEX is None:
        _INDEX = (files("lib_analytics_core.api") / "static" / "index.html").read_text("utf-8")
    return _INDEX
