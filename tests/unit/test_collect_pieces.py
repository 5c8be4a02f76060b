"""The collector's pure pieces: the top-level splitter, content ids, tokens, rate."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_analytics_core.collect.batch import content_event_id
from lib_analytics_core.collect.ratelimit import EventRateLimit
from lib_analytics_core.collect.tokens import TokenTable
from lib_analytics_core.events.wire import split_top_level

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.sampled_from('ab"\\[]{},: \n\u00e9'), max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.lists(_json, max_size=6), st.sampled_from([None, 0, 2]))
def test_the_splitter_finds_exactly_msgspecs_elements(items: list[Any], indent: int | None) -> None:
    # compact (msgspec) or with whitespace between tokens (as other encoders write it)
    body = (
        msgspec.json.encode(items) if indent is None else json.dumps(items, indent=indent).encode()
    )
    raws = split_top_level(body)
    assert [msgspec.json.decode(bytes(r)) for r in raws] == items


def test_the_splitter_refuses_what_is_not_an_array() -> None:
    with pytest.raises(msgspec.DecodeError):
        split_top_level(b'{"a": 1}')


T = dt.datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=dt.UTC)


def _id(**changes: Any) -> Any:
    args: dict[str, Any] = {
        "event_json": b'{"a":1}',
        "service": "s",
        "hostname": "h",
        "environment": None,
        **changes,
    }
    timestamp = args.pop("timestamp", T)
    return content_event_id(timestamp, args.pop("event_type", "t"), **args)


def test_content_ids_are_deterministic_time_ordered_and_sensitive_to_every_part() -> None:
    base = _id()
    assert base == _id() and base.version == 7
    assert int(base.hex[:12], 16) == int(T.timestamp() * 1000)
    variants = [
        _id(timestamp=T + dt.timedelta(microseconds=1)),
        _id(event_type="u"),
        _id(event_json=b'{"a":2}'),
        _id(service="s2"),
        _id(hostname="h2"),
        _id(hostname=None),
        _id(environment=""),
        _id(service="sh", hostname=""),  # no ambiguity between neighbouring parts
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_content_ids_are_pinned_and_equal_the_integer_reference() -> None:
    """The ids of events sent without one never change across versions (a retry that
    spans an upgrade must land on the same row), and the assembled UUID is the integer
    the docstring describes."""
    import hashlib

    t = dt.datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    pinned = content_event_id(
        t,
        "task_created",
        event_json=b'{"task_id":"x"}',
        service="platform",
        hostname="web-1",
        environment="production",
    )
    assert str(pinned) == "01a2310c-017b-7655-ba4a-7e346c36e6a0"
    early = dt.datetime(1999, 1, 2, tzinfo=dt.UTC)
    plain = content_event_id(
        early, "api_request", event_json=b"{}", service="auth", hostname=None, environment=None
    )
    assert str(plain) == "00d51844-dc00-7c15-8cee-674e06a59242"
    micros = (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    header = b'[%d,"task_created","platform","web-1","production"]' % micros
    digest = hashlib.blake2b(header + b'{"task_id":"x"}', digest_size=10).digest()
    value = int.from_bytes(digest, "big")  # the integer of the module docstring
    rand_a, rand_b = value >> 68, value & ((1 << 62) - 1)  # 12 bits, 62 bits of the 80
    expected = (
        (((micros // 1000) & 0xFFFF_FFFF_FFFF) << 80)
        | (0x7 << 76)
        | (rand_a << 64)
        | (0b10 << 62)
        | rand_b
    )
    assert pinned.int == expected


def _reference_content_id(case: tuple[dt.datetime, str, bytes, str, str | None, str | None]) -> int:
    """The content id as the module docstring defines it, computed the plain way."""
    import hashlib

    timestamp, event_type, event_json, service, hostname, environment = case
    micros = (timestamp - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    header = msgspec.json.encode([micros, event_type, service, hostname, environment])
    value = int.from_bytes(hashlib.blake2b(header + event_json, digest_size=10).digest(), "big")
    return (
        (((micros // 1000) & 0xFFFF_FFFF_FFFF) << 80)
        | (0x7 << 76)
        | ((value >> 68) << 64)
        | (0b10 << 62)
        | (value & ((1 << 62) - 1))
    )


_TIMESTAMPS = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
)
_NAMES = st.none() | st.text(max_size=20)


@given(
    case=st.tuples(
        _TIMESTAMPS,
        st.text(max_size=30),
        st.binary(max_size=300),
        st.text(max_size=20),
        _NAMES,
        _NAMES,
    )
)
def test_content_ids_equal_the_plain_computation(
    case: tuple[dt.datetime, str, bytes, str, str | None, str | None],
) -> None:
    """The fast path (a copied BLAKE2b state fed twice, the UUID assembled as one
    integer) gives the documented id for any input, before 1970 included."""
    timestamp, event_type, event_json, service, hostname, environment = case
    got = content_event_id(
        timestamp,
        event_type,
        event_json=event_json,
        service=service,
        hostname=hostname,
        environment=environment,
    )
    assert got.int == _reference_content_id(case)


def test_every_token_is_compared_with_no_early_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    table = TokenTable.parse(",".join(f"token-{i:02d}-0123456789abc=s{i}" for i in range(5)))
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    grant = table.authenticate("Bearer token-00-0123456789abc")
    assert grant is not None and grant.services == ("s0",)
    assert len(calls) == 5  # the first entry matched; the other four were compared too


def test_rate_limit_refuses_whole_batches_and_says_when_to_retry() -> None:
    now = [0.0]
    limit = EventRateLimit(rate_per_sec=10, burst=20, clock=lambda: now[0])
    assert limit.take("k", 15) == 0.0
    assert limit.take("k", 10) == 1.0  # 5 left, 5 missing at 10/s: retry in 1 s
    now[0] += 0.5
    assert limit.take("k", 10) == 0.0
    assert limit.take("other", 20) == 0.0  # per token
    assert limit.take("k", 1000) > 0 and limit.refused == 2
    assert EventRateLimit(rate_per_sec=0, burst=1).take("k", 10**9) == 0.0


def test_enrich_builds_the_seeds_enriched_events_and_refuses_a_raising_hook() -> None:
    import uuid

    from lib_analytics_core import EnrichedEvent, Event, TaskCreated
    from lib_analytics_core.collect.batch import enrich
    from lib_analytics_core.collect.tokens import Grant
    from lib_analytics_core.events.wire import WireEvent

    def wire(i: int) -> WireEvent:
        event = TaskCreated(task_id=uuid.UUID(int=i + 1), user_id=uuid.UUID(int=1), command="x")
        return WireEvent(i, event, T, "h", "prod", None, None)

    def hook(event: Event) -> Event | None:
        if getattr(event, "task_id", None) == uuid.UUID(int=2):
            raise RuntimeError("boom")
        if getattr(event, "task_id", None) == uuid.UUID(int=3):
            return None
        return event

    result = enrich([wire(0), wire(1), wire(2), wire(3)], Grant("t", ("svc",)), hook)
    assert [index for index, *_ in result.events] == [0, 3]
    assert result.refused == [(1, "before_track raised RuntimeError")]
    assert result.dropped == 1
    for _, enriched, service, _json in result.events:
        assert isinstance(enriched, EnrichedEvent) and service == "svc"
        assert enriched.metadata is not None and enriched.metadata.environment == "prod"
