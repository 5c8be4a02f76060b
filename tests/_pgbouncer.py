"""A real PgBouncer in transaction pool mode in front of the test server, for the tests.

Debian's ``/usr/sbin/pgbouncer`` (1.18), started per test module on a free loopback port
with a generated ini and userlist (``auth_type = trust``: the test server trusts its
local clients too), pointed at the test server's TCP address or Unix-socket directory.
Logins must be in the userlist: :meth:`PgBouncer.allow` adds one and reloads. PgBouncer
refuses to run as root, so as root it is started with ``-u`` as an unprivileged user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lib_analytics_core._dburl import parse_database_url
from tests._net import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer:
    """A running PgBouncer; :meth:`url` turns a test-server URL into one through it."""

    def __init__(self, directory: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.directory = directory
        self.port = port
        self.process = process
        self._users: set[str] = {"postgres"}

    def url(self, server_url: str) -> str:
        """``server_url`` through the pooler: same login, database and parameters."""
        parsed = parse_database_url(server_url)
        self.allow(parsed.user or "postgres")
        return replace(parsed, hosts=("127.0.0.1",), ports=(self.port,)).url()

    def allow(self, user: str) -> None:
        """Put ``user`` in the userlist (trust: any password) and reload if it is new."""
        if user in self._users:
            return
        self._users.add(user)
        _write_userlist(self.directory, self._users)
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30  # a hang guard, asserts no speed
        log = self.directory / "pgbouncer.log"
        while log.read_text().count("got SIGHUP") < len(self._users) - 1:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)

    def log(self) -> str:
        return (self.directory / "pgbouncer.log").read_text()


def _write_userlist(directory: Path, users: set[str]) -> None:
    text = "".join(f'"{u}" ""\n' for u in sorted(users))
    path = directory / "userlist.txt"
    path.write_text(text)
    path.chmod(0o644)


def _run_as(socket_path: str | None) -> list[str]:
    """``-u USER`` as root: the owner of the server's socket (it can reach it), else an
    unprivileged user."""
    if os.geteuid() != 0:
        return []
    if socket_path is not None:
        owner = pwd.getpwuid(os.stat(socket_path).st_uid).pw_name
        if owner != "root":
            return ["-u", owner]
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["-u", name]
    raise AssertionError("running as root and no unprivileged user to run PgBouncer as")


@contextlib.contextmanager
def pgbouncer(server_url: str, *, pool_size: int = 4) -> Iterator[PgBouncer]:
    """PgBouncer (transaction mode) in front of the server ``server_url`` names."""
    if not os.path.exists(PGBOUNCER):  # CI must run these tests; elsewhere a loud skip
        message = f"{PGBOUNCER} is missing: apt-get install -y pgbouncer"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(f"PgBouncer tests NOT RUN: {message}")
    server = parse_database_url(server_url)
    target = server.host or "/var/run/postgresql"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="lac-pgbouncer-") as tmp:
        directory = Path(tmp)
        directory.chmod(0o777)
        _write_userlist(directory, {"postgres"})
        ini = directory / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={target} port={server.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {directory / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\nmin_pool_size = 0\nmax_client_conn = 500\n"
            "server_lifetime = 3600\nserver_idle_timeout = 60\n"
            f"logfile = {directory / 'pgbouncer.log'}\n"
            f"pidfile = {directory / 'pgbouncer.pid'}\n"
        )
        ini.chmod(0o644)
        process = subprocess.Popen(
            [PGBOUNCER, *_run_as(server.socket_path()), str(ini)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30  # a hang guard, asserts no speed
            while True:
                assert process.poll() is None, (directory / "pgbouncer.log").read_text()
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                assert time.monotonic() < deadline, "PgBouncer did not start listening"
                time.sleep(0.02)
            yield PgBouncer(directory, port, process)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
