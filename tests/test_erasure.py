"""forget_user on plain PostgreSQL (migrated schema) and its CLI hook."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from lib_analytics_core import (
    AnalyticsClient,
    AnalyticsWorker,
    ConfigurationError,
    ProjectCreated,
    TaskCreated,
    forget_user,
)
from lib_analytics_core.cli.forget import forget_user_main
from lib_analytics_core.schema.facts import quote_ident

ALICE = uuid.UUID("0190a0b0-0000-7000-8000-00000000a11c")
BOB = uuid.UUID("0190a0b0-0000-7000-8000-000000000b0b")


async def seed(database_url: str) -> None:
    """Events of two users, plus one of Alice's refused into the dead-letter table."""
    client, cfg = AnalyticsClient.new(
        batch_size=1000, flush_interval_secs=0.05, max_event_bytes=4096
    )
    worker = AnalyticsWorker(cfg, database_url)
    for user, n in ((ALICE, 30), (BOB, 20)):
        for _ in range(n):
            client.track(TaskCreated(task_id=uuid.uuid4(), user_id=user, command="ls"))
        client.track(ProjectCreated(project_id=uuid.uuid4(), user_id=user))
    client.track(TaskCreated(task_id=uuid.uuid4(), user_id=ALICE, command="x" * 10_000))
    assert await worker.flush(timeout=30)
    await worker.shutdown(timeout=30)


async def counts(db: asyncpg.Connection) -> tuple[int, int, int]:
    alice = await db.fetchval("SELECT count(*) FROM analytics_events WHERE user_id = $1", ALICE)
    bob = await db.fetchval("SELECT count(*) FROM analytics_events WHERE user_id = $1", BOB)
    dead = await db.fetchval("SELECT count(*) FROM analytics_dead_letters")
    return alice, bob, dead


async def test_forget_user_on_plain_postgresql(database_url: str, db: asyncpg.Connection) -> None:
    await seed(database_url)
    assert await counts(db) == (31, 21, 1)
    removed = await forget_user(db, ALICE)
    assert removed == 31 + 1
    assert await counts(db) == (0, 21, 0)
    # Nothing of Alice's left anywhere in the raw data, even inside JSON.
    assert not await db.fetchval(
        "SELECT count(*) FROM analytics_events WHERE data::text LIKE '%' || $1 || '%'", str(ALICE)
    )
    assert await forget_user(db, str(ALICE)) == 0  # idempotent; accepts the string form


async def test_forget_user_with_a_pool_and_a_dsn(database_url: str, db: asyncpg.Connection) -> None:
    await seed(database_url)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=1) as pool:
        assert await forget_user(pool, BOB) == 21
    assert await forget_user(database_url, ALICE) == 32
    assert await counts(db) == (0, 0, 0)


async def test_forget_user_rejects_bad_input(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="UUID"):
        await forget_user(database_url, "not-a-uuid")
    # The schema is the search path's; no caller-supplied identifier reaches the SQL,
    # and the one quoter refuses anything that is not a plain identifier.
    with pytest.raises(ConfigurationError, match="identifier"):
        quote_ident('events"; DROP TABLE x; --')


async def test_cli_subcommand(
    database_url: str, db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(database_url)
    code = await asyncio.to_thread(forget_user_main, [str(BOB), "--database-url", database_url])
    assert code == 0
    out = capsys.readouterr().out
    assert out.strip() == f"removed 21 rows of user {BOB}"
    assert database_url not in out
    assert await counts(db) == (31, 0, 1)
    with pytest.raises(SystemExit) as usage:
        forget_user_main(["nope", "--database-url", database_url])
    assert usage.value.code == 2
    bad = database_url.rsplit("/", 1)[0] + "/lac_no_such_database_x"
    assert await asyncio.to_thread(forget_user_main, [str(BOB), "--database-url", bad]) == 1


async def test_forget_user_removes_the_user_from_the_active_users_aggregate(
    database_url: str, db: asyncpg.Connection
) -> None:
    from lib_analytics_core import refresh_aggregates

    await seed(database_url)
    await refresh_aggregates(db)
    dau = "SELECT user_id FROM analytics_daily_active_users ORDER BY user_id"
    assert [r["user_id"] for r in await db.fetch(dau)] == sorted([ALICE, BOB])
    weeks = await db.fetchval(
        "SELECT count(*) FROM analytics_weekly_active_users WHERE user_id = $1", ALICE
    )  # 0 while her week is in progress (only ended weeks are rolled up), else 1
    removed = await forget_user(db, ALICE)
    # raw events, the dead letter, her one active day and her rolled-up weeks
    assert removed == 31 + 1 + 1 + weeks
    assert not await db.fetchval(
        "SELECT count(*) FROM analytics_weekly_active_users WHERE user_id = $1", ALICE
    )
    assert [r["user_id"] for r in await db.fetch(dau)] == [BOB]
    # the count-only aggregates keep her contribution as a number (nothing identifies her)
    tasks_created = "SELECT sum(created) FROM analytics_task_stats_daily"
    assert await db.fetchval(tasks_created) == 30 + 20
    # a refresh recomputes from the raw rows, which no longer hold her: she stays gone
    # from the active users, and recomputed counts follow the raw data
    await refresh_aggregates(db, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    assert [r["user_id"] for r in await db.fetch(dau)] == [BOB]
    assert await db.fetchval(tasks_created) == 20


async def test_analytics_migrate_forget_user_console_script(
    database_url: str, db: asyncpg.Connection
) -> None:
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    await seed(database_url)
    script = shutil.which("analytics-migrate", path=str(Path(sys.executable).parent))
    assert script is not None, "the console script is installed with the package"
    proc = await asyncio.to_thread(
        subprocess.run,
        [script, "forget-user", str(ALICE), "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"removed 32 rows of user {ALICE}"
    assert await counts(db) == (0, 21, 0)
