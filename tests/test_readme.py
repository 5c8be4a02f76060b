"""The README's first example runs as written against a real database."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent


def first_python_block() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match is not None
    return match.group(1)


async def test_readme_example_runs_and_stores_the_event(empty_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", first_python_block()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ShutdownReport(written=1, spooled=0, lost=0, timed_out=False)" in proc.stdout
    conn = await asyncpg.connect(empty_database_url)
    try:
        row = await conn.fetchrow(
            "SELECT event_type, service, data->>'command' AS cmd FROM analytics_events"
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["event_type"], row["service"], row["cmd"]) == ("task_created", "platform", "ls -la")
