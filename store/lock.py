"""One bot per database: an OS lock on a file beside it, held for the life of the process.

`flock` rather than a pid file: the kernel drops the lock when the process ends however it
ends (kill -9, a crash, a power cut), so there is never a stale lock to clean up. The lock file
is left in place when the process ends: removing it would let a process that opened it just
before hold a lock on a file no one else sees.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DatabaseInUse(Exception):
    """Another process holds the lock; `pid` is the one it wrote, when it could be read."""

    def __init__(self, *, path: Path, pid: int | None) -> None:
        super().__init__(f"{path} is locked by process {pid or 'unknown'}")
        self.path = path
        self.pid = pid


class DatabaseLock:
    """Held from construction until release() or the end of the process.

    Raises DatabaseInUse if another process holds it, OSError if the lock file cannot be
    opened (its folder is missing, no permission)."""

    def __init__(self, *, db_path: str | Path) -> None:
        self.path = lock_path(db_path)
        # Not inherited by child processes (Python opens files non-inheritable), so a child
        # cannot keep the lock after the bot ends.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DatabaseInUse(path=self.path, pid=pid) from None
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for the message the next one prints; the lock is what counts.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


def _read_pid(fd: int) -> int | None:
    try:
        written = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(written) if written.isdigit() else None
