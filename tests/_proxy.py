"""A TCP proxy for fault-injection tests: sits between the worker and PostgreSQL.

It runs its own asyncio loop in a daemon thread, so it keeps forwarding (or keeps
misbehaving) whatever the test's own loop is doing, and works for subprocesses too.

Modes (switch at any time with :meth:`FaultProxy.set_mode`):

* ``pass``      forward both ways.
* ``refuse``    new connections are reset at once (RST); existing ones keep working
                unless cut.
* ``blackhole`` new connections are accepted and never answered; existing connections
                stop forwarding in both directions but stay open (a silent network
                partition: the worst case for timeouts).
* ``delay``     forward, sleeping ``delay`` seconds before each chunk.

Actions: :meth:`cut` aborts every open connection now (RST mid-stream);
:meth:`cut_after_commit` arms a one-shot trap that drops the server's
``CommandComplete`` for the next ``COPY``/``INSERT`` and aborts the connection, so the
server has committed but the client never learns it (an "unknown outcome" write);
:meth:`cut_at_reset` arms a one-shot trap that aborts the connection when the client
sends asyncpg's pool reset query (``... RESET ALL;``, run when a connection is released
after a committed write), optionally switching to another mode at the same instant
(an outage that starts right after a commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Literal

Mode = Literal["pass", "refuse", "blackhole", "delay"]

# CommandComplete: 'C', int32 length, tag "COPY n" / "INSERT 0 n", NUL.
_COMMIT_TAG = re.compile(rb"C\x00\x00\x00.(?:COPY|INSERT 0) \d+\x00", re.DOTALL)
# asyncpg's Connection.reset() ends its simple query with this (pool release).
_RESET_QUERY = b"RESET ALL;"


class _Pipe:
    __slots__ = ("client", "server", "tasks")

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        for w in (self.client, self.server):
            _rst(w)
        for t in self.tasks:
            t.cancel()


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """``with FaultProxy(host, port) as proxy: dsn = proxy.dsn(database)``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.mode: Mode = "pass"
        self.delay = 0.0
        self.port = 0
        self.connections_accepted = 0
        self.commits_cut = 0
        self._cut_commit_armed = 0
        self.resets_cut = 0
        self._cut_reset_armed = 0
        self._mode_after_reset_cut: Mode | None = None
        self._pipes: set[_Pipe] = set()
        self._held: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FaultProxy:
        if self._thread.is_alive():
            return self
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            self._abort_all()
            if self._server is not None:
                self._server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dsn(self, database: str, user: str = "postgres") -> str:
        # sslmode=disable: the proxy is a plain byte pipe and the test server has no TLS.
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    # -- controls (thread-safe) --------------------------------------------------------

    def set_mode(self, mode: Mode, *, delay: float = 0.0) -> None:
        def apply() -> None:
            self.mode = mode
            self.delay = delay
            if mode == "pass":
                # Connections held open by the blackhole are dead to the client already.
                for w in list(self._held):
                    _rst(w)
                self._held.clear()

        self._call(apply)

    def cut(self) -> None:
        """Abort every open connection now, mid-stream."""
        self._call(self._abort_all)

    def cut_after_commit(self, times: int = 1) -> None:
        """Drop the next ``times`` COPY/INSERT CommandComplete replies and cut."""

        def arm() -> None:
            self._cut_commit_armed += times

        self._call(arm)

    def cut_at_reset(self, times: int = 1, *, then: Mode | None = None) -> None:
        """Abort the connection at the next ``times`` pool reset queries; then switch
        to mode ``then`` (e.g. ``refuse``: the database stays unreachable)."""

        def arm() -> None:
            self._cut_reset_armed += times
            self._mode_after_reset_cut = then

        self._call(arm)

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    def _call(self, fn: object) -> None:
        async def run() -> None:
            fn()  # type: ignore[operator]

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def _abort_all(self) -> None:
        for pipe in list(self._pipes):
            pipe.abort()
        self._pipes.clear()
        for w in list(self._held):
            _rst(w)
        self._held.clear()

    # -- forwarding --------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        if self.mode == "refuse":
            _rst(writer)
            return
        if self.mode == "blackhole":
            self._held.add(writer)
            return
        try:
            if self.target_host.startswith("/"):  # a Unix socket directory (embedded server)
                s_reader, s_writer = await asyncio.open_unix_connection(
                    f"{self.target_host}/.s.PGSQL.{self.target_port}"
                )
            else:
                s_reader, s_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
        except OSError:
            _rst(writer)
            return
        pipe = _Pipe(writer, s_writer)
        self._pipes.add(pipe)
        pipe.tasks = [
            asyncio.ensure_future(self._pump(reader, s_writer, pipe, from_server=False)),
            asyncio.ensure_future(self._pump(s_reader, writer, pipe, from_server=True)),
        ]

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pipe: _Pipe,
        *,
        from_server: bool,
    ) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self.mode == "blackhole":  # noqa: ASYNC110 - mode is set from another thread
                    await asyncio.sleep(0.05)  # hold the bytes: nothing gets through
                if self.mode == "delay" and self.delay:
                    await asyncio.sleep(self.delay)
                if from_server and self._cut_commit_armed and _COMMIT_TAG.search(data):
                    self._cut_commit_armed -= 1
                    self.commits_cut += 1
                    pipe.abort()
                    self._pipes.discard(pipe)
                    return
                if not from_server and self._cut_reset_armed and _RESET_QUERY in data:
                    self._cut_reset_armed -= 1
                    self.resets_cut += 1
                    if self._mode_after_reset_cut is not None:
                        self.mode = self._mode_after_reset_cut
                    pipe.abort()
                    self._pipes.discard(pipe)
                    return
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            return
        # One side closed: close the other (an orderly end, not a fault).
        with contextlib.suppress(Exception):
            writer.close()
        self._pipes.discard(pipe)


@contextlib.contextmanager
def fault_proxy(host: str, port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(host, port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
