"""Issue 15, as a new user meets it: the demo's target, its signals, the wrapper's.

Each run is a real subprocess on a real (embedded) PostgreSQL. What is checked is what
the user would find afterwards: processes still running (found by a marker variable
they inherit, see ``tests/_processes.py``), directories left in the temporary directory,
rows in a database the demo was not given.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import asyncpg
import psutil  # type: ignore[import-untyped]  # no stubs pinned; used in tests only
import pytest

from lib_analytics_core._dburl import (
    describe_database_url,
    parse_database_url,
    resolve_database_url,
    with_login,
)
from tests._net import free_port as _free_port
from tests._processes import describe, wait_until_gone

ROOT = Path(__file__).resolve().parent.parent
MARK = "LAC_FIRST_HOUR_TEST"
DEMO = [sys.executable, "-m", "lib_analytics_core.demo.command"]
WRAPPER = [sys.executable, str(ROOT / "tasks.py"), "demo"]
SMALL = ["--days", "1", "--users", "20", "--no-progress"]


def _env(tmp_path: Path, marker: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "PLATFORM_DATABASE_URL", "ANALYTICS_API_TOKEN")
    }
    # The demo's temporary directory lands here, so leftovers are this test's alone.
    env.update(TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1", COLUMNS="160", **extra)
    env[MARK] = marker
    return env


class Running:
    """A subprocess whose output is read in the background, line by line."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 180) -> None:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"no {text!r} within {timeout}s; output: {''.join(self.seen)}")
            self.seen.append(line)
            if text in line:
                return

    def finish(self, timeout: float = 120) -> str:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"did not stop within {timeout}s; output: {''.join(self.seen)}")
        # The pipe closes when every process holding it is gone; one still holding it
        # (the pre-fix demo outliving its wrapper) is reported by _assert_nothing_left.
        self.reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        if not self.reader.is_alive():
            assert self.proc.stdout is not None
            self.proc.stdout.close()
        return "".join(self.seen)


def _assert_nothing_left(tmp_path: Path, marker: str, output: str) -> None:
    left = wait_until_gone(MARK, marker)
    shown = describe(left)
    for proc in left:  # this test's own leftovers: stop them, then fail
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not left, f"still running after it stopped: {shown}\n{output}"
    dirs = sorted(p.name for p in tmp_path.glob("analytics-demo-*"))
    assert dirs == [], f"temporary directories left behind: {dirs}\n{output}"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "sig"),
    [
        ("wrapper", signal.SIGTERM),  # timeout -s TERM 20 python3 tasks.py demo --serve
        ("wrapper", signal.SIGHUP),  # the terminal running tasks.py went away
        ("wrapper", signal.SIGINT),  # kill -INT from a script (not a terminal's Ctrl+C)
        ("demo", signal.SIGTERM),  # kill -TERM of analytics-demo itself
        ("demo", signal.SIGHUP),  # the terminal went away
        ("demo", signal.SIGINT),  # Ctrl+C
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_a_signal_to_the_serving_demo_leaves_nothing_behind(
    tmp_path: Path, target: str, sig: signal.Signals
) -> None:
    marker = uuid.uuid4().hex
    cmd = (WRAPPER if target == "wrapper" else DEMO) + [
        "--serve",
        "--port",
        str(_free_port()),
        *SMALL,
    ]
    run = Running(cmd, _env(tmp_path, marker))
    run.wait_for("Ctrl+C to stop.")
    run.proc.send_signal(sig)
    output = run.finish()
    _assert_nothing_left(tmp_path, marker, output)
    assert run.proc.returncode == 0, output
    assert f"stopped ({sig.name})" in output


@pytest.mark.slow
def test_a_signal_while_simulating_stops_cleanly_and_says_it_did_not_finish(
    tmp_path: Path,
) -> None:
    marker = uuid.uuid4().hex
    run = Running(
        [*DEMO, "--days", "30", "--users", "400", "--no-progress"], _env(tmp_path, marker)
    )
    run.wait_for("migrated (")
    run.proc.send_signal(signal.SIGTERM)
    output = run.finish()
    _assert_nothing_left(tmp_path, marker, output)
    assert run.proc.returncode == 128 + signal.SIGTERM, output
    assert "stopped (SIGTERM)" in output
    assert "Active users" not in output


async def test_the_demo_ignores_database_url_from_the_environment(
    tmp_path: Path, database_url: str
) -> None:
    marker = uuid.uuid4().hex
    env = _env(tmp_path, marker, DATABASE_URL=database_url, PLATFORM_DATABASE_URL=database_url)
    proc = subprocess.run(  # noqa: ASYNC221 - the demo is a separate process on purpose
        [*DEMO, *SMALL], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "DATABASE_URL and PLATFORM_DATABASE_URL set but not used" in output
    assert "writing to the embedded PostgreSQL" in output
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") == 0
    finally:
        await conn.close()
    _assert_nothing_left(tmp_path, marker, output)


async def test_the_demo_names_its_target_without_the_password(
    tmp_path: Path, database_url: str
) -> None:
    user = parse_database_url(database_url).user or "postgres"
    # Trust authentication ignores the password; what matters is that it is never shown.
    with_password = with_login(database_url, user, "hunter2-not-shown")
    env = _env(tmp_path, uuid.uuid4().hex)
    del env["COLUMNS"]  # output to a pipe, as in CI logs or `> file`
    proc = subprocess.run(  # noqa: ASYNC221 - the demo is a separate process on purpose
        [*DEMO, "--database-url", with_password, *SMALL],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert f"writing to {describe_database_url(database_url)} (from --database-url)" in output
    assert "hunter2" not in output
    # Not wrapped at 80 columns: the Tasks table's header (97 wide) is one line.
    assert re.search(r"┃ created ┃ completed ┃.*┃ p95 duration \(median day\) ┃", output), output
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics_events") > 0
    finally:
        await conn.close()


def test_describe_database_url_never_shows_a_password() -> None:
    assert describe_database_url("postgresql://app:s3cret@db.internal:6432/prod") == (
        "app@db.internal:6432/prod"
    )
    assert describe_database_url("postgres://app@db/prod?password=s3cret") == "app@db/prod"
    assert describe_database_url("postgresql:///analytics?host=/run/pg&user=me") == (
        "me@/run/pg/analytics"
    )
    assert "s3cret" not in describe_database_url("postgresql://u:s3cret@[::1/x")


def test_one_resolution_order_for_the_console_scripts() -> None:
    both = {"DATABASE_URL": "a", "PLATFORM_DATABASE_URL": "b"}
    assert resolve_database_url("x", both) == "x"
    assert resolve_database_url(None, both) == "a"
    assert resolve_database_url(None, {"PLATFORM_DATABASE_URL": "b"}) == "b"
    assert resolve_database_url(None, {"DATABASE_URL": ""}) is None


def _tasks(args: list[str], **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, str(ROOT / "tasks.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_tasks_help_exits_zero_and_lists_every_command() -> None:
    proc = _tasks(["--help"])
    assert proc.returncode == 0, proc.stderr
    for command in ("demo", "test", "bench", "lint", "doctor"):
        assert f"tasks.py {command}" in proc.stdout
    assert _tasks(["no-such-command"]).returncode == 2


def test_doctor_names_what_is_missing_and_how_to_install_it(tmp_path: Path) -> None:
    # A PATH without node or npm: the TimescaleDB tier would be skipped locally.
    proc = _tasks(["doctor"], PATH=str(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MISSING Node.js + npm: the TimescaleDB test tier" in proc.stdout
    assert "apt-get install -y nodejs npm" in proc.stdout
    assert "a local run is partial" in proc.stdout


def test_the_test_command_prints_the_doctor_summary_first() -> None:
    proc = _tasks(["test", "--collect-only", "-q", "tests/test_config.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.index("optional components") < proc.stdout.index("test_config.py")


WAITING_TEST = """
import time

def test_waits_on_the_embedded_server(admin_url):
    print("READY", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_killed_test_run_stops_its_embedded_postgres(tmp_path: Path, sig: signal.Signals) -> None:
    """``kill`` of ``tasks.py test`` (forwarded to pytest) still runs the fixtures' teardown."""
    (tmp_path / "test_waiting.py").write_text(WAITING_TEST)
    marker = uuid.uuid4().hex
    env = _env(tmp_path, marker)
    env.pop("TEST_DATABASE_URL", None)  # the embedded server, started by the admin_url fixture
    cmd = [
        sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
        "--rootdir", str(ROOT), "-p", "tests.conftest", "-p", "no:cacheprovider",
        "-s", "-q", str(tmp_path / "test_waiting.py"),
    ]  # fmt: skip
    run = Running(cmd, env)
    run.wait_for("READY")
    run.proc.send_signal(sig)
    output = run.finish()
    _assert_nothing_left(tmp_path, marker, output)
    assert list(tmp_path.glob("lac-embedded-pg-*")) == [], output
    assert run.proc.returncode == pytest.ExitCode.INTERRUPTED, output
