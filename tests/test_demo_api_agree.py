"""``end`` means one thing: the demo prints its range as the API's ``start``/``end``
(``end`` exclusive, docs/api.md), and those very parameters give ``/v1/overview`` the
DAU/WAU/MAU the demo printed (issue 29 item 5). Before, the demo printed an inclusive
last day (``2026-11-08 .. 2026-12-07``), which as the API's ``end`` is a day shorter
range (the dashboard's "DAU 246 vs 261" for "the same" range)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from lib_analytics_core.api import create_app

DEMO = str(Path(sys.executable).with_name("analytics-demo"))
TOKEN = "agree-token-0123456789abcdef"


async def test_the_demo_range_is_the_api_range(empty_database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env["COLUMNS"] = "250"
    done = subprocess.run(  # noqa: ASYNC221 - the demo is a separate process on purpose
        [DEMO, "--database-url", empty_database_url, "--days", "10", "--users", "40",
         "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"start=(\d{4}-\d\d-\d\d) end=(\d{4}-\d\d-\d\d) \(exclusive\)", done.stdout)
    assert found, done.stdout
    start, end = found.groups()
    row = re.search(
        r"(?:last whole UTC day|today so far), [\d-]+\W+([\d,]+)\W+([\d,]+)\W+([\d,]+)", done.stdout
    )
    assert row, done.stdout
    printed = [int(v.replace(",", "")) for v in row.groups()]
    app = create_app(empty_database_url, TOKEN, cache_ttl_s=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            r = await c.get(
                "/v1/overview",
                params={"start": start, "end": end},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [body["dau"], body["wau"], body["mau"]] == printed, (body, printed)
