"""Turning events into database rows: the one row encoder (``RowEncoder.encode_into``),
for the worker (never in ``track()``) and the HTTP collector alike.

Each ``(timestamp_ns, event)`` becomes an :class:`EnrichedEvent` (event + timestamp +
time-ordered UUIDv7 + the client's metadata) and then a row tuple in column order
``(timestamp, event_id, event_type, service, user_id, data)`` (the one row type,
:data:`~.rows.Row`). ``data`` is :func:`stored_json`: the event's fields without the
ones its ``user_id``/``service`` columns hold exactly, plus ``_meta``.

An event that cannot be encoded (not an ``Event``, a ``before_track`` hook that raised,
JSON larger than ``max_event_bytes``) does not take its batch down: it becomes a
:class:`Rejected` entry that the worker stores in the dead-letter table.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any

import msgspec

from ..events.base import COLUMN_FIELDS, Event, decode_event
from .ids import _EPOCH, _RNG, _timestamp, _timestamps, uuid7, uuid7_many
from .rows import COLUMNS, Rejected, Row

if TYPE_CHECKING:
    from .._config import AnalyticsConfig, ClientMetadata
    from .channel import QueuedEvent

__all__ = [
    "COLUMNS",
    "BeforeTrack",
    "EncodeItem",
    "EncodedBatch",
    "EnrichedEvent",
    "Rejected",
    "Row",
    "RowEncoder",
    "refused",
    "refused_unencodable",
    "stored_json",
    "uuid7",
    "uuid7_many",
    "with_meta",
]

BeforeTrack = Callable[[Event], "Event | None"]

#: What :meth:`RowEncoder.encode_into` encodes: ``(event, timestamp, event_id, service,
#: _meta JSON)``; a service ``None`` is the event's own or the client's, a ``_meta``
#: ``None`` the client's metadata.
EncodeItem = tuple[Event, _dt.datetime, uuid.UUID, str | None, bytes | None]

_encode_json = msgspec.json.Encoder().encode
_force_setattr = msgspec.structs.force_setattr
#: ``Struct.__copy__``: a shallow C-level copy that runs no ``__post_init__``.
_struct_copy: Callable[[Event], Event] = msgspec.Struct.__copy__  # type: ignore[attr-defined]
_USER_FIELD, _SERVICE_FIELD = COLUMN_FIELDS

#: Per event class: its :func:`stored_json`, built on first use.
_STORED: dict[type, Callable[[Event], bytes]] = {}


def with_meta(body: bytes, meta_json: bytes) -> bytes:
    """A row's ``data``: the fields' JSON object (``stored_json``, or a Segment message's
    properties) with ``"_meta": meta_json`` as its last key. The one splice every
    producer of rows uses (the worker's hot loop inlines the same bytes, precomputed)."""
    if len(body) > 2:
        return body[:-1] + b',"_meta":' + meta_json + b"}"
    return b'{"_meta":' + meta_json + b"}"


def stored_json(event: Event) -> bytes:
    """The JSON of ``event``'s fields as ``data`` stores them (without ``_meta``).

    A field among :data:`~lib_analytics_core.events.base.COLUMN_FIELDS` is left out
    when its row's column holds its value exactly: ``user_id`` when it is a UUID or
    None (the column is that value), ``service`` when it is a non-empty string (the
    column is it; an empty one is replaced by the client's name, so it stays).
    ``decode_event`` puts them back from the columns. The one encoder of ``data``:
    the worker's :class:`RowEncoder` and the HTTP collector both call it.
    """
    cls = type(event)
    try:
        encode = _STORED[cls]
    except KeyError:
        encode = _STORED[cls] = _stored_encoder(cls)
    return encode(event)


def _stored_encoder(cls: type) -> Callable[[Event], bytes]:
    """:func:`stored_json` for one class: the plain encoder when it declares neither
    column field; else one that encodes a private copy of the event whose dropped fields
    are ``msgspec.UNSET``, which msgspec leaves out of the JSON. The copy is a C-level
    ``__copy__`` (no ``__post_init__``, so no validation of the UNSET it then holds)
    and never leaves this function; everything else about the encoding (field order,
    renamed keys, defaults) stays msgspec's own. About 100 ns over a plain encode,
    against a 48-byte UUID key in every stored row."""
    fields: tuple[str, ...] = getattr(cls, "__struct_fields__", ())
    has_user, has_service = _USER_FIELD in fields, _SERVICE_FIELD in fields
    if not (has_user or has_service):
        return _encode_json
    encode, copy, force, unset = _encode_json, _struct_copy, _force_setattr, msgspec.UNSET
    is_uuid = uuid.UUID
    user_field, service_field = _USER_FIELD, _SERVICE_FIELD

    def stored(event: Event) -> bytes:
        drop_user = has_user and (
            (u := getattr(event, user_field)) is None or isinstance(u, is_uuid)
        )
        drop_service = (
            has_service and isinstance(s := getattr(event, service_field), str) and s != ""
        )
        if not (drop_user or drop_service):
            return encode(event)
        view = copy(event)
        if drop_user:
            force(view, user_field, unset)
        if drop_service:
            force(view, service_field, unset)
        return encode(view)

    return stored


class EnrichedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: the event, when it was tracked, its id, and who produced it."""

    event: Event
    timestamp: _dt.datetime
    event_id: uuid.UUID
    metadata: ClientMetadata | None = None
    sample_rate: float = 1.0

    @property
    def event_type(self) -> str:
        return self.event.event_type

    @classmethod
    def from_record(cls, record: Any) -> EnrichedEvent:
        """Rebuild from a row read back: ``timestamp, event_id, event_type, data`` keys,
        and ``user_id``/``service`` (the columns ``data`` leaves its copies to) where the
        record has them (an asyncpg ``Record`` or a mapping)."""
        data = record["data"]
        raw = data if isinstance(data, str | bytes) else msgspec.json.encode(data)
        meta = msgspec.json.decode(raw).get("_meta", {})
        columns: dict[str, Any] = {}
        for name in COLUMN_FIELDS:
            try:
                columns[name] = record[name]
            except KeyError:  # a record read without that column: data must hold it
                continue
        return cls(
            event=decode_event(record["event_type"], raw, **columns),
            timestamp=record["timestamp"],
            event_id=record["event_id"],
            sample_rate=float(meta.get("sample_rate", 1.0)),
        )


@dataclass(slots=True)
class EncodedBatch:
    """The outcome of encoding one batch: rows to write and events refused locally."""

    rows: list[Row]
    rejected: list[Rejected]
    sampled_out: int = 0
    hook_dropped: int = 0


class RowEncoder:
    """Encodes queued events to rows for one client's settings."""

    def __init__(self, config: AnalyticsConfig) -> None:
        self._service = config.service_name
        self._max_bytes = config.max_event_bytes
        self._before_track = config.before_track
        self._sample_rates = dict(config.sample_rates)
        self._metadata = config.metadata
        self._meta_json = msgspec.json.encode(self._metadata.as_json_dict())
        self._encode = msgspec.json.Encoder().encode
        self._random = _RNG.rng.random

    def enrich(self, timestamp_ns: int, event: Event) -> EnrichedEvent:
        """The :class:`EnrichedEvent` for a queued event."""
        return EnrichedEvent(
            event=event,
            timestamp=_timestamp(timestamp_ns),
            event_id=uuid7(timestamp_ns),
            metadata=self._metadata,
        )

    def encode(self, queued: Iterable[QueuedEvent]) -> EncodedBatch:
        """The worker's batch: ids and timestamps, sampling and the ``before_track``
        hook, then :meth:`encode_into` (the rows every writer stores)."""
        rejected: list[Rejected] = []
        out = EncodedBatch([], rejected)
        queued = queued if isinstance(queued, list) else list(queued)
        ns = [ts for ts, _ in queued]
        ids = uuid7_many(ns)
        stamps = _timestamps(ns)
        events = [event for _, event in queued]
        items: Iterable[EncodeItem]
        if self._sample_rates or self._before_track is not None:
            items = self._sample_and_hook(events, stamps, ids, out)
        else:  # the common case: every event as it was tracked, the client's _meta
            items = zip(events, stamps, ids, repeat(None), repeat(None))
        self.encode_into(items, out.rows, rejected)
        return out

    def _sample_and_hook(
        self,
        events: list[Event],
        stamps: list[_dt.datetime],
        ids: list[uuid.UUID],
        out: EncodedBatch,
    ) -> list[EncodeItem]:
        """Events kept by sampling and the hook (the hook's version of each), with the
        ``_meta`` of a sampled one (its ``sample_rate``); a hook that raised refuses
        its event only."""
        items: list[EncodeItem] = []
        rates, hook, meta = self._sample_rates, self._before_track, self._meta_json
        sampled_meta: dict[float, bytes] = {}
        for event, timestamp, event_id in zip(events, stamps, ids, strict=True):
            try:
                event_meta: bytes | None = None
                rate = rates.get(event.event_type) if rates else None
                if rate is not None and rate < 1.0:
                    if self._random() >= rate:
                        out.sampled_out += 1
                        continue
                    event_meta = sampled_meta.get(rate)
                    if event_meta is None:
                        extra = b',"sample_rate":' + self._encode(rate) + b"}"
                        event_meta = sampled_meta[rate] = meta[:-1] + extra
                kept = event
                if hook is not None:
                    changed = hook(event)
                    if changed is None:
                        out.hook_dropped += 1
                        continue
                    kept = changed  # the hook's version is what we store
                items.append((kept, timestamp, event_id, None, event_meta))
            except Exception as err:
                out.rejected.append(refused(timestamp, event_id, event, self._service, err))
        return items

    def encode_into(
        self,
        items: Iterable[EncodeItem],
        rows: list[Row],
        rejected: list[Rejected],
        *,
        kept: list[int] | None = None,
        refused_at: list[int] | None = None,
    ) -> None:
        """Append the row of each :data:`EncodeItem` to ``rows``, or its refusal to
        ``rejected``: the one encoder of rows, for the worker (:meth:`encode`) and the
        HTTP collector (``collect/delivery.py``).

        An item's service ``None`` is the event's own ``service`` field or else the
        client's; its ``_meta`` JSON ``None`` is the client's metadata. ``data`` is
        :func:`stored_json` with ``"_meta"`` spliced in as its last key (the bytes
        :func:`with_meta` gives); larger than ``max_event_bytes``, the event is refused
        (its dead letter keeps the event whole, its user id too: erasure finds a user's
        dead letters by it, as much as 1 KiB shows). An event that cannot be encoded,
        whatever it raises, is refused alone. ``kept``/``refused_at``, when given,
        receive the position in ``items`` of each row / refusal.
        """
        encode = self._encode
        stored = stored_json
        max_bytes = self._max_bytes
        default_service = self._service
        append = rows.append
        # Hot loop (once per event): names bound to locals, the "_meta" suffix built
        # once per distinct _meta (one per client; the collector shares them per
        # sender), the common case kept short.
        default_meta = last_meta = self._meta_json
        suffix = b',"_meta":' + last_meta + b"}"
        only_meta = b'{"_meta":' + last_meta + b"}"
        for pos, (event, timestamp, event_id, service, event_meta) in enumerate(items):
            try:
                event_type = event.event_type
                meta = default_meta if event_meta is None else event_meta
                if meta is not last_meta:
                    last_meta = meta
                    suffix = b',"_meta":' + meta + b"}"
                    only_meta = b'{"_meta":' + meta + b"}"
                body = stored(event)
                data = body[:-1] + suffix if len(body) > 2 else only_meta
                if service is None:
                    service = getattr(event, "service", None) or default_service  # noqa: PLW2901
                if len(data) > max_bytes:
                    rejected.append(
                        Rejected(
                            timestamp,
                            event_id,
                            event_type,
                            service,
                            encode(event)[:1024].decode("utf-8", "replace"),
                            f"event too large: {len(data)} bytes > max_event_bytes {max_bytes}",
                        )
                    )
                    if refused_at is not None:
                        refused_at.append(pos)
                    continue
                append(
                    (
                        timestamp,
                        event_id,
                        event_type,
                        service,
                        getattr(event, "user_id", None),
                        data.decode(),
                    )
                )
                if kept is not None:
                    kept.append(pos)
            except Exception as err:
                rejected.append(
                    refused(timestamp, event_id, event, service or default_service, err)
                )
                if refused_at is not None:
                    refused_at.append(pos)


def refused(
    timestamp: _dt.datetime,
    event_id: uuid.UUID,
    event: object,
    service: str,
    err: BaseException,
) -> Rejected:
    """A :class:`Rejected` for an event that could not be encoded, built without
    trusting the event: its ``repr`` or the error's ``str`` may raise again (a value
    nested deeper than the recursion limit does both), and nothing here may."""
    return Rejected(
        timestamp,
        event_id,
        _safe(lambda: str(getattr(event, "event_type", type(event).__name__)))[:100],
        service,
        _safe(lambda: repr(event))[:1024],
        f"could not encode event: {type(err).__name__}: {_safe(lambda: str(err))}"[:2000],
    )


def refused_unencodable(ts_ns: object, event: object, service: str, err: BaseException) -> Rejected:
    """:func:`refused` for an event whose timestamp may be as broken as the rest."""
    try:
        timestamp = _timestamp(ts_ns)  # type: ignore[arg-type]
        event_id = uuid7(ts_ns)  # type: ignore[arg-type]
    except Exception:
        timestamp, event_id = _EPOCH, uuid7(0)
    return refused(timestamp, event_id, event, service, err)


def _safe(describe: Callable[[], str]) -> str:
    try:
        return describe()
    except Exception as err:
        return f"<undescribable: {type(err).__name__}>"
