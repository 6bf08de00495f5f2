"""A per-process append-only journal of usage records, for crash recovery.

``gateway.usage`` appends every record here (one JSON line, one ``os.write`` on
an ``O_APPEND`` descriptor) before the answer's last byte is sent. Written bytes
live in the kernel's page cache, so a process killed with SIGKILL loses none of
them (a power loss can; nothing here calls fsync, which would cost the hot path
a disk flush per call).

The journal is a series of segment files ``<pid>-<random>.jnl`` in
``USAGE_JOURNAL_DIR``. The writing process holds an exclusive ``flock`` on each
of its segments for as long as it keeps them; the kernel drops the lock when the
process dies, which is how recovery tells a live process's segments from a dead
one's. The batch writer ``rotate()``s before each database write and
``discard()``s the rotated segments once their records are committed; records
carry a UUID and inserts ignore UUIDs already stored, so a segment replayed
after its records were written (a crash between commit and unlink) counts once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

SUFFIX = ".jnl"

Segment = tuple[int, str]


class Journal:
    """This process's segments: one being appended, others awaiting a commit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.fd: int | None = None
        self.path = ""
        self.pending: list[Segment] = []

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        temp = self.directory / f"{name}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        # Locked before it gets the name recovery looks for, so recovery never
        # mistakes a segment being born for a dead process's.
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.path = str(self.directory / f"{name}{SUFFIX}")
        temp.rename(self.path)
        self.fd = fd
        return fd

    def append(self, record: dict[str, Any]) -> None:
        """Write one record; raises OSError when the disk refuses it."""
        fd = self.fd if self.fd is not None else self._open()
        os.write(fd, orjson.dumps(record, default=str) + b"\n")

    def rotate(self) -> list[Segment]:
        """Close the current segment for appends; all segments not yet discarded."""
        if self.fd is not None:
            self.pending.append((self.fd, self.path))
            self.fd, self.path = None, ""
        return list(self.pending)

    def discard(self, segments: list[Segment]) -> None:
        """Delete segments whose records are all committed to the database."""
        for segment in segments:
            fd, path = segment
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()
            os.close(fd)
            self.pending.remove(segment)

    def forget_after_fork(self) -> None:
        # A forked child shares the parent's descriptors and locks; it starts
        # its own segments and leaves the parent's alone.
        self.fd, self.path, self.pending = None, "", []


def dead_segments(directory: Path) -> Iterator[Segment]:
    """Locked descriptors of segments whose writer is gone, oldest first.

    The caller owns each yielded descriptor (and its lock) and must close it.
    """
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}"), key=_mtime):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is alive
            os.close(fd)
            continue
        if os.fstat(fd).st_nlink == 0:  # another recoverer finished it
            os.close(fd)
            continue
        yield fd, str(path)


def read_segment(fd: int) -> list[dict[str, Any]]:
    """The records of a segment; a torn last line is skipped."""
    with os.fdopen(os.dup(fd), "rb") as handle:
        data = handle.read()
    records = []
    for line in data.splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
