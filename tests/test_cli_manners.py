"""How the console scripts behave at the edges a shell user meets (issue 29 item 5).

* A closed pipe (``analytics-migrate status | head``): no ``BrokenPipeError`` traceback,
  exit 141 like any Unix tool (before: a traceback and exit 1). Every script listed in
  pyproject.toml is run with its stdout a pipe whose reader is already gone, so the
  first write fails whatever the timing.
* ``analytics-api`` without ``ANALYTICS_API_TOKEN`` says the variable is not set (before:
  "the API token must be at least 16 characters").
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lib_analytics_core._console import EXIT_BROKEN_PIPE

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _into_closed_pipe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the script writes anything
    try:
        return subprocess.run(
            args, stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, timeout=120,
            check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    env.pop("ANALYTICS_API_TOKEN", None)
    env.update(extra)
    return env


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_into_a_closed_pipe_is_quiet(script: str) -> None:
    """argparse drops a failed help write itself (exit 0); nothing may print either way."""
    done = _into_closed_pipe([_bin(script), "--help"], _env())
    assert done.returncode in (0, EXIT_BROKEN_PIPE), (done.returncode, done.stderr)
    assert done.stderr == "", done.stderr


def test_migrate_status_into_a_closed_pipe_is_quiet(database_url: str) -> None:
    done = _into_closed_pipe([_bin("analytics-migrate"), "status"], _env(DATABASE_URL=database_url))
    assert done.returncode == EXIT_BROKEN_PIPE, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_the_api_names_the_unset_token_variable(database_url: str) -> None:
    done = subprocess.run(
        [_bin("analytics-api"), "--database-url", database_url],
        capture_output=True, text=True, env=_env(), timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ANALYTICS_API_TOKEN is not set" in done.stderr, done.stderr
    assert "must be at least 16 characters" not in done.stderr.split("choose")[0]


def test_an_unreachable_database_is_named_without_its_password() -> None:
    from tests._net import free_port

    url = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/analytics"
    done = subprocess.run(
        [_bin("analytics-migrate"), "status", "--database-url", url],
        capture_output=True, text=True, env=_env(), timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"cannot connect to {url.replace(':s3cret', '').split('//')[1]}" in done.stderr, (
        done.stderr
    )
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr, done.stderr
