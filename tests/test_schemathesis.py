"""schemathesis against the API's own OpenAPI document, over real HTTP and a real database.

uvicorn serves the app on a loopback port over a seeded, migrated PostgreSQL; schemathesis
reads ``/openapi.json`` and generates requests for every operation (valid and invalid
values, edges of every declared limit), with a fixed seed and a bounded number of examples
so a run is deterministic and a failure reproduces.

The run uses every phase that applies (examples, coverage of each declared limit,
fuzzing) and must end with every generated case passing. schemathesis warns that most
generated requests are rejected: random years are mostly outside 2000..2200 and random
ranges mostly run backwards, and those are 400s by design (the pattern of a date stays
year-agnostic so that year 0001 gets a 400 naming the bounds, not a pattern mismatch).

Checks: all of schemathesis' defaults except ``positive_data_acceptance``, which expects
every schema-valid request to succeed. This API has constraints between parameters that
OpenAPI cannot express (``start`` before ``end``, a maximum range per route, dates within
2000..2200 while ``format: date-time`` allows years 0001..9999); those are answered 400
with a message, which the schema declares, and the other checks hold the API to that:
no 5xx, only declared status codes, bodies and content types that match the schema.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from lib_analytics_core import refresh_aggregates
from lib_analytics_core.api import create_app
from tests import _read_seed
from tests._serve import serve_in_thread

TOKEN = "schemathesis-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Examples per operation and the seed: bounded and deterministic.
MAX_EXAMPLES = 80
SEED = 20261130


@pytest.fixture
def api_url(database_url: str) -> Iterator[str]:
    async def seed() -> None:
        d0 = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        d0 -= dt.timedelta(days=10)
        await _read_seed.write(database_url, _read_seed.build(d0))
        conn = await asyncpg.connect(database_url)
        try:
            await refresh_aggregates(conn, start=d0 - dt.timedelta(days=1))
        finally:
            await conn.close()

    asyncio.run(seed())
    with serve_in_thread(create_app(database_url, TOKEN)) as url:
        yield url


def test_api_conforms_to_its_openapi_document(api_url: str, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{api_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--workers",
        "1",
        "--exclude-checks",
        "positive_data_acceptance",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    # cwd: schemathesis keeps a cache directory (.schemathesis/) where it runs.
    run = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts is not None, summary
    generated, passed = int(counts[1]), int(counts[2])
    assert generated == passed and generated >= 10 * MAX_EXAMPLES, summary
