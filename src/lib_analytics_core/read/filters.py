"""The filter language of the read side: conditions on any field of any stored event.

A :class:`Filter` is ``(field, op, value)``. Fields (a :class:`Dimension`):

* ``service``: the row's service column; ``user_id``: its user column (a UUID);
* ``host``, ``release``, ``environment``: the producer's metadata every row carries
  (``data._meta``: ``host``, ``release``, ``env``);
* any other name: a top-level key of the event's stored ``data`` (the event's own
  fields, custom events included). ``data.<name>`` names a data key explicitly, for a
  custom event with a field called ``host`` or ``service``.

Names are checked against :data:`NAME_PATTERN` and travel to the database as bind
parameters (``data -> $3``): no user text is ever part of the SQL.

Operators (:data:`OPERATORS`), with the meaning both this module's SQL and the tests'
reference implementation follow (``docs/api.md`` has the same list):

* ``=`` / ``!=``: when the value is a JSON number literal and the field holds a JSON
  number, the two compare as numbers (``100`` equals ``100.0``); otherwise the field's
  text compares with the value's text (strings as they are, ``true``/``false``, numbers
  as stored).
* ``in``: equal (as ``=``) to any of 1-1,000 values.
* ``<`` / ``>``: the value must be a number; only fields holding a JSON number match.
* ``is null`` / ``is not null``: the field is absent or JSON ``null`` (or not).

A row whose field is absent or ``null`` matches only ``is null`` (SQL's three-valued
logic: ``!=`` does not match it either). Filters combine with AND.

Bad names, operators or values raise :class:`~lib_analytics_core.QueryError` (the API's
400) naming the filter. The query-string form is ``field:op:value`` (:func:`parse_filter`).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, get_args

from .._errors import QueryError
from ._exec import Params

__all__ = [
    "MAX_IN_VALUES",
    "MAX_VALUE_CHARS",
    "META_FIELDS",
    "NAME_PATTERN",
    "OPERATORS",
    "Dimension",
    "Filter",
    "Op",
    "dimension",
    "number_sql",
    "parse_filter",
    "text_sql",
    "where_sql",
]

Op = Literal["=", "!=", "in", "<", ">", "is null", "is not null"]
OPERATORS: Final[tuple[str, ...]] = get_args(Op)
#: The query-string spelling of each operator (``field:op:value``).
_OP_WORDS: Final[dict[str, Op]] = {
    "eq": "=",
    "ne": "!=",
    "in": "in",
    "lt": "<",
    "gt": ">",
    "is_null": "is null",
    "is_not_null": "is not null",
}

_WORDS: Final[dict[str, str]] = {op: word for word, op in _OP_WORDS.items()}
#: A data field's name: what a Python field or a JSON key of a typical event looks like.
NAME_PATTERN: Final = r"[A-Za-z_][A-Za-z0-9_]{0,99}"
_NAME = re.compile(rf"^{NAME_PATTERN}$")
#: A JSON number literal (RFC 8259): only these compare as numbers.
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
#: Values of one ``in``, and characters of one value (field values are short labels).
MAX_IN_VALUES: Final = 1_000
MAX_VALUE_CHARS: Final = 1_000

#: The metadata names, each with its key in ``data._meta`` (``ClientMetadata``).
META_FIELDS: Final[dict[str, str]] = {"host": "host", "release": "release", "environment": "env"}
_COLUMNS: Final = ("service", "user_id")
_DATA_PREFIX: Final = "data."

Scalar = str | int | float | bool | Decimal


@dataclass(frozen=True, slots=True)
class Dimension:
    """A field resolved: ``kind`` is ``"column"``, ``"meta"`` or ``"data"``; ``key`` the
    column, metadata key or data key."""

    name: str
    kind: Literal["column", "meta", "data"]
    key: str


def dimension(name: str) -> Dimension:
    """The field ``name`` names (module docstring), or :class:`QueryError`."""
    if not isinstance(name, str):
        raise QueryError(f"a field name must be a string, got {name!r}")
    if name in _COLUMNS:
        return Dimension(name, "column", name)
    if name in META_FIELDS:
        return Dimension(name, "meta", META_FIELDS[name])
    key = name.removeprefix(_DATA_PREFIX)
    if not _NAME.match(key) or key == "_meta":
        raise QueryError(
            f"invalid field name {name!r}: a field is service, user_id, host, release, "
            f"environment, or an event field matching {NAME_PATTERN} (data.<name> for an "
            "event field named like one of the others)"
        )
    return Dimension(name, "data", key)


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition (module docstring); validated when built, so a bad one never reaches
    SQL. ``value``: a scalar for ``=``/``!=``, a number for ``<``/``>``, a sequence for
    ``in``, nothing for ``is null``/``is not null``."""

    field: str
    op: Op
    value: Scalar | Sequence[Scalar] | None = None

    def __str__(self) -> str:
        """The query-string form (:func:`parse_filter` reads it back)."""
        word = _WORDS[self.op]
        if self.value is None:
            return f"{self.field}:{word}"
        if self.op == "in":
            return f"{self.field}:{word}:" + ",".join(_text(v, "") for v in self.value)  # type: ignore[union-attr]
        return f"{self.field}:{word}:{_text(self.value, '')}"

    def __post_init__(self) -> None:
        dim = dimension(self.field)
        if self.op not in OPERATORS:
            raise QueryError(
                f"filter on {self.field!r}: unknown operator {self.op!r}; use one of "
                + ", ".join(OPERATORS)
            )
        where = f"filter {self.field} {self.op}"
        if self.op in ("is null", "is not null"):
            if self.value is not None:
                raise QueryError(f"{where}: takes no value")
        elif self.op == "in":
            object.__setattr__(self, "value", _in_values(self.value, dim, where))
        else:
            _check_scalar(self.op, self.value, dim, where)


def _in_values(values: object, dim: Dimension, where: str) -> tuple[Scalar, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise QueryError(f"{where}: needs a list of values")
    out = tuple(values)
    if not 1 <= len(out) <= MAX_IN_VALUES:
        raise QueryError(f"{where}: needs 1 to {MAX_IN_VALUES} values")
    for v in out:
        _text(v, where)
        if dim.kind == "column" and dim.key == "user_id":
            _uuid(v, where)
    return out


def _check_scalar(op: str, raw: object, dim: Dimension, where: str) -> None:
    if isinstance(raw, Iterable) and not isinstance(raw, str):
        raise QueryError(f"{where}: takes one value (use 'in' for several)")
    _text(raw, where)
    if op in ("<", ">"):
        if dim.kind != "data":
            raise QueryError(
                f"{where}: {dim.name} holds text; < and > compare numeric event fields"
            )
        if _number(raw) is None:
            raise QueryError(f"{where}: < and > need a number, got {raw!r}")
    elif dim.kind == "column" and dim.key == "user_id":
        _uuid(raw, where)


def _text(value: object, where: str) -> str:
    """The text form of a scalar filter value (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QueryError(f"{where}: a number must be finite, got {value!r}")
        return repr(value)
    if not isinstance(value, str):
        raise QueryError(f"{where}: values are strings, numbers or booleans, got {value!r}")
    if len(value) > MAX_VALUE_CHARS or "\x00" in value:
        raise QueryError(f"{where}: a value has at most {MAX_VALUE_CHARS} characters and no NUL")
    return value


def _number(value: object) -> Decimal | None:
    """``value`` as an exact number when it is one (a JSON number literal, an int or a
    finite float), else None. Booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and len(value) <= 100 and _NUMBER.match(value):
        return Decimal(value)
    return None


def _uuid(value: object, where: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise QueryError(f"{where}: user_id values are UUIDs, got {value!r}") from None


def parse_filter(text: str) -> Filter:
    """A filter from its query-string form ``field:op[:value]``.

    ``op`` is ``eq``, ``ne``, ``in``, ``lt``, ``gt``, ``is_null`` or ``is_not_null``. The
    value is everything after the second colon (it may contain colons); for ``in`` it is
    comma-separated (``currency:in:EUR,USD``). Values stay text: whether one compares as a
    number is decided by the rules above, not by the parser.
    """
    if not isinstance(text, str) or not text:
        raise QueryError("a filter is field:op:value, e.g. amount_cents:gt:100")
    field, sep, rest = text.partition(":")
    op_word, sep2, value = rest.partition(":")
    if not sep:
        raise QueryError(f"filter {text!r}: expected field:op:value, e.g. currency:eq:EUR")
    op = _OP_WORDS.get(op_word)
    if op is None:
        raise QueryError(
            f"filter {text!r}: unknown operator {op_word!r}; use one of " + ", ".join(_OP_WORDS)
        )
    if op in ("is null", "is not null"):
        if sep2:
            raise QueryError(f"filter {text!r}: {op_word} takes no value")
        return Filter(field, op)
    if not sep2:
        raise QueryError(f"filter {text!r}: {op_word} needs a value after a second colon")
    if op == "in":
        return Filter(field, op, tuple(value.split(",")))
    return Filter(field, op, value)


# ------------------------------------------------------------------------------ SQL


def _json_sql(dim: Dimension, params: Params, data: str) -> str:
    """The field as ``jsonb`` (data fields only)."""
    return f"({data} -> {params.add(dim.key)}::text)"


def text_sql(name: str, params: Params, *, alias: str = "") -> str:
    """The field as text (``->>``'s text for data fields): what a group-by groups by.
    ``alias``: the events table's alias in the statement (``"e"``), if any."""
    dim = dimension(name)
    prefix = _alias(alias)
    if dim.kind == "column":
        return f"{prefix}{dim.key}::text"
    if dim.kind == "meta":
        return f"({prefix}data -> '_meta' ->> '{dim.key}')"  # a constant of META_FIELDS
    return f"({prefix}data ->> {params.add(dim.key)}::text)"


def number_sql(name: str, params: Params, *, alias: str = "") -> str:
    """The field as ``numeric`` where it holds a JSON number, else NULL: what a measure
    (sum, average, percentiles) aggregates. Only event fields are numeric."""
    dim = dimension(name)
    if dim.kind != "data":
        raise QueryError(f"{name} holds text: measures need a numeric event field")
    j = _json_sql(dim, params, f"{_alias(alias)}data")
    return f"(CASE WHEN jsonb_typeof({j}) = 'number' THEN {j}::numeric END)"


def where_sql(filters: Iterable[Filter], params: Params, *, alias: str = "") -> list[str]:
    """One SQL condition per filter (to be joined with AND), values bound in ``params``."""
    return [_condition(f, params, alias) for f in filters]


def _alias(alias: str) -> str:
    if not alias:
        return ""
    if not _NAME.match(alias):
        raise ValueError(f"invalid table alias {alias!r}")  # a programming error
    return f"{alias}."


def _condition(f: Filter, params: Params, alias: str) -> str:
    dim = dimension(f.field)
    prefix = _alias(alias)
    if dim.kind == "column" and dim.key == "user_id":
        return _user_condition(f, params, prefix)
    if dim.kind != "data":
        text = text_sql(f.field, params, alias=alias)
        if f.op == "is null":
            return f"{text} IS NULL"
        if f.op == "is not null":
            return f"{text} IS NOT NULL"
        if f.op == "in":
            texts = [_text(v, "") for v in f.value]  # type: ignore[union-attr]
            return f"{text} = ANY({params.add(texts)}::text[])"
        cmp = "=" if f.op == "=" else "<>"
        return f"{text} {cmp} {params.add(_text(f.value, ''))}"
    j = _json_sql(dim, params, f"{prefix}data")
    if f.op == "is null":
        return f"coalesce(jsonb_typeof({j}), 'null') = 'null'"
    if f.op == "is not null":
        return f"jsonb_typeof({j}) <> 'null'"
    if f.op in ("<", ">"):
        return (
            f"(CASE WHEN jsonb_typeof({j}) = 'number'"
            f" THEN {j}::numeric {f.op} {params.add(_number(f.value))}::numeric END)"
        )
    values: tuple[Scalar, ...] = f.value if f.op == "in" else (f.value,)  # type: ignore[assignment]
    texts = [_text(v, "") for v in values]
    numbers = [n for n in (_number(v) for v in values) if n is not None]
    if f.op == "in":
        text = f"({prefix}data ->> {params.add(dim.key)}::text)"
        by_text = f"{text} = ANY({params.add(texts)}::text[])"
        by_number = f"{j}::numeric = ANY({params.add(numbers)}::numeric[])" if numbers else "FALSE"
        return f"(CASE WHEN jsonb_typeof({j}) = 'number' THEN {by_number} ELSE {by_text} END)"
    cmp = "=" if f.op == "=" else "<>"
    by_text = f"({prefix}data ->> {params.add(dim.key)}::text) {cmp} {params.add(texts[0])}"
    if not numbers:
        # a non-numeric value never equals a number's text, so "!=" holds for numbers
        number_case = "FALSE" if cmp == "=" else "TRUE"
    else:
        number_case = f"{j}::numeric {cmp} {params.add(numbers[0])}::numeric"
    return f"(CASE WHEN jsonb_typeof({j}) = 'number' THEN {number_case} ELSE {by_text} END)"


def _user_condition(f: Filter, params: Params, prefix: str) -> str:
    col = f"{prefix}user_id"
    if f.op == "is null":
        return f"{col} IS NULL"
    if f.op == "is not null":
        return f"{col} IS NOT NULL"
    if f.op == "in":
        ids = [_uuid(v, "") for v in f.value]  # type: ignore[union-attr]
        return f"{col} = ANY({params.add(ids)}::uuid[])"
    cmp = "=" if f.op == "=" else "<>"
    return f"{col} {cmp} {params.add(_uuid(f.value, ''))}::uuid"
