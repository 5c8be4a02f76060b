"""The seed family's wire format, derived from the registry: what other languages send.

The seed's Rust client serialises ``EnrichedEvent { timestamp, event, hostname,
environment }`` with serde, its ``AnalyticsEvent`` enum internally tagged by ``type``::

    {"timestamp": "2026-12-01T10:00:00Z",
     "event": {"type": "task_created", "task_id": "…", "user_id": "…", "command": "ls", …},
     "hostname": "web-1", "environment": "production"}

For every registered :class:`~.base.Event` class this module derives a *wire struct*
(the same fields, defaults and bounds, tagged ``type`` = ``event_type``) and one envelope
type over their union, so the collector decodes a whole batch in msgspec's C decoder and
the JSON Schemas (``events.jsonschema``) describe exactly what it accepts. Nothing here
is written per event: a class registered later (a service's own events, imported before
:func:`wire_catalogue` is called) is accepted the same way as the seed's.

Decoding is two steps, both strict, so the wire and ``track()`` cannot drift apart:

1. msgspec decodes the JSON into the wire struct (types, required fields, the bounds
   msgspec can check: ``events.limits``' annotated ones, plus bigint for plain ``int``
   and an offset for every timestamp, which RFC 3339 requires);
2. the event class is constructed from those values, which runs the very checker
   ``track()``'s events run (``events.base``).

Two extensions of this project's own, both optional (a seed client never sends them):
``event_id`` (a UUID the client chose, for exactly-once retries) and ``service`` (the
row's ``service``, for clients that write for several services with one token).
Unknown keys are ignored, as serde ignores them.
"""

from __future__ import annotations

import collections
import datetime as _dt
import re
import types
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from .base import Event, registered_event_types
from .limits import BIGINT_MAX, BIGINT_MIN

__all__ = ["WireCatalogue", "WireEvent", "WireReject", "wire_catalogue"]

_Bigint = Annotated[int, msgspec.Meta(ge=BIGINT_MIN, le=BIGINT_MAX)]
_AwareDatetime = Annotated[_dt.datetime, msgspec.Meta(tz=True)]


def _wire_type(tp: Any) -> Any:
    """``tp`` with the bounds ``track()``'s checker adds made explicit for msgspec."""
    if tp is int:
        return _Bigint
    if tp is _dt.datetime:
        return _AwareDatetime
    origin = get_origin(tp)
    if origin in (types.UnionType, Union):
        args = tuple(_wire_type(a) for a in get_args(tp))
        return Union[args]  # noqa: UP007 - built from a tuple at runtime
    if origin in (list, tuple, set, frozenset) and get_args(tp):
        args = tuple(_wire_type(a) for a in get_args(tp))
        return origin[args if len(args) > 1 else args[0]]
    return tp


def _wire_struct(cls: type[Event], name: str) -> type[msgspec.Struct]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for f in msgspec.structs.fields(cls):
        tp = _wire_type(hints[f.name])
        if f.required:
            fields.append((f.name, tp))
        elif f.default is not msgspec.NODEFAULT:
            fields.append((f.name, tp, f.default))
        else:
            fields.append((f.name, tp, msgspec.field(default_factory=f.default_factory)))
    return msgspec.defstruct(
        name,
        fields,
        tag_field="type",
        tag=cls.event_type,
        kw_only=True,
        module=__name__,
    )


class WireEvent(msgspec.Struct, frozen=True, gc=False):
    """One accepted envelope: the typed event and what the envelope said about it.

    A struct (built in C, untracked by the garbage collector: it holds no containers)
    rather than a frozen dataclass, whose ``__init__`` sets each field through
    ``object.__setattr__``: one is built per event the collector accepts."""

    index: int
    event: Event
    timestamp: _dt.datetime
    hostname: str | None
    environment: str | None
    event_id: uuid.UUID | None
    service: str | None


@dataclass(frozen=True, slots=True)
class WireReject:
    """One refused envelope: its position in the batch and why (msgspec's or the
    checker's message, naming the field)."""

    index: int
    reason: str
    event_type: str | None = None
    payload: bytes = b""
    """The envelope as sent (for the dead-letter table), when it was isolated."""


class WireCatalogue:
    """The wire types for a set of event classes (normally every registered one)."""

    def __init__(self, classes: Sequence[type[Event]]) -> None:
        self.classes: tuple[type[Event], ...] = tuple(classes)
        # Struct names become JSON Schema component names, which must be unique: two
        # services may each define an ``InvoicePaid`` (different event types), so a
        # class name shared within the catalogue is qualified by its event type.
        names = collections.Counter(cls.__name__ for cls in self.classes)
        self.structs: dict[str, type[msgspec.Struct]] = {
            cls.event_type: _wire_struct(
                cls,
                cls.__name__ if names[cls.__name__] == 1 else f"{cls.__name__}_{cls.event_type}",
            )
            for cls in self.classes
        }
        self._event_class = {cls.event_type: cls for cls in self.classes}
        self._by_struct = {self.structs[et]: self._event_class[et] for et in self.structs}
        union: Any = Union[tuple(self.structs.values())]  # noqa: UP007 - runtime union
        self.envelope: type[msgspec.Struct] = msgspec.defstruct(
            "EnrichedEvent",
            [
                ("timestamp", _AwareDatetime),
                ("event", union),
                ("hostname", str | None, None),
                ("environment", str | None, None),
                ("event_id", uuid.UUID | None, None),
                (
                    "service",
                    Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None,
                    None,
                ),
            ],
            kw_only=True,
            module=__name__,
        )
        self._batch = msgspec.json.Decoder(list[self.envelope])  # type: ignore[name-defined]
        self._raw_batch = msgspec.json.Decoder(list[msgspec.Raw])
        self._one = msgspec.json.Decoder(self.envelope)
        self._type_only = msgspec.json.Decoder(_TypeProbe)

    def decode_batch(self, body: bytes) -> tuple[list[WireEvent], list[WireReject]]:
        """Decode a JSON array of envelopes; each bad element is refused on its own.

        Raises ``msgspec.DecodeError``/``ValidationError`` only when the body is not a
        JSON array at all (then no element can be attributed an index). The fast path
        decodes the whole array at once; one bad element sends the batch through the
        per-element path, which costs a second parse.
        """
        try:
            envelopes: list[Any] = self._batch.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            try:
                raws = self._raw_batch.decode(body)
            except RecursionError:
                raws = split_top_level(body)  # one element too deep: find the others
            return self._decode_each(raws)
        accepted: list[WireEvent] = []
        rejected: list[WireReject] = []
        for index, env in enumerate(envelopes):
            self._build(index, env, accepted, rejected)
        return accepted, rejected

    def _decode_each(self, raws: list[msgspec.Raw]) -> tuple[list[WireEvent], list[WireReject]]:
        accepted: list[WireEvent] = []
        rejected: list[WireReject] = []
        for index, raw in enumerate(raws):
            try:
                env = self._one.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError) as err:
                rejected.append(
                    WireReject(index, str(err)[:500], self._probe_type(raw), bytes(raw))
                )
                continue
            except RecursionError:
                rejected.append(
                    WireReject(index, "nested too deep", self._probe_type(raw), bytes(raw)[:1024])
                )
                continue
            self._build(index, env, accepted, rejected)
        return accepted, rejected

    def _probe_type(self, raw: msgspec.Raw) -> str | None:
        try:
            probe = self._type_only.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            return None
        return probe.event.type if probe.event is not None else None

    def _build(
        self, index: int, env: Any, accepted: list[WireEvent], rejected: list[WireReject]
    ) -> None:
        wire = env.event
        cls = self._by_struct[type(wire)]
        try:
            # The same construction track()'s callers do: runs the generated checker.
            event = cls(**msgspec.structs.asdict(wire))
        except Exception as err:  # EventValidationError, or a hostile value's error
            rejected.append(
                WireReject(index, str(err)[:500], cls.event_type, msgspec.json.encode(wire))
            )
            return
        accepted.append(
            WireEvent(
                index,
                event,
                env.timestamp,
                env.hostname,
                env.environment,
                env.event_id,
                env.service,
            )
        )


_STRUCTURAL = re.compile(rb'[\\"\[\]{},]')


def split_top_level(body: bytes) -> list[msgspec.Raw]:
    """The elements of a JSON array, found without parsing them (for a body msgspec
    refuses as too deep: the elements around the deep one still get their verdicts).

    Raises ``msgspec.DecodeError`` when ``body`` is not a JSON array.
    """
    text = body.strip()
    if not text.startswith(b"[") or not text.endswith(b"]"):
        raise msgspec.DecodeError("expected a JSON array of events")
    out: list[msgspec.Raw] = []
    depth = 0
    in_string = False
    start = 1
    skip = -1  # the position of a character escaped by a backslash
    for match in _STRUCTURAL.finditer(text):
        ch = match.group()
        pos = match.start()
        if in_string:
            if pos == skip:
                continue
            if ch == b"\\":
                skip = pos + 1
            elif ch == b'"':
                in_string = False
            continue
        if ch == b'"':
            in_string = True
        elif ch in (b"[", b"{"):
            depth += 1
        elif ch in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                tail = text[start:pos].strip()
                if tail:
                    out.append(msgspec.Raw(tail))
        elif ch == b"," and depth == 1:
            out.append(msgspec.Raw(text[start:pos].strip()))
            start = pos + 1
    return out


class _TypeOnly(msgspec.Struct):
    type: str | None = None


class _TypeProbe(msgspec.Struct):
    """Just enough of an envelope to name a refused event's type in its reject."""

    event: _TypeOnly | None = None


def wire_catalogue(classes: Sequence[type[Event]] | None = None) -> WireCatalogue:
    """The wire types for ``classes``, by default every class registered right now
    (import a service's own event modules first)."""
    return WireCatalogue(list(registered_event_types().values()) if classes is None else classes)
