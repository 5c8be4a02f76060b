"""The opt-in durable spool: batches the database cannot take now, kept on local disk.

Format: append-only segment files ``spool-<time_ns>-<pid>.seg`` of records

    magic b"ALS1" | u32 payload length | u32 CRC-32 of payload | payload (msgpack rows)

Each append is ``fsync``'d before the worker counts its events as spooled, so a
SIGKILL right after loses nothing. Rows are spooled *after* encoding, with their event
id and timestamp, so a replay stores exactly the row that would have been stored.

Replay reads segments oldest first. A record whose magic, length or checksum is wrong
(a torn write at a crash, a corrupted disk) is reported and skipped by scanning forward
to the next magic, so one bad record never blocks the rest; a segment that had bad
records is renamed ``*.corrupt`` (kept for inspection, never replayed again) instead of
being deleted. Replayed rows go through the idempotent INSERT, so a segment that was
half-replayed before a crash is replayed again without duplicates.

Several processes may share a directory (gunicorn workers, a restarted service): each
appends only to its own segment and holds an exclusive ``flock`` on it while it is
open. A segment is created under a hidden temporary name, locked, and only then renamed
into view, so no other process can ever see (claim, replay, delete) a segment
before its writer holds the lock. Replay claims a segment with a non-blocking
``flock`` held until the segment is deleted (checking it is still the same file), and
skips segments another live process holds. A segment left behind by a
dead process is unlocked (the kernel drops flocks with the process) and is replayed by
whichever process scans the directory next.

This class does blocking file I/O (write, fsync, glob, read) and must never be called on
an event loop: the worker reaches it only through :class:`~.spool_io.AsyncSpool`, which
runs every call in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from .rows import Row, decode_rows, encode_rows
from .stats import LogLimiter

__all__ = ["SegmentClaim", "Spool"]

logger = logging.getLogger("lib_analytics_core")

_MAGIC = b"ALS1"
_HEADER = struct.Struct(">4sII")
_SEGMENT_MAX_BYTES = 16 * 1024 * 1024
#: How often a process with nothing of its own to replay looks for segments left by
#: other (possibly dead) processes sharing the directory.
_RESCAN_SECS = 5.0
#: errno values that mean "the disk is full" (the spool reports ``full`` for them).
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class SegmentClaim:
    """One segment locked for replay by this process; release it when done."""

    def __init__(self, spool: Spool, path: Path, file: IO[bytes]) -> None:
        self.spool = spool
        self.path = path
        self._file: IO[bytes] | None = file
        self.corrupt = 0
        #: Reading failed part-way (an I/O error): not replayed to its end, keep it.
        self.incomplete = False

    @property
    def name(self) -> str:
        return self.path.name

    def records(self, start: int = 0) -> Iterator[tuple[int, list[Row]]]:
        """``(index, rows)`` of each intact record from the ``start``-th one on.

        Indexes count intact records only, so they are stable across re-reads of an
        unchanged file (replay resumes where it stopped without re-counting). Where the
        last pass over this segment stopped is remembered (record index, byte offset,
        corrupt records seen), so a resume seeks there instead of reading and decoding
        the segment from its start again.
        """
        assert self._file is not None
        index, base, corrupt = 0, 0, 0
        mark = self.spool._resume.get(self.path.name)
        if mark is not None and mark[0] <= start:
            index, base, corrupt = mark
        self._file.seek(base)
        data = self._file.read()
        self.corrupt = corrupt
        pos = 0
        torn = self.spool._torn.get(self.path.name)
        if torn is not None:
            # This process cut a failed append off here (or could not): what follows is
            # not a record, and not corruption either.
            data = data[: max(0, torn - base)]
        while pos < len(data):
            if len(data) - pos < _HEADER.size:
                self._bad(pos, "truncated record header")
                return
            magic, length, crc = _HEADER.unpack_from(data, pos)
            start_payload = pos + _HEADER.size
            payload = data[start_payload : start_payload + length]
            if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
                if magic != _MAGIC:
                    reason = "bad magic"
                elif len(payload) != length:
                    reason = "truncated record"
                else:
                    reason = "checksum mismatch"
                self._bad(pos, reason)
                nxt = data.find(_MAGIC, pos + 1)
                if nxt < 0:
                    return
                pos = nxt
                continue
            if index < start:  # replayed in an earlier pass: no need to decode it
                pos = start_payload + length
                index += 1
                continue
            try:
                rows: list[Row] = decode_rows(payload)
            except msgspec.DecodeError:
                self._bad(pos, "undecodable payload")
                pos = start_payload + length
                continue
            pos = start_payload + length
            index += 1
            self.spool._resume[self.path.name] = (index, base + pos, self.corrupt)
            if index - 1 >= start:
                yield index - 1, rows

    def _bad(self, offset: int, reason: str) -> None:
        self.corrupt += 1
        self.spool.corrupt_records += 1
        if self.corrupt == 1:
            logger.error(
                "analytics spool: %s in %s at byte %d; skipping it and replaying the rest",
                reason,
                self.path,
                offset,
            )

    def finish(self) -> None:
        """Everything readable was replayed: delete the segment (or quarantine it)."""
        if self.corrupt:
            target = self.path.with_suffix(".corrupt")
            logger.error(
                "analytics spool: %d corrupt record(s) in %s; kept as %s for inspection",
                self.corrupt,
                self.path.name,
                target.name,
            )
            with contextlib.suppress(OSError):
                self.path.rename(target)
        else:
            self.path.unlink(missing_ok=True)
        self.spool._resume.pop(self.path.name, None)
        self.spool._torn.pop(self.path.name, None)
        self.spool.full = False  # space was freed
        _fsync_dir(self.spool.directory)
        self.release()

    def release(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()  # closing the only descriptor drops the flock


class Spool:
    """Append batches to disk; hand them back oldest first for replay."""

    def __init__(
        self, directory: Path, *, max_bytes: int, segment_max_bytes: int | None = None
    ) -> None:
        self.directory = Path(directory)
        # No disk access here: a worker is often built on the application's event loop.
        # The directory is created by the first append; the first replay pass scans it.
        self.max_bytes = max_bytes
        self.corrupt_records = 0
        self.append_failures = 0
        #: The last append failed for lack of space (disk full, quota, size cap); cleared
        #: by the next append that succeeds or a replayed segment freeing space.
        self.full = False
        #: Segment name -> byte offset where a failed append began: a torn tail this
        #: process wrote itself, skipped silently on replay (not counted as corrupt).
        self._torn: dict[str, int] = {}
        self._append_log = LogLimiter(30.0)  # a full disk fails every append
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._pid = os.getpid()
        self._pending = True  # until a first scan says otherwise (a crash may have left some)
        self._next_scan = time.monotonic() + _RESCAN_SECS
        self._segment_max_bytes = segment_max_bytes
        #: Segment name -> (next record index, its byte offset, corrupt records so far)
        self._resume: dict[str, tuple[int, int, int]] = {}

    # -- writing -------------------------------------------------------------------

    def disk_usage(self) -> int:
        """Bytes the spool holds (pending and quarantined segments)."""
        total = 0
        for pattern in ("spool-*.seg", "spool-*.corrupt"):
            for p in self.directory.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    total += p.stat().st_size
        return total

    def _current(self) -> IO[bytes]:
        if self._pid != os.getpid():
            # Forked: the inherited descriptor shares the parent's open file (and its
            # flock). Forget it without unlocking; the child appends to its own file.
            self._file = None
            self._path = None
            self._pid = os.getpid()
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"spool-{time.time_ns():020d}-{os.getpid()}.seg"
            hidden = self.directory / f".{name}.new"  # matches no replay glob
            path = self.directory / name
            # Unbuffered: a failed write leaves nothing in a Python buffer for close() to
            # flush (and fail on) again, and truncate() is a plain ftruncate.
            f = open(hidden, "ab", buffering=0)  # noqa: SIM115 - closed in rotate()
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rename(hidden, path)  # visible only now, already locked
            except OSError:
                f.close()
                with contextlib.suppress(OSError):
                    hidden.unlink()
                raise
            self._file, self._path = f, path
            _fsync_dir(self.directory)
        return self._file

    def append(self, rows: list[Row]) -> bool:
        """Durably append one batch. False if it could not be (size cap, disk error).

        Never raises, whatever the disk does: a full or broken disk must not take the
        worker down; the caller keeps the batch in memory instead. A record torn by a
        failed write is cut off (or, if even that fails, remembered and skipped by the
        replay of this process) and the segment is closed, so the next append starts a
        fresh one.
        """
        try:
            payload = encode_rows(rows)
            record = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload
            if self.disk_usage() + len(record) > self.max_bytes:
                self.append_failures += 1
                self.full = True
                return False
            f = self._current()
            # The real end of the file: after a cut, the position is not where the next
            # (O_APPEND) write goes, and a cut to a stale offset would keep a torn record.
            start = f.seek(0, os.SEEK_END)
            try:
                _write_all(f, record)
                f.flush()
                os.fsync(f.fileno())
            except BaseException:
                self._cut(f, start)
                raise
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt | SystemExit):
                raise
            # Anything else, even a CancelledError raised in this thread, is a failed
            # append: the batch stays in memory, the worker carries on.
            self.append_failures += 1
            self.full = isinstance(err, OSError) and err.errno in _FULL_ERRNOS
            if self._append_log.allow():
                logger.error(
                    "analytics spool %s: cannot append: %s: %s (%d failed appends so far, "
                    "%d similar messages suppressed)",
                    self.directory,
                    type(err).__name__,
                    err,
                    self.append_failures,
                    self._append_log.take_suppressed(),
                )
            self.rotate()
            return False
        self._pending = True
        self.full = False
        limit = self._segment_max_bytes
        if f.tell() >= (_SEGMENT_MAX_BYTES if limit is None else limit):
            self.rotate()
        return True

    def _cut(self, f: IO[bytes], start: int) -> None:
        """Cut a torn record off; if that fails too, remember where it began."""
        try:
            f.truncate(start)
            f.seek(start)
        except Exception:
            if self._path is not None:
                self._torn[self._path.name] = start

    def rotate(self) -> None:
        """Close the segment being appended to, making it available for replay.
        Never raises (it runs in ``append``'s error handling)."""
        f, self._file, self._path = self._file, None, None
        if f is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            with contextlib.suppress(Exception):
                f.close()

    # -- replay --------------------------------------------------------------------

    def has_pending(self) -> bool:
        """Whether a replay pass is worth trying (own segments, or time for a rescan)."""
        if self._pending:
            return True
        if time.monotonic() >= self._next_scan:
            self._next_scan = time.monotonic() + _RESCAN_SECS
            self._pending = any(self.directory.glob("spool-*.seg"))
        return self._pending

    def segments(self) -> list[Path]:
        """Segments to replay, oldest first (closes this process's current segment)."""
        self.rotate()
        paths = sorted(self.directory.glob("spool-*.seg"))
        if not paths:
            self._pending = False
        return paths

    def claim(self, path: Path) -> SegmentClaim | None:
        """Lock ``path`` for replay; None if it is gone or another process holds it."""
        try:
            f = open(path, "rb")  # noqa: SIM115 - owned by the returned claim
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return None
        try:
            same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # replayed and deleted by another process meanwhile
            same = False
        if not same:
            f.close()
            return None
        return SegmentClaim(self, path, f)

    def note_idle(self) -> None:
        """A replay pass found only segments held by others: rescan later, not now."""
        self._pending = False
        self._next_scan = time.monotonic() + _RESCAN_SECS

    def close(self) -> None:
        self.rotate()


def _write_all(f: IO[bytes], data: bytes) -> None:
    """``write`` on an unbuffered file may write part of ``data``: write the rest."""
    view = memoryview(data)
    while view:
        n = f.write(view)
        if not n:
            raise OSError(errno.EIO, "the spool file accepted no bytes")
        view = view[n:]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
