"""The Segment HTTP Tracking API on the collector, against a real PostgreSQL: every call,
write keys, limits, gzip, messageId idempotency, the name and user-id mappings (with
hypothesis), personal data, clock-skew correction and the user timeline by either id."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import re
import uuid
from typing import Any

import asyncpg
import httpx
import msgspec
from hypothesis import given
from hypothesis import strategies as st

from lib_analytics_core.collect.segment import (
    SegmentMessage,
    event_time,
    event_type_of,
)
from lib_analytics_core.events.identity import USER_NAMESPACE, user_uuid
from lib_analytics_core.read import users
from tests._collect import TOKEN, collector

BASIC = {"Authorization": "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()}
STRICT_TOKEN = "segment-strict-0123456789"
TOKENS = f"{TOKEN}=shop,{STRICT_TOKEN}=shop;strict"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def messages() -> list[dict[str, Any]]:
    at = iso(NOW - dt.timedelta(minutes=5))
    return [
        {
            "type": "track",
            "messageId": "m-1",
            "userId": "user-42",
            "event": "Order Completed",
            "properties": {"revenue": 19.5, "currency": "EUR"},
            "context": {"library": {"name": "analytics-node", "version": "2"}, "ip": "1.2.3.4"},
            "timestamp": at,
        },
        {
            "type": "track",
            "messageId": "m-2",
            "userId": "user-42",
            "event": "Task Created",
            "properties": {"task_id": str(uuid.UUID(int=5)), "command": "make"},
            "timestamp": at,
        },
        {
            "type": "identify",
            "messageId": "m-3",
            "userId": "user-42",
            "traits": {"email": "a@example.com", "plan": "pro", "name": "Ada"},
            "timestamp": at,
        },
        {
            "type": "page",
            "messageId": "m-4",
            "anonymousId": "anon-7",
            "name": "Pricing",
            "properties": {"path": "/pricing"},
            "originalTimestamp": at,
        },
        {
            "type": "screen",
            "messageId": "m-5",
            "userId": "user-42",
            "name": "Home",
            "timestamp": at,
        },
        {
            "type": "group",
            "messageId": "m-6",
            "userId": "user-42",
            "groupId": 99,
            "timestamp": at,
            "traits": {"industry": "retail"},
        },
        {
            "type": "alias",
            "messageId": "m-7",
            "userId": "user-42",
            "previousId": "anon-7",
            "timestamp": at,
        },
    ]


async def post(url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}{path}",
            content=content,
            headers={"Content-Type": "application/json", **(BASIC if headers is None else headers)},
        )


async def stored(db: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT timestamp, event_id, event_type, service, user_id, data::text AS data "
        "FROM analytics_events ORDER BY event_type"
    )
    return [{**dict(r), "data": msgspec.json.decode(r["data"])} for r in rows]


async def test_every_call_is_stored_once_with_its_mapping(
    database_url: str, db: asyncpg.Connection
) -> None:
    # sentAt is the moment of each send, as an SDK sets it (NOW is the module's import
    # time: on a slow run minutes earlier, which the skew correction would add).
    with collector(database_url, tokens=TOKENS) as url:
        for _ in range(2):  # a retried batch is stored once
            body = {"batch": messages(), "sentAt": iso(dt.datetime.now(dt.UTC))}
            response = await post(url, "/v1/batch", body)
            assert response.status_code == 200, response.text
            assert response.json() == {"success": True, "received": 7, "rejected": []}
        gz = gzip.compress(
            msgspec.json.encode({"batch": messages()[:1], "sentAt": iso(dt.datetime.now(dt.UTC))})
        )
        zipped = await post(url, "/v1/batch", gz, {**BASIC, "Content-Encoding": "gzip"})
        assert zipped.json()["received"] == 1
    every = await stored(db)
    assert len(every) == 7  # each message once, the retry and the gzip resend included
    rows = {r["event_type"]: r for r in every}
    assert sorted(rows) == [
        "order_completed",
        "segment_alias",
        "segment_group",
        "segment_identify",
        "segment_page",
        "segment_screen",
        "task_created",
    ]
    user = user_uuid("user-42")
    assert user == uuid.uuid5(USER_NAMESPACE, "user-42")
    order = rows["order_completed"]
    assert order["user_id"] == user and order["service"] == "shop"
    assert order["data"]["revenue"] == 19.5 and order["data"]["currency"] == "EUR"
    meta = order["data"]["_meta"]
    assert meta["user"] == "user-42" and meta["event"] == "Order Completed"
    assert meta["context"] == {"library": {"name": "analytics-node", "version": "2"}}  # no ip
    assert order["timestamp"] == NOW - dt.timedelta(minutes=5)
    # A registered class validates the properties; the user comes from the message.
    task = rows["task_created"]
    assert task["user_id"] == user and task["data"]["command"] == "make"
    identify = rows["segment_identify"]["data"]
    assert identify["plan"] == "pro" and "email" not in identify and "name" not in identify
    page = rows["segment_page"]
    assert page["user_id"] == user_uuid("anon-7")
    assert page["data"]["name"] == "Pricing" and page["data"]["_meta"]["anonymous_id"] == "anon-7"
    assert rows["segment_group"]["data"]["group_id"] == "99"
    assert rows["segment_alias"]["data"]["previous_id"] == "anon-7"
    assert rows["order_completed"]["event_id"] == uuid.uuid5(
        uuid.UUID("413c2ae3-c74c-5167-8fe6-c67514cf0421"), "shop\nm-1"
    )


async def test_the_user_timeline_finds_a_segment_user_by_its_own_id(
    database_url: str, db: asyncpg.Connection
) -> None:
    with collector(database_url, tokens=TOKENS) as url:
        assert (await post(url, "/v1/batch", {"batch": messages()})).status_code == 200
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        by_text = await users.user_timeline(pool, user_id="user-42", limit=100)
        by_uuid = await users.user_timeline(pool, user_id=str(user_uuid("user-42")), limit=100)
    finally:
        await pool.close()
    assert len(by_text.events) == 6 and by_text == by_uuid


async def test_single_calls_write_keys_policies_and_limits(
    database_url: str, db: asyncpg.Connection
) -> None:
    track = {"userId": "u1", "event": "Signed Up", "messageId": "s-1"}
    with collector(database_url, tokens=TOKENS) as url:
        # The single-call routes need no "type"; the write key may be in the body.
        ok = await post(url, "/v1/track", {**track, "writeKey": TOKEN}, {})
        assert ok.status_code == 200 and ok.json()["success"] is True, ok.text
        assert (await post(url, "/v1/track", track, {})).status_code == 401
        wrong = {"Authorization": "Basic " + base64.b64encode(b"nope-nope-nope-nope:").decode()}
        assert (await post(url, "/v1/track", track, wrong)).status_code == 401
        strict = {
            "Authorization": "Basic " + base64.b64encode(f"{STRICT_TOKEN}:".encode()).decode()
        }
        refused = await post(url, "/v1/track", {**track, "messageId": "s-2"}, strict)
        assert refused.status_code == 400 and "strict" in refused.json()["message"]
        typed = {"userId": "u1", "event": "task created", "properties": {"command": 5}}
        bad = await post(url, "/v1/track", typed)
        assert bad.status_code == 400 and "TaskCreated" in bad.json()["message"]
        assert (await post(url, "/v1/identify", {"traits": {}})).status_code == 400  # no user
        big = {**track, "properties": {"x": "y" * 33_000}}
        assert (await post(url, "/v1/track", big)).status_code == 413
        batch: dict[str, Any] = {
            "batch": [{**track, "type": "track", "messageId": f"b{i}"} for i in range(3)]
        }
        batch["batch"][1]["properties"] = {"x": "y" * 33_000}
        batch["batch"][2]["type"] = "explode"
        mixed = await post(url, "/v1/batch", batch)
        assert mixed.status_code == 200
        assert [r["index"] for r in mixed.json()["rejected"]] == [1, 2]
        huge = {"batch": [{**track, "properties": {"x": "y" * 30_000}}] * 20}
        assert (await post(url, "/v1/batch", huge)).status_code == 413
    assert await db.fetchval("SELECT count(*) FROM analytics_events") == 2
    # Every refusal is kept for operators: 3 single calls and 2 messages of the batch.
    assert await db.fetchval("SELECT count(*) FROM analytics_dead_letters") == 5


# ------------------------------------------------------------------- the mappings


EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@given(st.text(min_size=1, max_size=300).filter(lambda s: re.search(r"[A-Za-z0-9]", s)))
def test_any_name_maps_to_a_valid_stable_event_type(name: str) -> None:
    try:
        mapped = event_type_of(name)
    except Exception:
        assert not re.search(r"[a-z0-9]", name.lower())  # only non-ASCII letters/digits
        return
    assert EVENT_TYPE.match(mapped), mapped
    assert event_type_of(mapped) == mapped  # a stored type maps to itself
    assert event_type_of(name.upper()) == mapped or name.upper().lower() != name.lower()
    assert event_type_of(f"  {name}!! ") == mapped


def test_the_documented_names() -> None:
    assert event_type_of("Order Completed") == "order_completed"
    assert event_type_of("order-completed") == "order_completed"
    assert event_type_of("Checkout Step 2 Viewed") == "checkout_step_2_viewed"
    assert event_type_of("2FA Enabled") == "e_2fa_enabled"


@given(st.uuids())
def test_a_uuid_user_id_is_kept_as_is_in_any_spelling(value: uuid.UUID) -> None:
    for spelling in (str(value), str(value).upper(), value.hex, f"{{{value}}}"):
        assert user_uuid(spelling) == value


@given(st.text(min_size=1, max_size=200))
def test_any_other_user_id_maps_to_one_stable_uuid(value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        assert user_uuid(value) == uuid.uuid5(USER_NAMESPACE, value)
        assert user_uuid(value) == user_uuid(str(value))


def test_the_user_namespace_never_changes() -> None:
    assert str(user_uuid("user-42")) == str(uuid.uuid5(USER_NAMESPACE, "user-42"))
    assert str(USER_NAMESPACE) == "f96887de-a74c-5bc7-82cb-6558d9e7117d"


@given(
    offset=st.integers(min_value=-3 * 86_400, max_value=3 * 86_400),
    delay_a=st.floats(min_value=0, max_value=5),
    delay_b=st.floats(min_value=0, max_value=5),
)
def test_skew_correction_follows_the_spec_and_a_retry_lands_on_the_same_time(
    offset: int, delay_a: float, delay_b: float
) -> None:
    """A client whose clock is ``offset`` s off sends at ``sent``; the collector
    receives after a network delay. The row's time is the true time to within 30 s
    plus the delay, and two attempts agree unless their delays straddle a rounding
    boundary of the offset (whole minutes)."""
    true_time = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    client_clock = true_time + dt.timedelta(seconds=offset)
    message = SegmentMessage(timestamp=iso(client_clock), sent_at=iso(client_clock))

    def at(delay: float) -> dt.datetime:
        return event_time(message, true_time + dt.timedelta(seconds=delay), None)

    a, b = at(delay_a), at(delay_b)
    assert abs((a - true_time).total_seconds()) <= 30 + 5
    if round((delay_a - offset) / 60) == round((delay_b - offset) / 60):
        assert a == b
    # No time at all: the minute of receipt (a retry within it keeps its row key).
    bare = SegmentMessage()
    assert event_time(bare, true_time + dt.timedelta(seconds=delay_a), None) == true_time
    # Without sentAt the client's time is used as sent (a server's historical import).
    plain = SegmentMessage(original_timestamp=iso(client_clock))
    assert event_time(plain, true_time, None) == client_clock
