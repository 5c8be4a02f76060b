"""The base class every trackable event derives from, and the registry that decodes them.

Events are ``msgspec.Struct`` classes: immutable, slotted, ~100 ns to build and encoded
to JSON in C by the worker. ``msgspec`` itself only validates on *decode*; a service
building an event by hand gets no check at all. So each event class gets a small
type-checking ``__post_init__`` generated from its annotations the first time it is
constructed (the same trick ``dataclasses`` and ``attrs`` use: generated source is several
times faster than a loop over fields). A wrong type then fails where the event is built,
with the class and field in the message, instead of in a background worker minutes later.
Values the aggregates cannot hold (an integer beyond its documented bounds, a NaN) are
refused the same way; the rules are in ``events.limits``.

Services outside the built-in catalogue define their own events the same way::

    class InvoicePaid(Event):
        event_type: ClassVar[str] = "invoice_paid"   # optional; derived from the name
        invoice_id: uuid.UUID
        user_id: uuid.UUID | None
        amount_cents: int

Nothing in the client or worker is specific to the built-in list: they see ``Event``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import re
import reprlib
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, get_args, get_origin

import msgspec

from .._errors import EventValidationError, UnknownEventTypeError
from .limits import BIGINT_MAX, BIGINT_MIN

__all__ = [
    "COLUMN_FIELDS",
    "Event",
    "column_fields_of",
    "decode_event",
    "event_class",
    "events_defined_in",
    "registered_event_types",
]

_E = TypeVar("_E", bound="Event")

_REGISTRY: dict[str, type[Event]] = {}

#: The event fields a stored row also holds in columns of its own. The row encoder
#: (``ingest.encoding.stored_json``) leaves a field out of ``data`` when its column holds
#: the field's value exactly, and :func:`decode_event` puts the column back: storing each
#: value once is what takes TimescaleDB's compression past 90 % (a UUID per row is the
#: least compressible part of ``data``). The one home of the pair; both sides read it.
COLUMN_FIELDS: tuple[str, ...] = ("user_id", "service")
_EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def _snake_case(name: str) -> str:
    """``TaskCreated`` -> ``task_created``; ``OAuthFlowStarted`` -> ``oauth_flow_started``."""
    name = name.replace("OAuth", "Oauth")
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


@typing.dataclass_transform(
    kw_only_default=True, frozen_default=True, field_specifiers=(msgspec.field,)
)
class _EventMeta(msgspec.StructMeta):
    """Makes every event class keyword-only, frozen and GC-untracked without repeating it
    per class.

    Keyword-only lets required fields follow optional ones (``user_id`` first, as in
    the seed) and keeps call sites readable; frozen events are safe to share between
    threads. Only class creation goes through here: construction costs nothing extra.
    """

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> _EventMeta:
        kwargs.setdefault("kw_only", True)
        kwargs.setdefault("frozen", True)
        # Not tracked by the cyclic garbage collector: an outage can leave 100,000
        # events queued, and every gen-2 collection would walk all of them (under 8
        # producer threads this doubled the cost of track()). Events hold scalars and
        # lists of scalars, so they cannot be part of a reference cycle.
        kwargs.setdefault("gc", False)
        if kwargs.get("array_like"):
            # A stored event is a JSON object: the aggregates read its keys, the row
            # encoder adds "_meta" to it and leaves out the column copies by key.
            raise EventValidationError(f"{name}: an event class cannot be array_like")
        return super().__new__(mcls, name, bases, namespace, **kwargs)


class Event(msgspec.Struct, metaclass=_EventMeta):
    """Base class of every trackable event.

    Subclasses declare typed fields. ``event_type`` (a class variable) is the stable
    snake_case name stored in the ``event_type`` column; it defaults to the class name in
    snake_case and must be unique across all registered classes, because it is how
    stored rows are decoded back into objects.

    Two field names have a meaning to the pipeline: ``user_id`` (a ``uuid.UUID`` or
    None) fills the ``user_id`` column, and ``service`` (a ``str``) overrides the
    client's service name for the ``service`` column. Both are optional. A value its
    column holds is stored there only, not again in ``data`` (:data:`COLUMN_FIELDS`).
    """

    event_type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event_type" not in cls.__dict__ or not cls.__dict__["event_type"]:
            cls.event_type = _snake_case(cls.__name__)
        et = cls.event_type
        if not _EVENT_TYPE_RE.match(et):
            raise EventValidationError(
                f"{cls.__name__}.event_type {et!r} must be snake_case, 1-100 characters"
            )
        other = _REGISTRY.get(et)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise EventValidationError(
                f"event_type {et!r} of {cls.__module__}.{cls.__qualname__} is already used by "
                f"{other.__module__}.{other.__qualname__}"
            )
        _REGISTRY[et] = cls
        # Each class gets its own bootstrap so a subclass never inherits a parent's checker.
        cls._check_fields = _bootstrap_checker  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        self._check_fields()

    def _check_fields(self) -> None:
        """Replaced per class by a generated checker on first construction."""

    @property
    def concerned_user_id(self) -> uuid.UUID | None:
        """The user this event concerns, or None (the ``user_id`` field, if declared)."""
        value = getattr(self, "user_id", None)
        return value if isinstance(value, uuid.UUID) else None

    @property
    def concerned_service(self) -> str | None:
        """The service named by the event itself (its ``service`` field), if any."""
        value = getattr(self, "service", None)
        return value if isinstance(value, str) else None

    def to_json(self) -> bytes:
        """The JSON stored in ``data`` (fields only; the type lives in its own column)."""
        return _ENCODER.encode(self)

    @classmethod
    def from_json(cls: type[_E], data: bytes | str) -> _E:
        """Decode the JSON stored in ``data`` back into this event class (strictly typed)."""
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.ValidationError as err:
            raise EventValidationError(f"{cls.__name__}: {err}") from err


_ENCODER = msgspec.json.Encoder()


def event_class(event_type: str) -> type[Event]:
    """The registered class for an ``event_type`` string."""
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise UnknownEventTypeError(f"no event class registered for {event_type!r}") from None


def registered_event_types() -> dict[str, type[Event]]:
    """A copy of the registry: every ``event_type`` known in this process."""
    return dict(_REGISTRY)


def events_defined_in(module: str) -> tuple[type[Event], ...]:
    """The registered classes defined in ``module``, in definition order.

    This is how a catalogue is *derived* instead of listed: ``events.catalog`` defines
    its classes once, and its ``ALL``, its ``__all__`` (hence the package's exports),
    the docs table, the JSON Schemas and the collector's wire types all come from this
    call. A class redefined under the same qualified name (a reload) replaces the old one
    in place, so the order stays the order of first definition.
    """
    return tuple(cls for cls in _REGISTRY.values() if cls.__module__ == module)


def column_fields_of(event_type: str) -> dict[str, str]:
    """The :data:`COLUMN_FIELDS` that ``event_type``'s registered class declares, each
    with the JSON key the class encodes it under (``"userId"`` for a class with
    ``rename="camel"``); empty for an unknown type. Where a row's columns go back into
    the event's fields: :func:`decode_event` and the HTTP sink's wire events."""
    cls = _REGISTRY.get(event_type)
    return {} if cls is None else _column_names(cls)


_COLUMN_NAMES: dict[type[Event], dict[str, str]] = {}


def _column_names(cls: type[Event]) -> dict[str, str]:
    names = _COLUMN_NAMES.get(cls)
    if names is None:
        encoded = dict(zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True))
        names = _COLUMN_NAMES[cls] = {f: encoded[f] for f in COLUMN_FIELDS if f in encoded}
    return names


class _Unset(enum.Enum):
    UNSET = "unset"


_UNSET: typing.Final = _Unset.UNSET


def decode_event(
    event_type: str,
    data: bytes | str,
    *,
    user_id: uuid.UUID | _Unset | None = _UNSET,
    service: str | _Unset | None = _UNSET,
) -> Event:
    """Rebuild the typed event from a stored row's ``event_type``, ``data`` and columns.

    ``data`` leaves out the :data:`COLUMN_FIELDS` its row's columns hold, so pass the
    row's ``user_id`` and ``service`` columns (``EnrichedEvent.from_record(row)`` does).
    A key that ``data`` does hold wins over the column: rows stored before the copies
    were dropped (and rows whose field the column could not hold exactly, such as an
    empty ``service``) decode exactly as before. Keys the class does not declare (such
    as the ``_meta`` the worker adds) are ignored, so rows stay decodable after fields
    are removed from a class.
    """
    cls = event_class(event_type)
    return cls.from_json(_with_columns(cls, data, user_id, service))


def _with_columns(
    cls: type[Event], data: bytes | str, user_id: object, service: object
) -> bytes | str:
    """``data`` with the column values put in front, where ``cls`` declares the field.

    In front, because msgspec keeps the *last* of repeated keys: a copy ``data`` still
    holds wins, and nothing else in ``data`` has to be parsed or searched.
    """
    names = _column_names(cls)
    user_key, service_key = (names.get(f) for f in COLUMN_FIELDS)
    parts = []
    if user_key is not None and user_id is not _UNSET:
        parts.append(_ENCODER.encode(user_key) + b":" + _ENCODER.encode(user_id))
    if service_key is not None and isinstance(service, str):
        parts.append(_ENCODER.encode(service_key) + b":" + _ENCODER.encode(service))
    if not parts:
        return data
    raw = (data.encode() if isinstance(data, str) else bytes(data)).lstrip()
    if not raw.startswith(b"{"):
        return data  # not an object: the decoder says what it is
    rest = raw[1:]
    head = b"{" + b",".join(parts)
    return head + rest if rest.lstrip().startswith(b"}") else head + b"," + rest


# --------------------------------------------------------------------------- checking


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel = 3  # a value nested 100,000 deep must not make the message fail
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 60


def _fail(cls_name: str, field: str, expected: str, value: object) -> typing.NoReturn:
    try:
        shown = _SHORT_REPR.repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        shown = f"<unprintable {type(value).__name__}>"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise EventValidationError(
        f"{cls_name}.{field}: expected {expected}, got {type(value).__name__} ({shown})"
    )


def _convert_check(tp: Any) -> Callable[[object], bool]:
    """Deep check for containers and constrained types, delegated to msgspec."""

    def check(value: object) -> bool:
        try:
            msgspec.convert(value, tp, strict=True)
        except (msgspec.ValidationError, RecursionError):  # too deep is invalid, not a crash
            return False
        return True

    return check


def _describe(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _bounds(tp: Any) -> tuple[Any, int | None, int | None] | None:
    """``(int, lo, hi)`` for ``Annotated[int, msgspec.Meta(ge=.., le=..)]``, else None.

    Only inclusive integer bounds are checked inline; any other constraint goes to
    msgspec (slower, still correct).
    """
    base, *extras = get_args(tp)
    if base is not int or not extras:
        return None
    lo: int | None = None
    hi: int | None = None
    for meta in extras:
        if not isinstance(meta, msgspec.Meta):
            return None
        other = {
            name
            for name in ("gt", "lt", "multiple_of", "pattern", "min_length", "max_length")
            if getattr(meta, name) is not None
        }
        if other or any(b is not None and not isinstance(b, int) for b in (meta.ge, meta.le)):
            return None
        if isinstance(meta.ge, int):
            lo = meta.ge
        if isinstance(meta.le, int):
            hi = meta.le
    return base, lo, hi


def _int_condition(var: str, lo: int | None, hi: int | None) -> str:
    wrong_type = (
        f"({var}.__class__ is not int and (not isinstance({var}, int) or isinstance({var}, bool)))"
    )
    lo = BIGINT_MIN if lo is None else lo
    hi = BIGINT_MAX if hi is None else hi
    return f"({wrong_type} or not ({lo} <= {var} <= {hi}))"


def _converted(tp: Any, var: str, ns: dict[str, Any]) -> str:
    key = f"_conv{len(ns)}"
    ns[key] = _convert_check(tp)
    return f"not {key}({var})"


def _scalar_condition(tp: Any, var: str) -> str | None:
    """The inline check for bool, int, float and datetime; None for other types."""
    if tp is bool:
        return f"{var}.__class__ is not bool"
    if tp is int:
        return _int_condition(var, None, None)
    if tp is float:
        return (
            f"(not isinstance({var}, (int, float)) or isinstance({var}, bool)"
            f" or (isinstance({var}, float) and not _isfinite({var})))"
        )
    if tp is _dt.datetime:
        return f"(not isinstance({var}, _datetime) or {var}.tzinfo is None)"
    return None


def _condition(tp: Any, var: str, ns: dict[str, Any]) -> str | None:
    """A Python expression true when ``var`` is *not* a valid value of ``tp``.

    None means "accept anything" (``Any``/``object``). Integers are also held to their
    bounds and floats to finite values (``events.limits``).
    """
    if tp is Any or tp is object:
        return None
    origin = get_origin(tp)
    if origin is typing.Annotated:
        bounds = _bounds(tp)
        return _int_condition(var, bounds[1], bounds[2]) if bounds else _converted(tp, var, ns)
    if origin is not None and origin not in (types.UnionType, typing.Union, Literal):
        return _converted(tp, var, ns)
    if origin in (types.UnionType, typing.Union):
        parts: list[str] = []
        for arg in get_args(tp):
            if arg is type(None):
                parts.append(f"{var} is not None")
                continue
            cond = _condition(arg, var, ns)
            if cond is None:
                return None
            parts.append(f"({cond})")
        return " and ".join(parts)
    if origin is Literal:
        key = f"_lit{len(ns)}"
        ns[key] = frozenset(get_args(tp))
        return f"{var} not in {key}"
    scalar = _scalar_condition(tp, var)
    if scalar is not None:
        return scalar
    if isinstance(tp, type):
        key = f"_t{len(ns)}"
        ns[key] = tp
        return f"({var}.__class__ is not {key} and not isinstance({var}, {key}))"
    return _converted(tp, var, ns)


def _expected(tp: Any) -> str:
    if tp is type(None):
        return "None"
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_expected(arg) for arg in get_args(tp))
    if origin is typing.Annotated:
        bounds = _bounds(tp)
        if bounds is not None:
            lo = BIGINT_MIN if bounds[1] is None else bounds[1]
            hi = BIGINT_MAX if bounds[2] is None else bounds[2]
            return f"int in {lo}..{hi}"
    if tp is int:
        return "int in -2**63..2**63-1 (a PostgreSQL bigint)"
    if tp is float:
        return "finite float (not NaN or infinity)"
    if tp is _dt.datetime:
        return "timezone-aware datetime"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"{tp.__name__} member"
    return _describe(tp)


def _build_checker(cls: type[Event]) -> Callable[[Event], None]:
    hints = typing.get_type_hints(cls, include_extras=True)
    ns: dict[str, Any] = {"_fail": _fail, "_datetime": _dt.datetime, "_isfinite": math.isfinite}
    lines = ["def _check_fields(self):"]
    for name in cls.__struct_fields__:
        tp = hints[name]
        cond = _condition(tp, "v", ns)
        if cond is None:
            continue
        exp_key = f"_exp_{name}"
        ns[exp_key] = _expected(tp)
        lines.append(f"    v = self.{name}")
        lines.append(f"    if {cond}: _fail({cls.__name__!r}, {name!r}, {exp_key}, v)")
    if len(lines) == 1:
        lines.append("    pass")
    exec("\n".join(lines), ns)  # noqa: S102 - source built only from our own templates
    checker: Callable[[Event], None] = ns["_check_fields"]
    return checker


def _bootstrap_checker(self: Event) -> None:
    cls = type(self)
    checker = _build_checker(cls)
    cls._check_fields = checker  # type: ignore[method-assign,assignment]
    checker(self)
