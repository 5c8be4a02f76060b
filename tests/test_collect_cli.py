"""``analytics-collect`` as installed: the fixed interface (``--host/--port``, tokens
from ``ANALYTICS_COLLECT_TOKENS``), the ``schema`` subcommand, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from lib_analytics_core import AnalyticsConfig, ConfigurationError
from lib_analytics_core.ingest.sinks import make_sink
from tests._collect import AUTH, TOKENS, seed_batch
from tests._net import free_port
from tests.test_console_scripts import BIN, run_script


def test_schema_subcommand_writes_one_file_per_type_and_the_batch(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "analytics-collect"), "schema", str(tmp_path / "schemas")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    files = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert len(files) == 30 and "batch.json" in files and "task_created.json" in files
    assert "wrote 30 schemas" in out.stdout
    printed = subprocess.run(
        [str(BIN / "analytics-collect"), "schema"], capture_output=True, text=True, check=True
    )
    schema = json.loads(printed.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema == json.loads((tmp_path / "schemas" / "batch.json").read_text())


def test_missing_database_tokens_or_extra_are_named_without_echoing_tokens(tmp_path: Path) -> None:
    no_db = run_script(tmp_path, "analytics-collect", [], "", ANALYTICS_COLLECT_TOKENS=TOKENS)
    assert no_db.returncode == 2 and "DATABASE_URL" in no_db.stderr
    url = ["--database-url", "postgresql://127.0.0.1:1/x"]
    no_tokens = run_script(tmp_path, "analytics-collect", url, "")
    assert no_tokens.returncode == 2 and "ANALYTICS_COLLECT_TOKENS" in no_tokens.stderr
    weak = run_script(tmp_path, "analytics-collect", url, "", ANALYTICS_COLLECT_TOKENS="sekrit=x")
    assert weak.returncode == 2 and "sekrit" not in weak.stderr + weak.stdout
    no_api = run_script(
        tmp_path, "analytics-collect", url, "fastapi,uvicorn", ANALYTICS_COLLECT_TOKENS=TOKENS
    )
    # fastapi and uvicorn come with the collect extra (which includes api)
    assert no_api.returncode == 2 and "pip install '.[collect]'" in no_api.stderr
    assert "Traceback" not in no_api.stderr


def test_http_transport_without_httpx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "lib_analytics_core.ingest.sinks.http", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install '\.\[http\]'"):
        make_sink(AnalyticsConfig(transport="http://collector:8094"), None)


def test_the_installed_script_serves_the_seed_format(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ANALYTICS_COLLECT_TOKENS": TOKENS, "DATABASE_URL": database_url}
    log = (tmp_path / "collect.log").open("w+")
    proc = subprocess.Popen(
        [str(BIN / "analytics-collect"), "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health").json() == {"status": "ok"}:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        r = httpx.post(
            f"{base}/events/batch", content=msgspec.json.encode(seed_batch()), headers=AUTH
        )
        assert r.json() == {"received": 29, "rejected": []}
        assert httpx.post(f"{base}/events/batch", content=b"[]").status_code == 401
    finally:
        proc.terminate()
        proc.wait(30)
        log.seek(0)
        output = log.read()
        log.close()
    for token in (t.split("=")[0] for t in TOKENS.split(",")):
        assert token not in output  # never logged, not even at startup or on a 401
