"""Start the PGlite + TimescaleDB test server (tests/timescale_server/serve.mjs).

PostgreSQL 17 + TimescaleDB 2.23 compiled to WASM, served over TCP. Limits that tests
must respect (details in tests/timescale_server/FINDINGS.md):

* one connection at a time; a second concurrent connection is queued, not served,
  until the first closes, so use one connection (or a pool with ``max_size=1``);
* every connection shares one backend; the server runs ROLLBACK + DISCARD ALL before
  handing it to the next connection;
* no background workers: call ``refresh_continuous_aggregate`` / ``run_job`` yourself;
* ``COPY ... FROM STDIN`` kills the server process.

Usage::

    with timescale_server() as dsn:
        conn = await asyncpg.connect(dsn)

Any other TimescaleDB server: set ``TEST_TIMESCALE_URL`` to a superuser DSN of it (e.g. a
native TimescaleDB preloading the extension); each use then gets a fresh database on
that server, dropped afterwards, instead of a PGlite process. Tests written for PGlite's
limits (one connection, no scheduler) hold there too; they assert behaviour, never the
server's version or vendor.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tests._net import free_port as _free_port

__all__ = ["SERVER_DIR", "TIMESCALE_URL_ENV", "ensure_node_modules", "timescale_server"]

TIMESCALE_URL_ENV = "TEST_TIMESCALE_URL"
SERVER_DIR = Path(__file__).resolve().parent / "timescale_server"
STARTUP_TIMEOUT = 60.0
_STDERR_LINES = 200


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(
            f"{tool!r} was not found on PATH; the TimescaleDB test server needs Node.js >= 20 "
            f"and npm (it runs {SERVER_DIR / 'serve.mjs'})"
        )
    return path


def _installed_matches_lock(server_dir: Path) -> bool:
    """True when node_modules holds exactly the versions that package-lock.json pins."""
    hidden = server_dir / "node_modules" / ".package-lock.json"
    try:
        wanted: dict[str, Any] = json.loads((server_dir / "package-lock.json").read_text())
        have: dict[str, Any] = json.loads(hidden.read_text())
    except (OSError, ValueError):
        return False
    wanted_pkgs: dict[str, Any] = wanted.get("packages", {})
    have_pkgs: dict[str, Any] = have.get("packages", {})
    for key, meta in wanted_pkgs.items():
        if not key.startswith("node_modules/"):
            continue  # "" is the project itself
        got = have_pkgs.get(key)
        if got is None or got.get("version") != meta.get("version"):
            return False
        if not (server_dir / key / "package.json").is_file():
            return False
    return True


@contextlib.contextmanager
def _install_lock(server_dir: Path) -> Iterator[None]:
    """Serialize installs across processes (pytest-xdist workers)."""
    tag = hashlib.sha256(str(server_dir).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"lac-timescale-npm-{tag}.lock"
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_node_modules(server_dir: Path = SERVER_DIR) -> Path:
    """Install the server's npm packages if missing or not matching package-lock.json.

    Returns the server directory. Raises RuntimeError if node/npm are absent or
    ``npm ci`` fails.
    """
    _require("node")
    if _installed_matches_lock(server_dir):
        return server_dir
    npm = _require("npm")
    with _install_lock(server_dir):
        if _installed_matches_lock(server_dir):  # another process installed meanwhile
            return server_dir
        cmd = [npm, "ci", "--legacy-peer-deps", "--no-audit", "--no-fund"]
        try:
            result = subprocess.run(
                cmd,
                cwd=server_dir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"`{' '.join(cmd)}` in {server_dir} timed out") from exc
        if result.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(cmd)}` in {server_dir} failed with exit code "
                f"{result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        if not _installed_matches_lock(server_dir):
            raise RuntimeError(
                f"`{' '.join(cmd)}` in {server_dir} succeeded but node_modules still does not "
                "match package-lock.json"
            )
    return server_dir


class _Output:
    """Drains the server's stdout/stderr in threads so the pipes never fill up."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.ready = threading.Event()
        self.port: int | None = None
        self.stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        assert proc.stdout is not None and proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            if not self.ready.is_set() and line.startswith("READY "):
                with contextlib.suppress(ValueError, IndexError):
                    self.port = int(line.split()[1])
                self.ready.set()

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line.rstrip("\n"))

    def close(self, proc: subprocess.Popen[str], timeout: float = 5.0) -> None:
        """Wait for the readers to reach EOF (the process has exited), close the pipes."""
        for thread in self._threads:
            thread.join(timeout)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stderr_text(self) -> str:
        return "\n".join(self.stderr) or "(no stderr output)"


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextlib.contextmanager
def _external_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server at ``admin_url``, dropped afterwards."""
    import uuid

    import asyncpg

    from lib_analytics_core._dburl import with_database

    name = f"lac_ts_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run_sync(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(admin_url, name)
    finally:
        _run_sync(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def timescale_server(
    *, startup_timeout: float = STARTUP_TIMEOUT, data_dir: Path | None = None
) -> Iterator[str]:
    """Yield the DSN of a fresh TimescaleDB database: on ``$TEST_TIMESCALE_URL``'s
    server if set, else on a PGlite server started for this use (see :func:`_pglite`)."""
    external = os.environ.get(TIMESCALE_URL_ENV)
    if external and data_dir is None:
        with _external_database(external) as dsn:
            yield dsn
        return
    with _pglite(startup_timeout=startup_timeout, data_dir=data_dir) as dsn:
        yield dsn


@contextlib.contextmanager
def _pglite(
    *, startup_timeout: float = STARTUP_TIMEOUT, data_dir: Path | None = None
) -> Iterator[str]:
    """Run serve.mjs on a free loopback port and yield its DSN.

    The DSN is ``postgresql://postgres:postgres@127.0.0.1:PORT/postgres``. PGlite accepts
    any user, password and database name (it asks for an MD5 password, which libpq
    clients need to have, and always serves its one database, named ``template1``).
    Raises RuntimeError if the server does not print ``READY`` within
    ``startup_timeout`` seconds (the process is killed; its stderr is in the message),
    or if it died while the ``with`` body ran (e.g. after ``COPY ... FROM STDIN``);
    if the body itself raised, the server's fate is added to that exception as a note.
    """
    node = _require("node")
    server_dir = ensure_node_modules()
    cmd = [node, "serve.mjs", "--host", "127.0.0.1"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    for attempt in range(3):  # the free port can be taken between probe and listen
        port = _free_port()
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)],
            cwd=server_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(os.environ),
        )
        output = _Output(proc)
        deadline = time.monotonic() + startup_timeout
        while not output.ready.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
        if output.ready.is_set() and output.port == port:
            break
        timed_out = proc.poll() is None
        _stop(proc)
        output.close(proc)
        stderr = output.stderr_text()
        if not timed_out and "EADDRINUSE" in stderr and attempt < 2:
            continue
        what = (
            f"did not print READY within {startup_timeout:g}s"
            if timed_out
            else f"exited with code {proc.returncode} before it was ready"
        )
        raise RuntimeError(f"TimescaleDB test server ({' '.join(cmd)}) {what}; stderr:\n{stderr}")

    dsn = f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
    try:
        yield dsn
    except BaseException as exc:
        if proc.poll() is not None:
            output.close(proc)
            exc.add_note(
                f"the TimescaleDB test server at {dsn} had exited with code "
                f"{proc.returncode}; its stderr:\n{output.stderr_text()}"
            )
        raise
    finally:
        died = proc.poll()
        _stop(proc)
        output.close(proc)
    if died is not None:
        raise RuntimeError(
            f"the TimescaleDB test server at {dsn} exited unexpectedly with code {died} "
            f"(COPY ... FROM STDIN kills it); its stderr:\n{output.stderr_text()}"
        )
