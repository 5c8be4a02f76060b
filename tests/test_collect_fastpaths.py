"""The collector's fast paths (issue 28 item 4) give exactly what the code they replaced
gave: the same ids (``uuid5_bytes``/``uuid5_int`` are ``uuid.uuid5``; content ids are the documented
UUIDv7), and the Segment mapping the same rows, byte for byte, with the same refusals
and reasons, over generated valid and invalid messages (``tests._segment_reference``
holds the mapping as it was)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib_analytics_core.collect.batch import content_event_id, uuid_of_bytes
from lib_analytics_core.collect.segment import (
    MESSAGE_NAMESPACE,
    Policy,
    Refused,
    SegmentMessage,
    event_time,
    message_id,
)
from lib_analytics_core.collect.segment_routes import _map
from lib_analytics_core.events.identity import (
    USER_NAMESPACE,
    user_uuid,
    uuid5_bytes,
    uuid5_int,
)
from lib_analytics_core.events.wire import wire_catalogue
from tests import _segment_reference as reference

CLASSES = {cls.event_type: cls for cls in wire_catalogue().classes}
RECEIVED = dt.datetime(2026, 12, 7, 15, 0, 12, 345678, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- ids


@given(namespace=st.uuids(), name=st.text())
def test_uuid5_int_is_uuid5(namespace: uuid.UUID, name: str) -> None:
    expected = uuid.uuid5(namespace, name)
    assert uuid5_int(namespace.bytes, name) == expected.int
    assert uuid5_bytes(namespace.bytes, name) == expected.bytes


def test_uuid5_int_refuses_what_uuid5_refuses() -> None:
    lone = "\ud800"  # not encodable as UTF-8, as uuid.uuid5 finds too
    with pytest.raises(UnicodeEncodeError):
        uuid.uuid5(USER_NAMESPACE, lone)
    with pytest.raises(UnicodeEncodeError):
        uuid5_int(USER_NAMESPACE.bytes, lone)


_SPELLINGS = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex.upper()),
    st.uuids().map(lambda u: f"{{{u}}}"),
    st.uuids().map(lambda u: f"urn:uuid:{u}"),
    # what int(text, 16) also takes: signs, underscores, blanks, "0x", other digits
    st.text(alphabet="0123456789abcdefABCDEF-{}_+x :urnid\uff11", min_size=30, max_size=46),
)


@given(value=st.one_of(st.text(max_size=60), _SPELLINGS))
def test_user_uuid_is_what_it_was(value: str) -> None:
    got = user_uuid(value)
    assert got == reference._user_uuid(value)
    assert isinstance(got, uuid.UUID)
    assert str(got) == str(reference._user_uuid(value)) and hash(got) == hash(uuid.UUID(str(got)))


@given(service=st.text(min_size=1, max_size=20), mid=st.text(min_size=1, max_size=40))
def test_message_id_is_the_documented_uuid5(service: str, mid: str) -> None:
    got = message_id(service, mid, b"{}")
    assert got == uuid.uuid5(MESSAGE_NAMESPACE, f"{service}\n{mid}")
    assert got.version == 5 and msgspec.json.encode(got) == msgspec.json.encode(uuid.UUID(str(got)))


@given(value=st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_uuid_of_bytes_is_uuid(value: int) -> None:
    fast, plain = uuid_of_bytes(value.to_bytes(16, "big")), uuid.UUID(int=value)
    assert isinstance(fast, uuid.UUID)
    assert fast == plain and hash(fast) == hash(plain) and str(fast) == str(plain)
    assert msgspec.json.encode(fast) == msgspec.json.encode(plain)


@given(
    micros=st.integers(min_value=0, max_value=2**52),
    event_type=st.text(max_size=10),
    event_json=st.binary(max_size=50),
    service=st.text(max_size=10),
    hostname=st.none() | st.text(max_size=10),
    environment=st.none() | st.text(max_size=10),
)
def test_content_event_id_is_the_documented_uuid7(  # noqa: PLR0917 - hypothesis' arguments
    micros: int,
    event_type: str,
    event_json: bytes,
    service: str,
    hostname: str | None,
    environment: str | None,
) -> None:
    at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    header = msgspec.json.encode((micros, event_type, service, hostname, environment))
    h = hashlib.blake2b(header, digest_size=10)
    h.update(event_json)
    digest = int.from_bytes(h.digest(), "big")
    expected = uuid.UUID(
        int=((micros // 1000) << 80)
        | (0x7 << 76)
        | ((digest >> 68) << 64)
        | (0b10 << 62)
        | (digest & ((1 << 62) - 1))
    )
    got = content_event_id(
        at,
        event_type,
        event_json=event_json,
        service=service,
        hostname=hostname,
        environment=environment,
    )
    assert got == expected and got.version == 7


# --------------------------------------------------------------------------- Segment mapping

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_times = st.one_of(
    st.none(),
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.none()
    ).map(lambda t: t.isoformat()),  # naive: read as UTC
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30))]),
    ).map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["2026-12-07T14:55:00.123Z", "yesterday", "", "2026-13-01T00:00:00Z"]),
    st.integers(),  # not a string: the message does not decode
)
_ids = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=12),
    st.integers(min_value=-(10**6), max_value=10**12),
    st.uuids().map(str),
    st.just("x" * 201),
    st.floats(allow_nan=False),  # not an id type: the message does not decode
)
_personal = st.dictionaries(
    st.sampled_from(["email", "name", "plan", "firstName", "industry", "age", "x"]),
    _json,
    max_size=4,
)
_context = st.one_of(
    st.none(),
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "ip": st.just("10.1.2.3"),
            "library": st.just({"name": "analytics-node", "version": "3.1.0"}),
            "traits": st.one_of(_personal, st.just("not an object")),
            "locale": st.text(max_size=5),
        },
    ),
    st.just("not an object"),
)


def _properties(draw: st.DrawFn, event: Any) -> Any:
    if event in ("Api Request", "api_request"):
        valid = {
            "service": "web",
            "method": "GET",
            "endpoint": "/v1/x",
            "status_code": 200,
            "duration_ms": 12.5,
        }
        broken = draw(st.sampled_from([None, "status_code", "duration_ms", "method"]))
        if broken is not None:
            valid[broken] = draw(st.sampled_from([None, "x", -1, 10**20, [1]]))
        if draw(st.booleans()):
            valid["user_id"] = draw(st.one_of(st.none(), st.uuids().map(str), st.just("bad")))
        return valid
    if event == "Task Created":
        return {"task_id": str(uuid.UUID(int=draw(st.integers(0, 9)))), "command": "ls"}
    return draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=6), _json, max_size=4)))


_valid_times = st.datetimes(
    min_value=dt.datetime(2020, 1, 1),
    max_value=dt.datetime(2030, 1, 1),
    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2))]),
).map(lambda t: t.isoformat().replace("+00:00", "Z"))
_valid_ids = st.one_of(st.text(min_size=1, max_size=12), st.integers(0, 10**9), st.uuids().map(str))
_CALLS = ["track", "track", "identify", "page", "screen", "group", "alias"]


@st.composite
def segment_messages(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly what an SDK sends (a quarter of them anything at all), so that both the rows
    and the refusals are compared."""
    if draw(st.integers(0, 3)):
        return draw(_sdk_message())
    message: dict[str, Any] = {}
    kind = draw(st.sampled_from([*_CALLS, "bogus", None, 3]))
    if kind is not None:
        message["type"] = kind
    event = draw(
        st.sampled_from(
            [None, "", "Api Request", "api_request", "Task Created", "Order Completed", "!!", "2FA"]
        )
    )
    optional: dict[str, st.SearchStrategy[Any]] = {
        "messageId": st.one_of(st.none(), st.just(""), st.text(max_size=12)),
        "userId": _ids,
        "anonymousId": _ids,
        "event": st.just(event),
        "properties": st.just(_properties(draw, event)),
        "traits": st.one_of(st.none(), _personal),
        "context": _context,
        "name": st.one_of(st.none(), st.text(max_size=6)),
        "category": st.one_of(st.none(), st.text(max_size=6)),
        "groupId": _ids,
        "previousId": _ids,
        "timestamp": _times,
        "originalTimestamp": _times,
        "sentAt": _times,
        "unknownKey": _json,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            message[key] = draw(strategy)
    return message


@st.composite
def _sdk_message(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.sampled_from(["Api Request", "Task Created", "Order Completed", "Viewed"]))
    message: dict[str, Any] = {
        "type": draw(st.sampled_from(_CALLS)),
        "messageId": draw(st.text(min_size=1, max_size=12)),
        "event": event,
        "properties": _properties(draw, event),
        "timestamp": draw(st.one_of(st.none(), _valid_times)),
    }
    message["userId" if draw(st.booleans()) else "anonymousId"] = draw(_valid_ids)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "originalTimestamp": _valid_times,
        "sentAt": _valid_times,
        "context": _context.filter(lambda c: not isinstance(c, str)),
        "traits": _personal,
        "groupId": _valid_ids,
        "previousId": _valid_ids,
        "name": st.text(max_size=6),
        "category": st.text(max_size=6),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            message[key] = draw(strategy)
    return message


@st.composite
def requests(draw: st.DrawFn) -> tuple[list[bytes], Policy, dt.datetime, str | None]:
    messages = draw(st.lists(segment_messages(), max_size=6))
    raws = [msgspec.json.encode(m) for m in messages]
    if draw(st.booleans()):
        raws.append(b'{"type": "track", "userId": ')  # one message that is not JSON
    policy = Policy(
        service=draw(st.sampled_from(["shop", "segment", "a\nb"])),
        strict=draw(st.booleans()),
        keep_personal=draw(st.booleans()),
    )
    received = RECEIVED + dt.timedelta(seconds=draw(st.integers(-(10**6), 10**6)))
    sent_at = draw(
        st.one_of(
            st.none(),
            st.just("garbage"),
            st.just((received - dt.timedelta(seconds=draw(st.integers(-7200, 7200)))).isoformat()),
        )
    )
    return raws, policy, received, sent_at


def _same(got: Any, expected: Any) -> None:
    rows, indices, refused = got
    ref_rows, ref_indices, ref_refused = expected
    assert refused == ref_refused
    assert indices == ref_indices
    assert len(rows) == len(ref_rows)
    for row, ref in zip(rows, ref_rows, strict=True):
        assert row == ref
        assert row[5] == ref[5]  # data, byte for byte
        assert row[0].utcoffset() == ref[0].utcoffset()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_batch_mapping_equals_the_reference(
    request: tuple[list[bytes], Policy, dt.datetime, str | None],
) -> None:
    raws, policy, received, sent_at = request
    got = _map(raws, None, None, policy, received, sent_at, CLASSES)
    expected = reference.reference_map(raws, None, policy, received, sent_at, CLASSES)
    _same(got, expected)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=segment_messages(),
    call=st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]),
    keep_personal=st.booleans(),
)
def test_single_call_mapping_equals_the_reference(
    message: dict[str, Any], call: str, keep_personal: bool
) -> None:
    raw = msgspec.json.encode(message)
    policy = Policy(service="shop", keep_personal=keep_personal)
    try:
        single = msgspec.json.decode(raw, type=SegmentMessage)
    except msgspec.ValidationError:
        return  # answered 400 before any mapping, by the same decoder as before
    got = _map([raw], call, single, policy, RECEIVED, None, CLASSES)
    expected = reference.reference_map([raw], call, policy, RECEIVED, None, CLASSES)
    _same(got, expected)


@given(message=segment_messages(), sent_at=st.one_of(st.none(), st.just("2026-12-07T14:00:00Z")))
def test_event_time_equals_the_reference(message: dict[str, Any], sent_at: str | None) -> None:
    try:
        decoded = msgspec.json.decode(msgspec.json.encode(message), type=SegmentMessage)
    except msgspec.ValidationError:
        return
    outcomes: list[tuple[str, object]] = []
    for fn in (event_time, reference.event_time):
        try:
            outcomes.append(("ok", fn(decoded, RECEIVED, sent_at)))
        except Refused as err:
            outcomes.append(("refused", str(err)))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.text(max_size=60), st.uuids().map(str), st.uuids().map(lambda u: u.hex)))
def test_the_user_cache_gives_what_user_uuid_computes(value: str) -> None:
    """The collector's bounded cache of user ids (``segment._user_of``): a cached id
    is the computed one, however often it is asked for."""
    from lib_analytics_core.collect.segment import _user_of

    first, again = _user_of(value), _user_of(value)
    assert first == again == user_uuid(value)
    assert str(again) == str(user_uuid(value))


def test_the_user_cache_is_bounded() -> None:
    from lib_analytics_core.collect.segment import USER_CACHE_SIZE, _user_of

    for i in range(USER_CACHE_SIZE + 100):
        _user_of(f"bounded-{i}")
    info = _user_of.cache_info()
    assert info.maxsize == USER_CACHE_SIZE and info.currsize <= USER_CACHE_SIZE
    assert _user_of("bounded-0") == user_uuid("bounded-0")  # evicted: computed again
