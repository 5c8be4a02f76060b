"""DatabaseQuery from asyncpg's query logger and SQLAlchemy engine events (real PostgreSQL)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from lib_analytics_core import AnalyticsClient, AnalyticsWorker
from lib_analytics_core.integrations._sql import classify
from lib_analytics_core.integrations.asyncpg_hooks import (
    install_query_logger,
    query_logger_init,
)
from lib_analytics_core.integrations.sqlalchemy import instrument_engine
from tests._integrations import rows


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM orders WHERE id = $1", ("select", "orders")),
        ("  -- note\n/* hint */ (SELECT 1)", ("select", None)),
        ('INSERT INTO public."Orders"(a) VALUES (1)', ("insert", "public.Orders")),
        ("update orders set a = 1", ("update", "orders")),
        ("WITH x AS (SELECT 1) DELETE FROM orders USING x", ("delete", "orders")),
        ("BEGIN", ("other", None)),
        ("create table t (a int)", ("other", None)),
    ],
)
def test_query_classification(sql: str, expected: tuple[str, str | None]) -> None:
    assert classify(sql) == expected


async def test_asyncpg_query_logger(database_url: str, db: asyncpg.Connection) -> None:
    client, cfg = AnalyticsClient.new(
        batch_size=100, flush_interval_secs=0.05, service_name="orders-svc"
    )
    worker = AnalyticsWorker(cfg, database_url)
    app_conn = await asyncpg.connect(database_url)
    try:
        await app_conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total int)")
        install_query_logger(app_conn, client)
        await app_conn.execute("INSERT INTO orders VALUES (1, 10), (2, 20)")
        assert await app_conn.fetchval("SELECT sum(total) FROM orders WHERE id > $1", 0) == 30
        await app_conn.execute("UPDATE orders SET total = total + 1")
        await app_conn.execute("DELETE FROM orders WHERE id = $1", 2)
        with pytest.raises(asyncpg.UndefinedTableError):
            await app_conn.fetch("SELECT * FROM no_such_table")
        # Queries touching the analytics tables are not recorded (no feedback loop).
        await app_conn.fetchval("SELECT count(*) FROM analytics_events")
    finally:
        await app_conn.close()

    async with asyncpg.create_pool(
        database_url, min_size=1, max_size=2, init=query_logger_init(client, service="pooled")
    ) as pool:
        assert await pool.fetchval("SELECT 41 + 1") == 42

    await worker.flush(timeout=30)
    await worker.shutdown(timeout=30)
    stored = await rows(db, "database_query")
    got = [
        (r["service"], r["data"]["query_type"], r["data"]["table"], r["data"]["success"])
        for r in stored
    ]
    assert got == [
        ("orders-svc", "insert", "orders", True),
        ("orders-svc", "select", "orders", True),
        ("orders-svc", "update", "orders", True),
        ("orders-svc", "delete", "orders", True),
        ("orders-svc", "select", "no_such_table", False),
        ("pooled", "select", None, True),
    ]
    assert all(isinstance(r["data"]["duration_ms"], int) for r in stored)


async def test_sqlalchemy_engine_events(database_url: str, db: asyncpg.Connection) -> None:
    client, cfg = AnalyticsClient.new(batch_size=100, flush_interval_secs=0.05, service_name="sa")
    worker = AnalyticsWorker(cfg, database_url)
    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url)
    uninstall = instrument_engine(engine, client)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE items (id int PRIMARY KEY, name text)"))
            result = await conn.execute(
                sa.text("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')")
            )
            assert result.rowcount == 3
            await conn.execute(sa.text("UPDATE items SET name = 'z' WHERE id < 3"))
            names = (await conn.execute(sa.text("SELECT name FROM items ORDER BY id"))).all()
            assert [n for (n,) in names] == ["z", "z", "c"]
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.ProgrammingError):
                await conn.execute(sa.text("SELECT * FROM missing_table"))
        uninstall()
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1 FROM items"))  # not recorded any more
    finally:
        await engine.dispose()

    await worker.flush(timeout=30)
    await worker.shutdown(timeout=30)
    stored = await rows(db, "database_query")
    # SQLAlchemy's own dialect-initialisation queries (version, schema) are recorded too;
    # the application's statements are the ones naming its tables.
    app_rows = [
        (r["data"]["query_type"], r["data"]["table"], r["data"]["rows"], r["data"]["success"])
        for r in stored
        if r["data"]["table"] in ("items", "missing_table")
    ]
    assert app_rows == [
        ("insert", "items", 3, True),
        ("update", "items", 2, True),
        ("select", "items", 3, True),
        ("select", "missing_table", None, False),
    ]
    assert {r["service"] for r in stored} == {"sa"}
    create = [r for r in stored if r["data"]["query_type"] == "other"]
    assert create, "CREATE TABLE recorded as 'other'"


async def test_database_query_sampling_is_stored(database_url: str, db: asyncpg.Connection) -> None:
    """Sampling of hook events is the client's per-type rate, stored with each kept row."""
    client, cfg = AnalyticsClient.new(
        batch_size=500,
        flush_interval_secs=0.05,
        service_name="sampled",
        sample_rates={"database_query": 0.5},
    )
    worker = AnalyticsWorker(cfg, database_url)
    conn = await asyncpg.connect(database_url)
    try:
        install_query_logger(conn, client)
        for _ in range(400):
            await conn.fetchval("SELECT $1::uuid", uuid.uuid4())
    finally:
        await conn.close()
    await worker.flush(timeout=30)
    await worker.shutdown(timeout=30)
    stored = await rows(db, "database_query")
    # 400 draws at p=0.5: sigma = 10, so 5 sigma = 50.
    assert abs(len(stored) - 200) <= 50
    assert {r["data"]["_meta"]["sample_rate"] for r in stored} == {0.5}
