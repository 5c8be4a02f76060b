"""The one way a ``/v1`` route is declared and answers (every ``routes_*.py`` uses it).

* :func:`v1_router`: a module-level router under ``/v1`` whose dependencies carry the
  token check, with the error answers every route can give declared once;
* :func:`get`: ``router.get`` whose OpenAPI description is the route's docstring (written
  once), plus its range limit from the read layer's constant, and, for a series, the CSV
  content type ``format=csv`` answers with;
* :func:`series`: run a read question over the request's range and answer its rows as
  JSON (the :class:`~._responses.Series` envelope) or as streamed CSV.

Routes take the pool as a dependency (``_deps.Pool``): one way to reach the database.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
import datetime as _dt
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, TypeVar

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from ._csv import MEDIA_TYPE, csv_response, dataclass_csv
from ._deps import require_token
from ._params import ERROR_RESPONSES
from ._responses import Series, json_response

__all__ = ["CSV_RESPONSE", "Format", "get", "series", "v1_router"]

_F = TypeVar("_F", bound=Callable[..., Any])

Format = Literal["json", "csv"]
#: The 200 answer of a route that also speaks CSV, for the OpenAPI document.
CSV_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The rows (JSON), or with `format=csv` the same rows as CSV "
        "(header line, one line per row, streamed).",
        "content": {MEDIA_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
    }
}


def v1_router(tag: str = "analytics") -> APIRouter:
    """A router for ``/v1`` routes behind the bearer token."""
    return APIRouter(
        prefix="/v1",
        dependencies=[Depends(require_token)],
        tags=[tag],
        responses=ERROR_RESPONSES,
    )


def get(
    router: APIRouter,
    path: str,
    *,
    model: Any = None,
    max_range: _dt.timedelta | None = None,
    csv: bool = False,
    note: str = "",
    **kwargs: Any,
) -> Callable[[_F], _F]:
    """``router.get(path)`` described by the route's docstring (+ ``note`` + the range
    limit), answering ``model`` (and CSV when ``csv``)."""

    def decorate(fn: _F) -> _F:
        text = inspect.cleandoc(fn.__doc__ or "")
        if note:
            text += f" {note}"
        if max_range is not None:
            text += f" Ranges up to {max_range.days} days; longer is a 400."
        responses = dict(kwargs.pop("responses", {}))
        if csv:
            responses.update(CSV_RESPONSE)
        router.get(path, response_model=model, description=text, responses=responses, **kwargs)(fn)
        return fn

    return decorate


async def series(
    fn: Callable[..., Awaitable[list[Any]]],
    db: Any,
    lo: _dt.datetime,
    hi: _dt.datetime,
    *,
    row: type[Any],
    fmt: Format = "json",
    name: str,
    **filters: Any,
) -> Response:
    """The rows of ``fn(db, start=lo, end=hi, **filters)`` as JSON or CSV."""
    rows = await fn(db, start=lo, end=hi, **filters)
    if fmt == "csv":
        return await csv_response(dataclass_csv(row, rows), filename=name)
    return json_response(Series(start=lo, end=hi, rows=rows))
