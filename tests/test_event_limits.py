"""Issue 14 item 2, construction side: values the aggregates cannot hold are refused.

One ``ApiRequest(status_code=2**40)`` stored used to make every later refresh of the
latency aggregate fail. The documented rules (``events.limits``) refuse such values
where the event is built, naming the field; these tests go through every integer field
the aggregates' SQL reads, found from the migration files themselves.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import typing
import uuid
from importlib import resources
from typing import Any

import pytest

from lib_analytics_core import (
    AnalyticsClient,
    AnalyticsEvent,
    ApiRequest,
    CocoonDisconnected,
    ConfigurationError,
    Event,
    EventValidationError,
    IntegrationUsed,
    TaskCompleted,
    TaskFailed,
)
from tests._factories import build

DAYS_366_MS = 366 * 86_400_000

#: The documented range (events.limits) of each integer the aggregates' SQL casts.
RANGES = {
    "status_code": (100, 599),
    "duration_ms": (0, 2**31 - 1),
    "session_duration_ms": (0, DAYS_366_MS),
}
#: Counts and sizes: never negative.
COUNTS = {"attempts", "rows", "payload_bytes", "expires_in_secs", "queue_wait_ms"}
HOSTILE = [2**40, 2**63, -1]


def _aggregate_sql() -> str:
    folder = resources.files("lib_analytics_core.schema") / "migrations"
    return "".join(f.read_text() for f in folder.iterdir() if f.name.endswith(".sql"))


def _int_fields(cls: type[Event]) -> list[str]:
    hints = typing.get_type_hints(cls)  # Annotated stripped: the base types
    return [
        name
        for name in cls.__struct_fields__
        if hints[name] is int or int in typing.get_args(hints[name])
    ]


#: Every catalogue field carrying a name the aggregates cast, with its range.
AGGREGATE_FIELDS: list[tuple[type[Event], str, int, int]] = [
    (cls, name, *RANGES[name])
    for cls in AnalyticsEvent.ALL
    for name in _int_fields(cls)
    if name in RANGES
]


def _field_id(case: tuple[type[Event], str, int, int]) -> str:
    return f"{case[0].__name__}.{case[1]}"


def test_every_integer_the_aggregates_cast_has_a_documented_range() -> None:
    cast = set(re.findall(r"data->>'(\w+)'\)::(?:int|bigint|numeric)", _aggregate_sql()))
    assert cast == set(RANGES)
    covered = {(cls, name) for cls, name, _, _ in AGGREGATE_FIELDS}
    assert {(ApiRequest, "status_code"), (ApiRequest, "duration_ms")} <= covered
    assert {(TaskCompleted, "duration_ms"), (TaskFailed, "duration_ms")} <= covered
    assert {(IntegrationUsed, "duration_ms"), (CocoonDisconnected, "session_duration_ms")} <= (
        covered
    )


def _with(cls: type[Event], name: str, value: Any) -> Event:
    fields = {k: getattr(build(cls, seed=1), k) for k in cls.__struct_fields__}
    fields[name] = value
    return cls(**fields)


@pytest.mark.parametrize("case", AGGREGATE_FIELDS, ids=_field_id)
@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: f"{v:_}")
def test_out_of_range_values_are_refused_naming_the_field(
    case: tuple[type[Event], str, int, int], value: int
) -> None:
    cls, name, _, _ = case
    with pytest.raises(EventValidationError, match=rf"^{cls.__name__}\.{name}: expected int in"):
        _with(cls, name, value)


@pytest.mark.parametrize("case", AGGREGATE_FIELDS, ids=_field_id)
def test_the_documented_bounds_are_inclusive(case: tuple[type[Event], str, int, int]) -> None:
    cls, name, lo, hi = case
    assert getattr(_with(cls, name, lo), name) == lo
    assert getattr(_with(cls, name, hi), name) == hi
    for outside in (lo - 1, hi + 1):
        with pytest.raises(EventValidationError, match=rf"{cls.__name__}\.{name}"):
            _with(cls, name, outside)


@pytest.mark.parametrize("cls", AnalyticsEvent.ALL, ids=lambda c: c.__name__)
def test_every_catalogue_integer_fits_a_bigint_and_counts_are_not_negative(
    cls: type[Event],
) -> None:
    for name in _int_fields(cls):
        for value in (2**63, -(2**63) - 1, *((-1,) if name in COUNTS else ())):
            with pytest.raises(EventValidationError, match=rf"{cls.__name__}\.{name}"):
                _with(cls, name, value)


def test_decoding_applies_the_same_bounds() -> None:
    good = ApiRequest(service="s", method="GET", endpoint="/", status_code=200, duration_ms=5)
    stored = good.to_json().replace(b'"status_code":200', b'"status_code":1099511627776')
    with pytest.raises(EventValidationError, match="status_code"):
        ApiRequest.from_json(stored)


class Measured(Event):
    """A custom event: the rules hold for users' own classes too."""

    event_type: typing.ClassVar[str] = "limits_test_measured"
    ratio: float
    total: int
    share: float | None = None
    user_id: uuid.UUID | None = None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=str)
def test_nan_and_infinity_are_refused(value: float) -> None:
    with pytest.raises(EventValidationError, match=r"Measured\.ratio: expected finite float"):
        Measured(ratio=value, total=1)
    with pytest.raises(EventValidationError, match=r"Measured\.share"):
        Measured(ratio=1.0, total=1, share=value)


def test_custom_integers_are_held_to_a_bigint_and_finite_floats_pass() -> None:
    with pytest.raises(EventValidationError, match=r"Measured\.total: expected int in -2\*\*63"):
        Measured(ratio=0.5, total=2**63)
    edge = Measured(ratio=1e308, total=2**63 - 1, share=-0.0)
    assert (edge.total, edge.share) == (2**63 - 1, -0.0)
    assert Measured(ratio=1, total=-(2**63)).ratio == 1  # an int is a valid float


@pytest.mark.parametrize(
    "when", ["2026-03-01T00:00:00Z", 1_772_323_200, None, dt.date(2026, 3, 1)], ids=repr
)
def test_track_at_refuses_what_is_not_an_aware_datetime_with_the_documented_error(
    when: object,
) -> None:
    client, _ = AnalyticsClient.new()
    event = build(TaskCompleted, seed=1)
    with pytest.raises(ConfigurationError, match="timezone-aware datetime"):
        client.track_at(event, when)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="naive"):
        client.track_at(event, dt.datetime(2026, 3, 1))
    assert client.queue_depth == 0


class Nested(Event):
    event_type: typing.ClassVar[str] = "limits_test_nested"
    values: list[int]
    user_id: uuid.UUID | None = None


class Shouting:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def test_a_refused_value_that_cannot_be_printed_still_gives_the_documented_error() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(EventValidationError, match=r"^Nested\.values: expected list\[int\]"):
        Nested(values=deep)  # type: ignore[arg-type]
    with pytest.raises(EventValidationError, match=r"Measured\.total: expected int .*Shouting"):
        Measured(ratio=1.0, total=Shouting())  # type: ignore[arg-type]
