"""The opt-in durable spool: batches the database cannot take now, kept on local disk.

Format: append-only segment files ``spool-<time_ns>-<pid>.seg`` of records

    magic b"ALS1" | u32 payload length | u32 CRC-32 of payload | payload (msgpack rows)

Each append is ``fsync``'d before the worker counts its events as spooled, so a
SIGKILL right after loses nothing. Replay reads segments oldest first; a record whose
magic, length or checksum is wrong (a torn write at a crash, a corrupted disk) is
reported and skipped by scanning forward to the next magic, so one bad record never
blocks the rest. Replayed rows go through the idempotent INSERT, so a segment that was
half-replayed before a crash is replayed again without duplicates.

Several processes may share a directory: each appends only to its own segment and
holds an exclusive ``flock`` on it while it is open; replay claims a segment with a
non-blocking ``flock`` and skips segments another live process holds.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import logging
import os
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from ._encoding import Row

__all__ = ["Spool"]

logger = logging.getLogger("lib_analytics_core")

_MAGIC = b"ALS1"
_HEADER = struct.Struct(">4sII")
_SEGMENT_MAX_BYTES = 16 * 1024 * 1024
_RowType = tuple[_dt.datetime, uuid.UUID, str, str, uuid.UUID | None, str]
_decoder = msgspec.msgpack.Decoder(list[_RowType])
_encoder = msgspec.msgpack.Encoder()


class Spool:
    """Append batches to disk; hand them back oldest first for replay."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.corrupt_records = 0
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._pid = os.getpid()
        self._pending = any(self.directory.glob("spool-*.seg"))

    # -- writing -------------------------------------------------------------------

    def _disk_usage(self) -> int:
        total = 0
        for p in self.directory.glob("spool-*.seg"):
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def _current(self) -> IO[bytes]:
        if self._pid != os.getpid():  # forked: never share a parent's segment
            self._file = None
            self._path = None
            self._pid = os.getpid()
        if self._file is None:
            path = self.directory / f"spool-{time.time_ns():020d}-{os.getpid()}.seg"
            f = open(path, "ab")  # noqa: SIM115 - kept open across appends, closed in rotate()
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file, self._path = f, path
            _fsync_dir(self.directory)
        return self._file

    def append(self, rows: list[Row]) -> bool:
        """Durably append one batch. False if the size cap would be exceeded."""
        payload = _encoder.encode(rows)
        record = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload
        if self._disk_usage() + len(record) > self.max_bytes:
            logger.error(
                "analytics spool %s is full (%d bytes cap); batch of %d events not spooled",
                self.directory,
                self.max_bytes,
                len(rows),
            )
            return False
        f = self._current()
        f.write(record)
        f.flush()
        os.fsync(f.fileno())
        self._pending = True
        if f.tell() >= _SEGMENT_MAX_BYTES:
            self.rotate()
        return True

    def rotate(self) -> None:
        """Close the segment being appended to, making it available for replay."""
        f, self._file, self._path = self._file, None, None
        if f is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    # -- replay --------------------------------------------------------------------

    def has_pending(self) -> bool:
        return self._pending

    def pending_segments(self) -> Iterator[Path]:
        """Segments to replay, oldest first, each claimed with a non-blocking lock."""
        self.rotate()
        found = False
        for path in sorted(self.directory.glob("spool-*.seg")):
            found = True
            yield path
        if not found:
            self._pending = False

    def read_segment(self, path: Path) -> Iterator[list[Row]]:
        """Yield the batches of one segment; skip (and count) corrupt records."""
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed in finally
        except FileNotFoundError:
            return
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another live process is appending to or replaying it
            data = f.read()
        finally:
            f.close()
        pos = 0
        while pos < len(data):
            if len(data) - pos < _HEADER.size:
                self._corrupt(path, pos, "truncated record header")
                return
            magic, length, crc = _HEADER.unpack_from(data, pos)
            start = pos + _HEADER.size
            payload = data[start : start + length]
            if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
                reason = (
                    "bad magic"
                    if magic != _MAGIC
                    else ("truncated record" if len(payload) != length else "checksum mismatch")
                )
                self._corrupt(path, pos, reason)
                nxt = data.find(_MAGIC, pos + 1)
                if nxt < 0:
                    return
                pos = nxt
                continue
            try:
                rows: list[Row] = _decoder.decode(payload)
            except msgspec.DecodeError:
                self._corrupt(path, pos, "undecodable payload")
                pos = start + length
                continue
            pos = start + length
            yield rows

    def remove_segment(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _fsync_dir(self.directory)

    def _corrupt(self, path: Path, offset: int, reason: str) -> None:
        self.corrupt_records += 1
        logger.error("analytics spool: %s in %s at byte %d; skipping it", reason, path, offset)

    def close(self) -> None:
        self.rotate()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
