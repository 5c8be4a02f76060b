"""schemathesis over the collector's own OpenAPI document, real HTTP, real database.

The request body's schema in ``/openapi.json`` is the batch schema the decoder is built
from, so generated batches exercise validation for every event type. Checks: all
defaults except ``positive_data_acceptance`` (a schema-valid batch can still be refused
per event, e.g. a string with NUL that PostgreSQL's jsonb cannot hold; that is a 200
listing the refusal, never a 5xx) and ``negative_data_rejection`` (the collector answers
invalid *events* with 200 and their per-event refusal, by design, so the good events of
the same batch are stored).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests._collect import TOKEN, collector

MAX_EXAMPLES = 60
SEED = 20261201


def test_collector_conforms_to_its_openapi_document(database_url: str, tmp_path: Path) -> None:
    with collector(database_url, rate_events_per_sec=0.0) as url:
        cmd = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/openapi.json",
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
            "positive_data_acceptance,negative_data_rejection",
            "--request-timeout",
            "30",
            "--no-color",
        ]
        run = subprocess.run(
            cmd, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
        )
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts is not None, summary
    assert int(counts[1]) == int(counts[2]) >= MAX_EXAMPLES, summary
    # Every operation tested: /events/batch, /health, /stats and the seven Segment
    # routes (issue 28), each with the message schema the routes decode with.
    assert re.search(r"Tested:\s+10\b", run.stdout), summary
