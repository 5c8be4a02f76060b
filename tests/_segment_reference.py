"""The Segment mapping as it was before its fast path (issue 28 item 4), kept verbatim
as the reference the property tests compare the collector's mapping with: the same
rows, byte for byte, and the same refusals with the same reasons.

Only the imports changed: uuid5 is ``uuid.uuid5`` itself here, not the library's.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from lib_analytics_core._errors import AnalyticsError
from lib_analytics_core.collect.segment import (
    CALL_TYPES,
    MESSAGE_NAMESPACE,
    PERSONAL_TRAITS,
    Policy,
    Refused,
    SegmentMessage,
    event_type_of,
)
from lib_analytics_core.events.base import Event
from lib_analytics_core.events.identity import USER_NAMESPACE
from lib_analytics_core.ingest.encoding import stored_json, with_meta
from lib_analytics_core.ingest.rows import Row

_SKEW_STEP_SECS = 60
_encode = msgspec.json.Encoder().encode
_decode_message = msgspec.json.Decoder(SegmentMessage).decode
MAX_MESSAGE_BYTES = 32 * 1024

Id = str | int | None


def _user_uuid(value: str) -> uuid.UUID:
    if 32 <= len(value) <= 45:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    return uuid.uuid5(USER_NAMESPACE, value)


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
    client = parse_time(message.timestamp, "timestamp") or parse_time(
        message.original_timestamp, "originalTimestamp"
    )
    if client is None:
        # No time from the client: the minute of receipt, so a retry within it keeps its
        # row key (exactly once needs a client time; every stock SDK sends one).
        return received.replace(second=0, microsecond=0)
    sent = parse_time(message.sent_at, "sentAt") or parse_time(batch_sent_at, "sentAt")
    if sent is None:
        return client
    offset = (received - sent).total_seconds()
    steps = round(offset / _SKEW_STEP_SECS)
    return client + _dt.timedelta(seconds=steps * _SKEW_STEP_SECS)


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


def message_row(  # noqa: PLR0912 - one branch per call type, read top to bottom
    message: SegmentMessage,
    call: str,
    raw: bytes,
    *,
    policy: Policy,
    received: _dt.datetime,
    batch_sent_at: str | None,
    classes: Mapping[str, type[Event]],
) -> Row:
    """The row of one message, or :class:`Refused` with the reason."""
    user_text = _text(message.user_id)
    anonymous_text = _text(message.anonymous_id)
    who = user_text or anonymous_text
    if who is None:
        raise Refused("userId or anonymousId is required")
    if len(who) > 200:
        raise Refused("userId/anonymousId is longer than 200 characters")
    user = _user_uuid(who)
    meta: dict[str, Any] = {"source": "segment", "call": call}
    if user_text is not None:
        meta["user"] = user_text
    if anonymous_text is not None:
        meta["anonymous_id"] = anonymous_text
    if message.message_id:
        meta["message_id"] = message.message_id
    context = _context(message.context, policy.keep_personal)
    if context:
        meta["context"] = context
    timestamp = event_time(message, received, batch_sent_at)
    body: bytes
    row_user: uuid.UUID | None = user
    if call == "track":
        if not message.event:
            raise Refused("track needs an event name")
        event_type = event_type_of(message.event)
        meta["event"] = message.event
        properties = message.properties or {}
        cls = classes.get(event_type)
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
        if call == "identify":
            traits = message.traits
            if traits is None and message.context is not None:
                nested = message.context.get("traits")
                traits = nested if isinstance(nested, dict) else None
            body = _encode(_private(traits, policy.keep_personal))
        elif call in ("page", "screen"):
            fields = dict(message.properties or {})
            fields.update(
                (k, v) for k, v in (("name", message.name), ("category", message.category)) if v
            )
            body = _encode(fields)
        elif call == "group":
            group = _text(message.group_id)
            if group is None:
                raise Refused("group needs a groupId")
            body = _encode({**_private(message.traits, policy.keep_personal), "group_id": group})
        else:  # alias
            previous = _text(message.previous_id)
            if previous is None:
                raise Refused("alias needs a previousId")
            body = _encode({"previous_id": previous})
    data = with_meta(body, _encode(meta))
    return (
        timestamp,
        message_id(policy.service, message.message_id, raw),
        event_type,
        policy.service,
        row_user,
        data.decode(),
    )


def message_id(service: str, message_id: str | None, raw: bytes) -> uuid.UUID:
    """The row id: from ``messageId`` (per service), else from the message's bytes."""
    if message_id:
        return uuid.uuid5(MESSAGE_NAMESPACE, f"{service}\n{message_id}")
    return uuid.UUID(bytes=hashlib.blake2b(raw, digest_size=16).digest(), version=4)


def _typed(cls: type[Event], properties: dict[str, Any], user: uuid.UUID) -> Event:
    fields = dict(properties)
    if "user_id" in cls.__struct_fields__ and fields.get("user_id") is None:
        fields["user_id"] = str(user)
    try:
        return msgspec.convert(fields, cls, strict=False)
    except (msgspec.ValidationError, AnalyticsError) as err:
        raise Refused(f"{cls.__name__}: {str(err)[:300]}") from None


def reference_map(  # noqa: PLR0917 - the request's parts, as _map takes them
    raws: list[bytes],
    call: str | None,
    policy: Policy,
    received: _dt.datetime,
    sent_at: str | None,
    classes: Mapping[str, type[Event]],
) -> tuple[list[Row], list[int], list[tuple[int, str, str | None]]]:
    """``segment_routes._map`` as it was (batch form: each message decoded on its own)."""
    rows: list[Row] = []
    indices: list[int] = []
    refused: list[tuple[int, str, str | None]] = []
    for index, raw in enumerate(raws):
        try:
            if len(raw) > MAX_MESSAGE_BYTES:
                raise Refused(f"the message exceeds {MAX_MESSAGE_BYTES} bytes")
            message = _decode_message(raw)
            kind = call or message.type
            if kind not in CALL_TYPES:
                raise Refused(f"type must be one of {', '.join(CALL_TYPES)}, got {kind!r}")
            rows.append(
                message_row(
                    message,
                    kind,
                    raw,
                    policy=policy,
                    received=received,
                    batch_sent_at=sent_at,
                    classes=classes,
                )
            )
            indices.append(index)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            refused.append((index, f"not a Segment message: {str(err)[:200]}", None))
        except Refused as err:
            refused.append((index, str(err), None))
    return rows, indices, refused
