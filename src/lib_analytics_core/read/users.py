"""One user: their events newest first (a timeline with a cursor), and a summary.

From the raw events (the ``user_id`` column and its index in the page's order, migration
0018): a page of 100 costs one index descent per daily partition or uncompressed chunk,
whatever the user's history (BENCHMARKS.md). A user erased with ``forget_user`` has no
rows left, so no timeline and no summary (the API answers 404).

Pagination: a page ends with ``next_before``, an opaque cursor (``<microseconds since
the epoch>_<event id hex>``) that continues strictly after the last event returned in the
order ``("timestamp", event_id)`` descending, so events with equal timestamps are neither
skipped nor repeated. ``before`` also accepts a plain timezone-aware datetime: events
strictly before it.

User ids: UUIDs. Producers that identify users by other strings (Segment's
``userId``) are mapped to deterministic UUIDs by the ingest side; :func:`user_key` is the
one place the read side turns what a caller typed into the stored UUID, so the mapping
plugs in there.
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from .._errors import EventValidationError, QueryError, UnknownEventTypeError
from ..events.base import decode_event
from ..events.identity import user_uuid
from ..schema.facts import EVENTS_TABLE
from . import _exec
from ._common import _as_utc, _filter, _limit
from .window import EARLIEST, LATEST

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "TimelineEvent",
    "TimelinePage",
    "UserSummary",
    "user_key",
    "user_summary",
    "user_timeline",
]

#: Events per timeline page by default, and at most.
DEFAULT_PAGE: Final = 100
MAX_PAGE: Final = 1_000

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_CURSOR: Final = re.compile(r"^(-?[0-9]{1,20})_([0-9a-f]{32})$")
_decode_json: Final = msgspec.json.Decoder()


def user_key(user_id: str | uuid.UUID) -> uuid.UUID:
    """The stored ``user_id`` of what a caller names a user by.

    A UUID (any spelling ``uuid.UUID`` accepts) is the id itself; any other string is
    the id a Segment client sent (``"user-42"``), mapped as the collector mapped it
    (``events.identity.user_uuid``, the one home of that mapping).
    """
    if isinstance(user_id, uuid.UUID):
        return user_id
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 200:
        raise QueryError(f"user_id must be a UUID or a 1-200 character id, got {user_id!r}")
    return user_uuid(user_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEvent:
    """One stored event of the user.

    ``typed``: the event type's class is registered in this process and the row decodes
    as it (``decode_event``); ``data`` is then that event's fields (as ``msgspec``'s
    builtins), else the stored JSON as it is. ``meta``: the producer's metadata (host,
    release, env, sampling).
    """

    timestamp: _dt.datetime
    event_id: uuid.UUID
    event_type: str
    service: str
    typed: bool
    data: dict[str, Any]
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelinePage:
    """A page of a user's events, newest first; ``next_before`` continues it (None: the
    page is the last)."""

    user_id: uuid.UUID
    events: list[TimelineEvent]
    next_before: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSummary:
    """When a user was first and last seen in ``[start, end)``, and their events per type
    (most frequent first, then by name). ``first_seen`` is None when there are none."""

    user_id: uuid.UUID
    first_seen: _dt.datetime | None
    last_seen: _dt.datetime | None
    events: int
    counts: dict[str, int]


def _micros(ts: _dt.datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _cursor(ts: _dt.datetime, event_id: uuid.UUID) -> str:
    return f"{_micros(ts)}_{event_id.hex}"


def _parse_before(before: str | _dt.datetime | None) -> tuple[_dt.datetime, uuid.UUID | None]:
    """(timestamp, event id or None) strictly before which the page starts."""
    if before is None:
        return LATEST, None
    if isinstance(before, _dt.datetime):
        return _as_utc(before, "before"), None
    m = _CURSOR.match(before) if isinstance(before, str) else None
    if m is not None:
        micros = int(m.group(1))
        if _micros(EARLIEST) <= micros <= _micros(LATEST):
            return _EPOCH + _dt.timedelta(microseconds=micros), uuid.UUID(m.group(2))
    elif isinstance(before, str):
        try:
            return _as_utc(
                _dt.datetime.fromisoformat(before.replace("Z", "+00:00")), "before"
            ), None
        except ValueError:
            pass
    raise QueryError(
        f"before must be a cursor from next_before or an ISO 8601 date-time, got {before!r}"
    )


def _event(r: Any) -> TimelineEvent:
    raw = r["data"]
    data: dict[str, Any] = _decode_json.decode(raw) if isinstance(raw, str | bytes) else raw
    meta = data.pop("_meta", None)
    typed = False
    try:
        event = decode_event(r["event_type"], raw, user_id=r["user_id"], service=r["service"])
    except (UnknownEventTypeError, EventValidationError):
        pass
    else:
        data = msgspec.to_builtins(event)
        typed = True
    return TimelineEvent(
        timestamp=r["timestamp"],
        event_id=r["event_id"],
        event_type=r["event_type"],
        service=r["service"],
        typed=typed,
        data=data,
        meta=meta if isinstance(meta, dict) else {},
    )


async def user_timeline(
    db: _exec.Db,
    *,
    user_id: str | uuid.UUID,
    start: _dt.date | _dt.datetime = EARLIEST,
    end: _dt.date | _dt.datetime = LATEST,
    event_type: str | None = None,
    before: str | _dt.datetime | None = None,
    limit: int = DEFAULT_PAGE,
) -> TimelinePage:
    """The user's events in ``[start, end)``, newest first, ``limit`` per page, after the
    cursor ``before`` (module docstring); only ``event_type``'s if given."""
    uid = user_key(user_id)
    lo, hi = _as_utc(start, "start"), _as_utc(end, "end")
    lim = _limit(limit, MAX_PAGE)
    ts, eid = _parse_before(before)
    params = _exec.Params(uid, lo, min(hi, ts) if eid is None else hi)
    where = ["user_id = $1", '"timestamp" >= $2', '"timestamp" < $3']
    if eid is not None:
        where.append(f'("timestamp", event_id) < ({params.add(ts)}, {params.add(eid)}::uuid)')
        where.append(f'"timestamp" <= {params.add(ts)}')
    etype = _filter(event_type, "event_type")
    if etype is not None:
        where.append(f"event_type = {params.add(etype)}")
    sql = (
        f'SELECT "timestamp", event_id, event_type, service, user_id, data FROM {EVENTS_TABLE}'
        f" WHERE {' AND '.join(where)}"
        f' ORDER BY "timestamp" DESC, event_id DESC LIMIT {params.add(lim + 1)}'
    )
    rows = await _exec.fetch(db, "users.timeline", sql, *params.values)
    events = [_event(r) for r in rows[:lim]]
    more = len(rows) > lim
    last = events[-1] if events and more else None
    return TimelinePage(
        user_id=uid,
        events=events,
        next_before=None if last is None else _cursor(last.timestamp, last.event_id),
    )


async def user_summary(
    db: _exec.Db,
    *,
    user_id: str | uuid.UUID,
    start: _dt.date | _dt.datetime = EARLIEST,
    end: _dt.date | _dt.datetime = LATEST,
) -> UserSummary:
    """First and last seen and events per type of the user in ``[start, end)``."""
    uid = user_key(user_id)
    lo, hi = _as_utc(start, "start"), _as_utc(end, "end")
    sql = (
        'SELECT event_type, count(*)::bigint AS n, min("timestamp") AS first,'
        f' max("timestamp") AS last FROM {EVENTS_TABLE}'
        ' WHERE user_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3'
        " GROUP BY event_type ORDER BY n DESC, event_type"
    )
    rows = await _exec.fetch(db, "users.summary", sql, uid, lo, hi)
    return UserSummary(
        user_id=uid,
        first_seen=min((r["first"] for r in rows), default=None),
        last_seen=max((r["last"] for r in rows), default=None),
        events=sum(int(r["n"]) for r in rows),
        counts={str(r["event_type"]): int(r["n"]) for r in rows},
    )
