"""What ``data`` stores: each value once (issue 18, item 4).

``data`` leaves out the ``user_id``/``service`` fields whose row columns hold the value
exactly (the lever that takes TimescaleDB's compression past 90 %), and every reader
puts them back: ``decode_event`` with the columns, ``EnrichedEvent.from_record``, dead
letters (which have no ``user_id`` column) and ``forget_user``. Rows stored before the
change keep their copies and decode exactly as before; ``docs/timescaledb.md``'s
optional statement strips them from old rows, and a test runs it as documented.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lib_analytics_core as lac
from lib_analytics_core import AnalyticsClient, AnalyticsEvent, AnalyticsWorker, Event
from lib_analytics_core._config import AnalyticsConfig
from lib_analytics_core.events.base import COLUMN_FIELDS
from lib_analytics_core.ingest.encoding import RowEncoder, stored_json
from lib_analytics_core.ingest.rows import Row, refused_row
from tests._collect import collector, seed_batch
from tests._factories import build

ROOT = Path(__file__).resolve().parent.parent
ROWS_SQL = (
    "SELECT timestamp, event_id, event_type, service, user_id, data::text AS data "
    "FROM analytics_events ORDER BY event_id"
)


class PayloadProbe(Event):
    """A service's own class: a nested field *before* the column fields, so a key of
    the same name inside it must not be taken for them."""

    event_type: ClassVar[str] = "test_payload_probe"
    extra: dict[str, str] = msgspec.field(default_factory=dict)
    user_id: uuid.UUID | None = None
    service: str = ""
    note: str = ""


class TextUser(Event):
    """``user_id`` declared as text: the uuid column cannot hold it exactly, so ``data``
    keeps it (a valid UUID string still fills the column)."""

    event_type: ClassVar[str] = "test_text_user"
    user_id: str | None = None
    n: int = 0


class NoColumns(Event):
    event_type: ClassVar[str] = "test_no_columns"
    n: int = 0


def _keys(data: str) -> set[str]:
    return set(msgspec.json.decode(data))


def _copies(row: Any) -> set[str]:
    """The column fields whose value ``data`` holds although the column holds it too."""
    body = msgspec.json.decode(row["data"])
    out = set()
    if "user_id" in body and row["user_id"] is not None and body["user_id"] == str(row["user_id"]):
        out.add("user_id")
    if "service" in body and body["service"] == row["service"]:
        out.add("service")
    return out


def _row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(
        zip(("timestamp", "event_id", "event_type", "service", "user_id", "data"), row, strict=True)
    )


# ----------------------------------------------------------------------------- the worker


async def test_stored_rows_hold_each_column_value_once_and_decode_to_the_tracked_event(
    database_url: str, db: asyncpg.Connection
) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=1000, flush_interval_secs=3600, service_name="platform", before_track=None
    )
    worker = AnalyticsWorker(cfg, database_url)
    run = asyncio.create_task(worker.run())
    events = [build(cls, seed=i) for i, cls in enumerate(AnalyticsEvent.ALL)]
    events += [
        PayloadProbe(extra={"user_id": "x", "service": "y"}, user_id=uuid.uuid4(), service="s"),
        PayloadProbe(service=""),  # empty: the column gets "platform", data keeps ""
        TextUser(user_id=str(uuid.uuid4()).upper(), n=1),
        NoColumns(n=2),
    ]
    for event in events:
        client.track(event)
    report = await worker.shutdown(timeout=30)
    await run
    assert report.written == len(events) and report.lost == 0
    rows = await db.fetch(ROWS_SQL)
    assert len(rows) == len(events)
    copies = {r["event_type"]: _copies(r) for r in rows if _copies(r)}
    assert copies == {}, f"data repeats its columns: {copies}"
    for event, row in zip(events, rows, strict=True):
        assert lac.EnrichedEvent.from_record(row).event == event
        assert (
            lac.decode_event(
                row["event_type"], row["data"], user_id=row["user_id"], service=row["service"]
            )
            == event
        )
    by_type = {r["event_type"]: r for r in rows}
    assert _keys(by_type["test_text_user"]["data"]) >= {"user_id"}  # the column could not hold it
    empty = [r for r in rows if r["event_type"] == "test_payload_probe"][1]
    assert empty["service"] == "platform" and msgspec.json.decode(empty["data"])["service"] == ""


# ----------------------------------------------------------------------------- the collector


async def test_the_collector_stores_the_same_compact_data(
    database_url: str, db: asyncpg.Connection
) -> None:
    import httpx

    from tests._collect import AUTH

    with collector(database_url) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(f"{url}/events/batch", json=seed_batch(), headers=AUTH)
    assert response.status_code == 200, response.text
    rows = await db.fetch(ROWS_SQL)
    assert len(rows) == 29
    assert {r["event_type"]: _copies(r) for r in rows if _copies(r)} == {}
    for row in rows:
        event = lac.EnrichedEvent.from_record(row).event
        assert event.concerned_user_id == row["user_id"]


# ----------------------------------------------------------------------------- any event


_users = st.one_of(st.none(), st.uuids())
_text = st.text(max_size=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    extra=st.dictionaries(st.sampled_from(["user_id", "service", "k"]), _text, max_size=3),
    user=_users,
    service=_text,
    note=_text,
    default=st.sampled_from(["platform", "api"]),
)
def test_any_event_round_trips_through_its_row(
    extra: dict[str, str], user: uuid.UUID | None, service: str, note: str, default: str
) -> None:
    """Property: the row the worker writes (columns + ``data``) gives back the event, for
    any values, and ``data`` repeats a column exactly when the column cannot hold it."""
    event = PayloadProbe(extra=extra, user_id=user, service=service, note=note)
    encoder = RowEncoder(AnalyticsConfig(service_name=default))
    (row,) = encoder.encode([(1_700_000_000_000_000_000, event)]).rows
    record = _row_dict(row)
    assert lac.EnrichedEvent.from_record(record).event == event
    body = msgspec.json.decode(record["data"])
    assert "user_id" not in body  # a UUID or None: the column holds it
    assert ("service" in body) == (service == "")
    assert body["extra"] == extra  # a nested key of the same name is not a column's copy


@pytest.mark.parametrize("cls", [*AnalyticsEvent.ALL, NoColumns], ids=lambda c: c.__name__)
def test_rows_stored_with_the_copies_decode_as_before(cls: type[Event]) -> None:
    """Rows written before this change hold the copies; with or without the columns
    given, they decode to the same event (the copy wins: it is the field's own value)."""
    event = build(cls, seed=5)
    old = event.to_json()[:-1] + b',"_meta":{"host":"h"}}'
    assert lac.decode_event(cls.event_type, old) == event
    assert lac.decode_event(cls.event_type, old, user_id=uuid.uuid4(), service="other") == event
    new = stored_json(event)
    fields = set(cls.__struct_fields__) & set(COLUMN_FIELDS)
    assert set(msgspec.json.decode(new)) == set(cls.__struct_fields__) - fields | (
        {"service"} if getattr(event, "service", None) == "" else set()
    )


def test_decoding_new_data_without_its_columns_says_which_field_is_missing() -> None:
    event = AnalyticsEvent.TaskCreated(task_id=uuid.uuid4(), user_id=uuid.uuid4(), command="ls")
    with pytest.raises(lac.EventValidationError, match="user_id"):
        lac.decode_event("task_created", stored_json(event))


# ----------------------------------------------------------------------------- dead letters


@given(user=_users, data=st.sampled_from(['{"a":1,"_meta":{}}', "{}", ' { "x" : "y" }']))
def test_a_refused_rows_dead_letter_carries_its_user_id_first(
    user: uuid.UUID | None, data: str
) -> None:
    row = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), uuid.uuid4(), "t", "s", user, data)
    letter = refused_row(row, "refused", "22P02", payload_chars=60)
    body = msgspec.json.decode(letter.payload) if len(letter.payload) < 60 else None
    if user is None:
        assert letter.payload == data[:60]
    else:
        assert letter.payload.startswith('{"user_id":"' + str(user) + '"')
        if body is not None:
            assert body["user_id"] == str(user)
    assert (letter.error, letter.sqlstate) == ("refused", "22P02")


async def test_forget_user_still_erases_a_dead_letter_of_a_refused_row(
    database_url: str, db: asyncpg.Connection
) -> None:
    """A row the database refuses (here: an ``event_type`` longer than its column) is
    dead-lettered with its user id in the payload, so erasure finds it."""
    from lib_analytics_core.ingest.sinks.postgres import PostgresSink

    user = uuid.uuid4()
    event = AnalyticsEvent.TaskCreated(task_id=uuid.uuid4(), user_id=user, command="ls")
    row: Row = (dt.datetime.now(dt.UTC), uuid.uuid4(), "x" * 300, "platform", user, "")
    row = (*row[:5], stored_json(event).decode())
    sink = PostgresSink(AnalyticsConfig(), database_url)
    await sink.open()
    try:
        result = await sink.deliver([row], redelivery=False, timeout=30)
        assert result.delivered == 0 and len(result.refused) == 1
        await sink.dead_letter(result.refused, timeout=30)
    finally:
        await sink.close()
    payload = await db.fetchval("SELECT payload FROM analytics_dead_letters")
    assert str(user) in payload
    assert await lac.forget_user(database_url, user) == 1
    assert await db.fetchval("SELECT count(*) FROM analytics_dead_letters") == 0


# ----------------------------------------------------------------------------- old rows


def _documented_statement() -> str:
    text = (ROOT / "docs" / "timescaledb.md").read_text()
    match = re.search(r"```sql\n(-- strip the column copies.*?)```", text, re.S)
    assert match, "docs/timescaledb.md lost the statement that strips old rows' copies"
    return match.group(1)


async def test_the_documented_statement_strips_old_rows_copies_and_nothing_else(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Old-format rows (copies inside ``data``) inserted as the earlier release stored
    them; after the documented statement they hold no copy, still decode to the same
    events, and rows whose copy differs from the column (an empty ``service``) keep it."""
    events = [build(cls, seed=i) for i, cls in enumerate(AnalyticsEvent.ALL)]
    events.append(PayloadProbe(user_id=None, service=""))
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i, e in enumerate(events):
        service = getattr(e, "service", None) or "platform"
        rows.append(
            (
                t0 + dt.timedelta(seconds=i),
                uuid.uuid4(),
                e.event_type,
                service,
                e.concerned_user_id,
                (e.to_json()[:-1] + b',"_meta":{"host":"h"}}').decode(),
            )
        )
    await db.executemany(
        "INSERT INTO analytics_events (timestamp, event_id, event_type, service, user_id, data)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        rows,
    )
    before = await db.fetch(ROWS_SQL)
    assert sum(1 for r in before if _copies(r)) > 20
    await db.execute(_documented_statement())
    after = await db.fetch(ROWS_SQL)
    assert [r for r in after if _copies(r)] == []
    for row in after:
        assert lac.EnrichedEvent.from_record(row).event in events
    probe = next(r for r in after if r["event_type"] == "test_payload_probe")
    assert msgspec.json.decode(probe["data"])["service"] == ""
    # run twice: nothing more changes
    await db.execute(_documented_statement())
    assert [dict(r) for r in await db.fetch(ROWS_SQL)] == [dict(r) for r in after]


class Renamed(Event, rename="camel", omit_defaults=True):
    """msgspec options that change the encoding: renamed keys, defaults left out."""

    event_type: ClassVar[str] = "test_renamed_payload"
    user_id: uuid.UUID | None = None
    service: str = "billing"
    invoice_total: int = 0


def test_an_event_class_cannot_be_array_like() -> None:
    """``data`` is a JSON object (the aggregates read its keys); an array-like class
    used to be accepted and then stored as malformed JSON."""
    with pytest.raises(lac.EventValidationError, match="array_like"):

        class Positional(Event, array_like=True):
            event_type: ClassVar[str] = "test_positional_payload"
            n: int = 0


@pytest.mark.parametrize(
    "event",
    [
        Renamed(user_id=uuid.uuid4(), service="billing", invoice_total=5),
        Renamed(invoice_total=0),
    ],
    ids=["renamed", "renamed-defaults"],
)
def test_msgspec_options_of_a_class_round_trip(event: Event) -> None:
    encoder = RowEncoder(AnalyticsConfig(service_name="platform"))
    (row,) = encoder.encode([(1_700_000_000_000_000_000, event)]).rows
    assert lac.EnrichedEvent.from_record(_row_dict(row)).event == event
    if isinstance(event, Renamed):
        body = msgspec.json.decode(row[5])
        assert "userId" not in body and "service" not in body


@pytest.mark.parametrize(
    "event", [Renamed(user_id=uuid.uuid4(), service="billing", invoice_total=5)]
)
def test_the_http_sinks_wire_event_is_whole_under_the_classs_own_key_names(event: Event) -> None:
    """``HttpSink`` puts the columns back into the wire event it sends a collector, under
    the names the class encodes them with (``userId`` for a camel-case class)."""
    from lib_analytics_core.ingest.sinks.http import _envelope

    encoder = RowEncoder(AnalyticsConfig(service_name="platform"))
    (row,) = encoder.encode([(1_700_000_000_000_000_000, event)]).rows
    wire = dict(_envelope(row)["event"])
    assert wire.pop("type") == event.event_type
    assert "user_id" not in wire
    assert msgspec.json.decode(msgspec.json.encode(wire), type=type(event)) == event
