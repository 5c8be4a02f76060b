"""The values a picker offers: services, event types, and the fields of an event type.

Not questions over a range but lists ("what can I filter by?"), each since a date
(default: the raw retention, 90 days).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Final

from ..schema.facts import RAW_RETENTION
from . import _exec
from ._common import _DAY, _UTC, _as_utc, _ceil, _filter
from ._sql import QUERIES

__all__ = ["EventField", "event_fields", "list_event_types", "list_services"]

#: Events of a type sampled by :func:`event_fields` (the newest ones).
FIELD_SAMPLE: Final = 1_000


def _since(since: _dt.date | _dt.datetime | None) -> _dt.datetime:
    lo = _as_utc(since, "since") if since is not None else _dt.datetime.now(_UTC) - RAW_RETENTION
    return _ceil(lo, _DAY) - _DAY


async def list_services(db: _exec.Db, *, since: _dt.date | _dt.datetime | None = None) -> list[str]:
    """Services that served API requests or reported errors since ``since``.

    Defaults to the last 90 days (the raw retention): the values a service filter offers.
    """
    rows = await _exec.fetch(db, "catalog.list_services", QUERIES["services"], _since(since))
    return [str(r["service"]) for r in rows]


async def list_event_types(
    db: _exec.Db, *, since: _dt.date | _dt.datetime | None = None
) -> list[str]:
    """Event types stored since ``since`` (default: the last 90 days), sorted: the
    values an event-type picker offers, custom types included."""
    rows = await _exec.fetch(db, "catalog.list_event_types", QUERIES["event_types"], _since(since))
    return [str(r["event_type"]) for r in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventField:
    """A top-level key of an event type's stored data, its JSON type, and in how many of
    the sampled events it occurs with that type."""

    name: str
    type: str
    count: int


async def event_fields(
    db: _exec.Db,
    *,
    event_type: str,
    since: _dt.date | _dt.datetime | None = None,
    sample: int = FIELD_SAMPLE,
) -> list[EventField]:
    """The fields the newest ``sample`` events of ``event_type`` (since ``since``) carry,
    with their JSON types (``number``, ``string``, ``boolean``, ...): what an explore
    view offers to filter, group and measure by. ``user_id``/``service`` live in columns
    and are always available; ``_meta`` (host, release, environment) is not listed."""
    name = _filter(event_type, "event_type")
    rows = await _exec.fetch(
        db, "catalog.event_fields", QUERIES["event_fields"], name, _since(since), sample
    )
    return [EventField(name=r["key"], type=r["type"], count=int(r["n"])) for r in rows]
