"""Two ``analytics-demo`` runs started at once into one empty database: one writes, the
other refuses (issue 29 item 5; before, both passed the "already holds events" check and
every count was doubled). Whichever order the runs take, the database ends with exactly
the events of one run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg

DEMO = str(Path(sys.executable).with_name("analytics-demo"))
SMALL = ["--days", "2", "--users", "30", "--no-progress"]


async def test_concurrent_demos_into_one_database_write_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env["COLUMNS"] = "200"
    cmd = [DEMO, "--database-url", empty_database_url, *SMALL]
    runs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # noqa: ASYNC220
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in runs]
    codes = [p.returncode for p in runs]
    assert sorted(c == 0 for c in codes) == [False, True], (codes, outputs)
    winner = outputs[codes.index(0)]
    loser = outputs[1 - codes.index(0)]
    assert re.search(r"another analytics-demo is writing|already holds events", loser), loser
    assert "Traceback" not in loser, loser
    written = int(re.search(r"wrote ([\d,]+) events", winner).group(1).replace(",", ""))  # type: ignore[union-attr]
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") == written
    finally:
        await conn.close()
