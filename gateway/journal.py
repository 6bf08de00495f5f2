"""A per-process append-only journal of usage records, for crash recovery.

``gateway.usage`` appends every record here (one JSON line, one ``os.write`` on
an ``O_APPEND`` descriptor) before the answer's last byte is sent. Written bytes
live in the kernel's page cache, so a process killed with SIGKILL loses none of
them (a power loss can; nothing here calls fsync, which would cost the hot path
a disk flush per call).

The journal is a series of segment files ``<pid>-<random>.jnl`` in
``USAGE_JOURNAL_DIR``. The writing process holds an exclusive ``flock`` on the
segment it appends to; the kernel drops the lock when the process dies, which
is how an importer tells a live process's segment from a dead one's. Every
``USAGE_FLUSH_INTERVAL`` the process ``release()``s its segment: renamed to
``.ready`` and unlocked, it is the importer's (``gateway.usage_writer``, a
process of its own, or ``usage.flush()``), which locks it, writes its records
and deletes it. Records carry a UUID and inserts ignore UUIDs already stored,
so a segment imported twice (a crash between commit and unlink) counts once.
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
READY = ".ready"

Segment = tuple[int, str]


class Journal:
    """This process's segment being appended, and the ones it released
    (``released``: path → records) that may not be imported yet."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.fd: int | None = None
        self.path = ""
        self.lines = 0
        self.released: dict[str, int] = {}

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
        self.lines += 1

    def release(self) -> None:
        """Hand the current segment (if it has records) to the importers:
        renamed ``.ready`` while still locked, then unlocked."""
        fd = self.fd
        if fd is None:
            return
        ready = self.path[: -len(SUFFIX)] + READY
        try:
            Path(self.path).rename(ready)
        except OSError:
            # The name stays: an unlocked .jnl is imported as a dead one's.
            ready = self.path
        self.released[ready] = self.lines
        self.fd, self.path, self.lines = None, "", 0
        os.close(fd)
        if len(self.released) > 64:
            # The writer process imports them without telling this one.
            self.pending()

    def pending(self) -> int:
        """Records in this process's segments not imported yet."""
        for path in [p for p in self.released if not Path(p).exists()]:
            del self.released[path]
        return self.lines + sum(self.released.values())

    def discard(self) -> None:
        """Delete this process's segments, imported or not (tests)."""
        self.release()
        for path in self.released:
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()
        self.released.clear()

    def forget_after_fork(self) -> None:
        # A forked child shares the parent's descriptors and locks; it starts
        # its own segments and leaves the parent's alone.
        self.fd, self.path, self.lines, self.released = None, "", 0, {}


def importable_segments(directory: Path) -> Iterator[Segment]:
    """Locked descriptors of the segments no process writes to, oldest first:
    released ones (``.ready``) and those of dead processes (``.jnl``).

    The caller owns each yielded descriptor (and its lock) and must close it.
    """
    if not directory.is_dir():
        return
    paths = [*directory.glob(f"*{SUFFIX}"), *directory.glob(f"*{READY}")]
    for path in sorted(paths, key=_mtime):
        fd = lock_segment(str(path), wait=False)
        if fd is not None:
            yield fd, str(path)


def lock_segment(path: str, *, wait: bool) -> int | None:
    """A descriptor of ``path`` holding its lock, or None: gone, imported
    already, or (unless ``wait``) locked by its writer or another importer."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # its process is alive, or another importer has it
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:  # another importer finished it
        os.close(fd)
        return None
    return fd


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
