"""The API's response bodies and their encoder (one home for the envelope every route uses)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import msgspec
from fastapi.responses import Response

__all__ = ["Health", "Series", "Services", "WindowBody", "json_response"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Series(Generic[_T]):
    """Every data endpoint's envelope: the range actually used, then the rows."""

    start: _dt.datetime
    end: _dt.datetime
    rows: list[_T]


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    services: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowBody:
    """A resolved "last N days" (``read/window.py``): whole UTC days, today included."""

    start: _dt.datetime
    end: _dt.datetime
    days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    status: str
    database: str


_ENCODER: Final = msgspec.json.Encoder()


def json_response(value: object, status: int = 200) -> Response:
    """msgspec encodes dataclasses and datetimes in C: several times faster than
    FastAPI's pydantic round trip for thousand-row series. The declared
    ``response_model`` still documents the shape in the OpenAPI schema."""
    return Response(_ENCODER.encode(value), status_code=status, media_type="application/json")
