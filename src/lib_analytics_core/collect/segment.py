"""Segment HTTP Tracking API messages to rows: the mapping ``docs/collector.md`` documents.

Pure functions, no I/O: the routes (``segment_routes``) decode, authenticate and store;
this module says what one message *is* as a row, so it can be tested over generated
messages (hypothesis) without a server.

* **event type**: ``track``'s ``event`` name lower-cased, every run of characters other
  than ``a-z0-9`` made one ``_``, trimmed (``"Order Completed"`` -> ``order_completed``;
  a leading digit gets ``e_``; at most 100 characters). The other calls are
  ``segment_identify``, ``segment_page``, ``segment_screen``, ``segment_group`` and
  ``segment_alias`` (prefixed so no ``track`` name can collide with them).
* **registered class**: a track whose type is a registered event class is that class:
  its ``properties`` are its fields (typed and bounded like ``track()``'s, refused with
  the reason); ``user_id`` comes from the message's user when the properties have none.
  Otherwise the properties are stored as given (``open`` tokens) or refused (``strict``).
* **users**: ``userId`` (else ``anonymousId``) through ``events.identity.user_uuid``;
  both originals are kept in ``data._meta`` (``user``, ``anonymous_id``).
* **personal data**: identify/group ``traits`` (also ``context.traits``) lose the keys in
  :data:`PERSONAL_TRAITS`, and ``context.ip`` is dropped, unless the collector is told to
  keep personal data (``--segment-personal-data keep``), as ``AuthLoginAttempt.email``.
* **time**: the spec's skew correction, ``timestamp = receivedAt - (sentAt -
  originalTimestamp)``, with the client's offset (``receivedAt - sentAt``) rounded to
  whole minutes, so a retry (a new ``sentAt``, a new network delay) lands on the same
  row key and is stored once; server clocks (offset under 30 s) are trusted as they are.
  A message with no time at all gets the minute it was received (a retry in a later
  minute is then a second row: send ``timestamp``, as every stock SDK does).
* **idempotency**: the row's ``event_id`` is ``uuid5(MESSAGE_NAMESPACE, service + "\\n" +
  messageId)``; a message without a ``messageId`` gets a hash of its bytes.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import re
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from .._errors import AnalyticsError
from ..events.base import Event
from ..events.identity import user_uuid, uuid5_bytes
from ..ingest.encoding import stored_json, with_meta
from ..ingest.rows import Row
from .batch import uuid_of_bytes

__all__ = [
    "CALL_TYPES",
    "MESSAGE_NAMESPACE",
    "PERSONAL_TRAITS",
    "Mapper",
    "MessageBytes",
    "Refused",
    "SegmentBatch",
    "SegmentMessage",
    "event_type_of",
    "message_row",
    "parse_time",
]

#: Distinct user strings whose UUID is kept (``_user_of``): bounded, least recently used
#: first out. A batch names few users many times (a session's events); each UUID costs
#: 0.3-1 µs to compute (a parse, or a SHA-1 for a non-UUID string) and about 60 ns to
#: look up. The mapping is a pure function, so a cached value is the computed one.
USER_CACHE_SIZE: Final = 16_384


@functools.lru_cache(maxsize=USER_CACHE_SIZE)
def _user_of(value: str) -> uuid.UUID:
    """``user_uuid(value)``, cached, as asyncpg's C UUID where there is one (equal,
    hashed alike; its COPY encoder copies it without the ``.bytes`` property's call)."""
    return uuid_of_bytes(user_uuid(value).bytes)


#: Namespace of the row ids derived from ``messageId``: ``uuid5(NAMESPACE_URL,
#: "https://lib-analytics-core/segment-message-id")``. Fixed: changing it would store
#: every retried message again.
MESSAGE_NAMESPACE: Final = uuid.UUID("413c2ae3-c74c-5167-8fe6-c67514cf0421")
_MESSAGE_NAMESPACE_BYTES: Final = MESSAGE_NAMESPACE.bytes
#: The spec's calls and the event type each is stored as (``track``: from its name).
CALL_TYPES: Final[dict[str, str | None]] = {
    "track": None,
    "identify": "segment_identify",
    "page": "segment_page",
    "screen": "segment_screen",
    "group": "segment_group",
    "alias": "segment_alias",
}
#: Traits that identify a person (Segment's reserved traits that do), dropped by default.
PERSONAL_TRAITS: Final = frozenset(
    {
        "address",
        "age",
        "avatar",
        "birthday",
        "email",
        "firstName",
        "first_name",
        "gender",
        "lastName",
        "last_name",
        "name",
        "phone",
        "username",
    }
)
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_SKEW_STEP_SECS = 60
_encode = msgspec.json.Encoder().encode

Id = str | int | None
#: One message's JSON: a view into the request's body (``msgspec.Raw``) or its bytes.
MessageBytes = bytes | msgspec.Raw


class SegmentMessage(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    """One message as the SDKs send it (every field optional; checked in the mapping).

    Untracked by the garbage collector (``gc=False``): decoded JSON holds no reference
    cycles, and one is decoded per message."""

    type: str | None = None
    message_id: str | None = None
    user_id: Id = None
    anonymous_id: Id = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    group_id: Id = None
    previous_id: Id = None
    timestamp: str | None = None
    original_timestamp: str | None = None
    sent_at: str | None = None
    write_key: str | None = None


class SegmentBatch(msgspec.Struct, rename="camel"):
    """``POST /v1/batch``: the messages stay raw, so each is sized and refused alone."""

    batch: list[msgspec.Raw]
    write_key: str | None = None
    sent_at: str | None = None
    context: dict[str, Any] | None = None


class Refused(AnalyticsError):
    """This message is refused (the reason goes to the client and the dead letters)."""


def event_type_of(name: str) -> str:
    """The event type of a ``track`` name (see the module docstring); Refused if empty."""
    text = _NOT_WORD.sub("_", name.lower()).strip("_")
    if not text:
        raise Refused("the event name has no letters or digits")
    if not text[0].isalpha():
        text = "e_" + text
    return text[:100].rstrip("_")


#: :func:`event_type_of` for the names a process has seen lately (bounded: names are
#: the clients'); a pure function, so a cached type is the computed one.
_event_type_of = functools.lru_cache(maxsize=4096)(event_type_of)


def parse_time(value: str | None, field: str) -> _dt.datetime | None:
    """An ISO 8601 time with an offset (a naive one is read as UTC, as Segment does)."""
    if value is None:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except (ValueError, TypeError):
        raise Refused(f"{field} is not an ISO 8601 date-time: {str(value)[:40]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


def event_time(
    message: SegmentMessage, received: _dt.datetime, batch_sent_at: str | None
) -> _dt.datetime:
    """The row's time: the client's, shifted by its clock's offset (module docstring)."""
    return _Clock(received, batch_sent_at).time_of(message)


class _Clock:
    """:func:`event_time` for one request: its receipt time and its batch's ``sentAt``
    are read once, not once per message (a batch's messages share them)."""

    __slots__ = ("_batch_error", "_batch_shift", "_offsets", "_received", "_received_minute")

    def __init__(self, received: _dt.datetime, batch_sent_at: str | None) -> None:
        self._received = received
        self._received_minute = received.replace(second=0, microsecond=0)
        self._offsets: dict[str, _dt.timedelta] = {}
        self._batch_shift: _dt.timedelta | None = None
        self._batch_error: Refused | None = None
        try:
            sent = parse_time(batch_sent_at, "sentAt")
        except Refused as err:  # only a message that needs the batch's sentAt says so
            self._batch_error = err
        else:
            self._batch_shift = self._shift(sent) if sent is not None else None

    def _shift(self, sent: _dt.datetime) -> _dt.timedelta:
        offset = (self._received - sent).total_seconds()
        steps = round(offset / _SKEW_STEP_SECS)
        return _dt.timedelta(seconds=steps * _SKEW_STEP_SECS)

    def time_of(self, message: SegmentMessage) -> _dt.datetime:
        client = parse_time(message.timestamp, "timestamp") or parse_time(
            message.original_timestamp, "originalTimestamp"
        )
        if client is None:
            # No time from the client: the minute of receipt, so a retry within it keeps
            # its row key (exactly once needs a client time; every stock SDK sends one).
            return self._received_minute
        own = message.sent_at
        if own is not None:
            shift = self._offsets.get(own)
            if shift is None:
                sent = parse_time(own, "sentAt")
                assert sent is not None
                shift = self._offsets[own] = self._shift(sent)
        elif self._batch_error is not None:
            raise self._batch_error
        elif self._batch_shift is None:
            return client
        else:
            shift = self._batch_shift
        return client + shift if shift else client


def _text(value: Id) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _private(values: Mapping[str, Any] | None, keep_personal: bool) -> dict[str, Any]:
    if not values:
        return {}
    if keep_personal:
        return dict(values)
    return {k: v for k, v in values.items() if k not in PERSONAL_TRAITS}


def _context(context: Mapping[str, Any] | None, keep_personal: bool) -> dict[str, Any]:
    if not context:
        return {}
    out = dict(context)
    if not keep_personal:
        out.pop("ip", None)
        if isinstance(out.get("traits"), dict):
            out["traits"] = _private(out["traits"], False)
    return out


@dataclass(frozen=True, slots=True)
class Policy:
    """What the token and the collector allow (``strict``: refuse unregistered names)."""

    service: str
    strict: bool = False
    keep_personal: bool = False


def message_row(
    message: SegmentMessage,
    call: str,
    raw: MessageBytes,
    *,
    policy: Policy,
    received: _dt.datetime,
    batch_sent_at: str | None,
    classes: Mapping[str, type[Event]],
) -> Row:
    """The row of one message, or :class:`Refused` with the reason."""
    mapper = Mapper(policy=policy, received=received, batch_sent_at=batch_sent_at, classes=classes)
    return mapper.row(message, call, raw)


# ``_meta``'s keys, encoded once: the row's meta is spliced from these and the values.
_META_USER = b',"user":'
_META_ANONYMOUS = b',"anonymous_id":'
_META_MESSAGE_ID = b',"message_id":'
_META_CONTEXT = b',"context":'
_META_EVENT = b',"event":'


class Mapper:
    """:func:`message_row` for the messages of one request.

    What the messages share is worked out once: the policy, the time offset of the
    batch's ``sentAt``, ``_meta``'s constant head per call, the event type of each
    ``track`` name. ``_meta`` is spliced from encoded parts in the key order the dict
    it replaces had, so the stored bytes are the same (a property test compares them
    with the reference mapping over generated messages).
    """

    def __init__(
        self,
        *,
        policy: Policy,
        received: _dt.datetime,
        batch_sent_at: str | None,
        classes: Mapping[str, type[Event]],
    ) -> None:
        self.policy = policy
        self.classes = classes
        self._clock = _Clock(received, batch_sent_at)
        self._heads: dict[str, bytes] = {}
        self._types: dict[str, tuple[str, bytes]] = {}

    def _head(self, call: str) -> bytes:
        head = self._heads.get(call)
        if head is None:
            head = self._heads[call] = _encode({"source": "segment", "call": call})[:-1]
        return head

    def _event_type(self, name: str) -> tuple[str, bytes]:
        """The event type of a ``track`` name, and the name as JSON (for ``_meta``)."""
        known = self._types.get(name)
        if known is None:
            known = self._types[name] = (_event_type_of(name), _encode(name))
        return known

    def row(self, message: SegmentMessage, call: str, raw: MessageBytes) -> Row:  # noqa: PLR0912
        """The row of one message, or :class:`Refused` with the reason."""
        policy = self.policy
        user_text = _text(message.user_id)
        anonymous_text = _text(message.anonymous_id)
        who = user_text or anonymous_text
        if who is None:
            raise Refused("userId or anonymousId is required")
        if len(who) > 200:
            raise Refused("userId/anonymousId is longer than 200 characters")
        user = _user_of(who)
        meta = [self._head(call)]
        if user_text is not None:
            meta += (_META_USER, _encode(user_text))
        if anonymous_text is not None:
            meta += (_META_ANONYMOUS, _encode(anonymous_text))
        if message.message_id:
            meta += (_META_MESSAGE_ID, _encode(message.message_id))
        if message.context:
            context = _context(message.context, policy.keep_personal)
            if context:
                meta += (_META_CONTEXT, _encode(context))
        timestamp = self._clock.time_of(message)
        body: bytes
        row_user: uuid.UUID | None = user
        if call == "track":
            if not message.event:
                raise Refused("track needs an event name")
            event_type, encoded_name = self._event_type(message.event)
            meta += (_META_EVENT, encoded_name)
            properties = message.properties or {}
            cls = self.classes.get(event_type)
            if cls is not None:
                event = _typed(cls, properties, user)
                body = stored_json(event)
                row_user = getattr(event, "user_id", None)
                if not isinstance(row_user, uuid.UUID):
                    row_user = user
            elif policy.strict:
                raise Refused(f"{event_type!r} is not a registered event type (strict token)")
            else:
                body = _encode(properties)
        else:
            event_type = CALL_TYPES[call] or call
            body = _call_body(message, call, policy.keep_personal)
        meta.append(b"}")
        data = with_meta(body, b"".join(meta))
        return (
            timestamp,
            message_id(policy.service, message.message_id, raw),
            event_type,
            policy.service,
            row_user,
            data.decode(),
        )


def _call_body(message: SegmentMessage, call: str, keep_personal: bool) -> bytes:
    """The stored fields of an identify, page, screen, group or alias message."""
    if call == "identify":
        traits = message.traits
        if traits is None and message.context is not None:
            nested = message.context.get("traits")
            traits = nested if isinstance(nested, dict) else None
        return _encode(_private(traits, keep_personal))
    if call in ("page", "screen"):
        fields = dict(message.properties or {})
        fields.update(
            (k, v) for k, v in (("name", message.name), ("category", message.category)) if v
        )
        return _encode(fields)
    if call == "group":
        group = _text(message.group_id)
        if group is None:
            raise Refused("group needs a groupId")
        return _encode({**_private(message.traits, keep_personal), "group_id": group})
    previous = _text(message.previous_id)  # alias
    if previous is None:
        raise Refused("alias needs a previousId")
    return _encode({"previous_id": previous})


def message_id(service: str, message_id: str | None, raw: MessageBytes) -> uuid.UUID:
    """The row id: from ``messageId`` (per service), else from the message's bytes.

    ``uuid5(MESSAGE_NAMESPACE, service + "\\n" + messageId)``, computed by
    ``uuid5_bytes`` (the same UUID, without ``uuid.uuid5``'s overhead)."""
    if message_id:
        return uuid_of_bytes(uuid5_bytes(_MESSAGE_NAMESPACE_BYTES, f"{service}\n{message_id}"))
    return uuid.UUID(bytes=hashlib.blake2b(raw, digest_size=16).digest(), version=4)


#: Per class: whether its ``user_id`` field is typed ``uuid.UUID`` (or optional), so the
#: message's user can be given as the UUID itself instead of its text to parse again.
_USER_IS_UUID: dict[type[Event], bool] = {}


def _user_is_uuid(cls: type[Event]) -> bool:
    known = _USER_IS_UUID.get(cls)
    if known is None:
        hint = typing.get_type_hints(cls).get("user_id")
        known = _USER_IS_UUID[cls] = hint in (uuid.UUID, uuid.UUID | None)
    return known


def _typed(cls: type[Event], properties: dict[str, Any], user: uuid.UUID) -> Event:
    fields = dict(properties)
    if "user_id" in cls.__struct_fields__ and fields.get("user_id") is None:
        fields["user_id"] = user if _user_is_uuid(cls) else str(user)
    try:
        return msgspec.convert(fields, cls, strict=False)
    except (msgspec.ValidationError, AnalyticsError) as err:
        raise Refused(f"{cls.__name__}: {str(err)[:300]}") from None
